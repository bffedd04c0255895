"""Turn ODCS ``quality`` items into checks.

ODCS library metrics map onto checks directly (``invalidValues`` with ``validValues`` is an
allowed set, ``duplicateValues`` over ``properties`` a compound key, ``rowCount`` a row-count
bound). What ODCS has no field for is a ``type: custom, engine: loopline`` item whose
``implementation`` holds exactly one of::

    {rule: "PAY_AMT1 >= 0 or BILL_AMT1 < 0"}                 # cross-column rule
    {freshness: {column: updated_at, max_age: 24h}}           # newest value at most 24h old
    {distribution: {column: AGE, max_psi: 0.2}}               # PSI against a reference profile
    {distribution: {column: AGE, max_mean_shift_sd: 0.5}}     # mean shift, in reference SDs

``duplicateValues`` at schema level also takes ``arguments: {exceptProperties: [ID]}``: every
column but those (a loopline extension of the free-form ``arguments``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from loopline.data._check_model import OPERATORS, ROW_KINDS, Bound, Check, CheckKind, default_name
from loopline.data._check_rules import compile_rule, rule_columns
from loopline.data._check_schema import DTYPE_OF
from loopline.data._contract import Column
from loopline.data._contract_reader import Loc, Reader, parse_duration, suggest
from loopline.errors import ExpressionError
from loopline.expressions import parse

__all__ = ["parse_quality"]

_METRICS: dict[str, CheckKind] = {
    "nullValues": "null_values",
    "missingValues": "missing_values",
    "invalidValues": "allowed_values",
    "duplicateValues": "duplicates",
    "rowCount": "row_count",
}
_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "nullValues": (),
    "missingValues": ("missingValues",),
    "invalidValues": ("validValues",),
    "duplicateValues": ("properties", "exceptProperties"),
    "rowCount": (),
}
_IMPLEMENTATIONS = ("rule", "freshness", "distribution")
_DISTRIBUTION_BOUNDS = ("max_psi", "max_mean_shift_sd")
_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def parse_quality(
    reader: Reader,
    item: Any,
    loc: Loc,
    *,
    column: Column | None,
    columns: Mapping[str, Column],
) -> Check | None:
    """The check a quality item declares, or ``None`` (problems go to ``reader``).

    Args:
        reader: Collects problems.
        item: The raw quality item.
        loc: Its key path.
        column: The property it sits on, or ``None`` at schema-object level.
        columns: Every column of the contract, by name.
    """
    if not isinstance(item, dict):
        return None
    kind_of_item = item.get("type", "library")
    if kind_of_item == "text":
        return None  # documentation only: nothing to run
    severity = reader.severity(item.get("severity", "error"), (*loc, "severity"))
    unit = item.get("unit", "rows")
    if unit not in ("rows", "percent"):
        reader.add((*loc, "unit"), "invalid-value", f"unit must be rows or percent, not {unit!r}")
        unit = "rows"
    operators = [key for key in OPERATORS if key in item]
    bound = Bound(operator=operators[0], value=item[operators[0]], unit=unit) if operators else None
    if "metric" in item or kind_of_item == "library":
        parsed = _library(reader, item, loc, column, columns)
    elif kind_of_item == "custom":
        parsed = _custom(reader, item, loc, column, columns)
    else:
        reader.add(
            (*loc, "type"),
            "unsupported-check",
            f"loopline cannot run quality checks of type {kind_of_item!r}; use a library metric "
            "or a `type: custom, engine: loopline` item",
        )
        return None
    if parsed is None:
        return None
    kind, names, params = parsed
    if bound is not None and bound.zero_only and kind in ROW_KINDS:
        bound = None  # "no row may fail" is what a row-level check means without a bound
    name = item.get("name") if isinstance(item.get("name"), str) else None
    description = item.get("description") if isinstance(item.get("description"), str) else None
    return Check(
        name=name or default_name(kind, names, params),
        kind=kind,
        columns=names,
        severity=severity,
        params=params,
        bound=bound,
        description=description,
    )


_Parsed = tuple[CheckKind, tuple[str, ...], dict[str, Any]] | None


def _library(
    reader: Reader,
    item: dict[str, Any],
    loc: Loc,
    column: Column | None,
    columns: Mapping[str, Column],
) -> _Parsed:
    metric = item.get("metric")
    if metric not in _METRICS:
        return None  # the schema reported an unknown or missing metric
    kind = _METRICS[metric]
    arguments = reader.mapping(item.get("arguments"))
    reader.unknown_keys(arguments, _ARGUMENTS[metric], (*loc, "arguments"))
    table_level = metric in ("rowCount",) or (metric == "duplicateValues" and column is None)
    if column is None and not table_level:
        msg = f"the {metric} metric checks one column: move it under that property's quality"
        reader.add((*loc, "metric"), "misplaced-check", msg, metric)
        return None
    if column is not None and metric == "rowCount":
        msg = "rowCount counts the table's rows: move it to the schema object's quality"
        reader.add((*loc, "metric"), "misplaced-check", msg, metric)
        return None
    if kind == "row_count":
        return kind, (), {}
    if kind == "duplicates" and column is None:
        return _compound_key(reader, arguments, (*loc, "arguments"), columns)
    if column is None:  # unreachable: table-level metrics returned above
        return None
    params: dict[str, Any] = {}
    if kind == "allowed_values":
        values = arguments.get("validValues")
        if not isinstance(values, list) or not values:
            msg = "invalidValues needs arguments.validValues: the list of allowed values"
            reader.add((*loc, "arguments"), "missing-key", msg)
            return None
        _check_value_types(reader, values, column, (*loc, "arguments", "validValues"))
        params["values"] = values
    if kind == "missing_values":
        values = arguments.get("missingValues", [None])
        params["values"] = values if isinstance(values, list) else [None]
    return kind, (column.name,), params


def _compound_key(
    reader: Reader, arguments: Mapping[str, Any], loc: Loc, columns: Mapping[str, Column]
) -> _Parsed:
    listed = [key for key in ("properties", "exceptProperties") if key in arguments]
    if len(listed) != 1:
        msg = "duplicateValues on the table needs arguments.properties or .exceptProperties"
        reader.add(loc, "missing-key" if not listed else "invalid-value", msg)
        return None
    key = listed[0]
    names = arguments[key]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        reader.add((*loc, key), "invalid-value", f"{key} must be a list of column names")
        return None
    unknown = [name for name in names if name not in columns]
    for name in unknown:
        hint = suggest(name, columns)
        reader.add((*loc, key), "unknown-column", f"unknown column {name!r}{hint}", name)
    if unknown:
        return None
    chosen = names if key == "properties" else [n for n in columns if n not in names]
    return "duplicates", tuple(chosen), {key: list(names)}


def _check_value_types(reader: Reader, values: list[Any], column: Column, loc: Loc) -> None:
    expected = _VALUE_TYPES.get(column.logical_type)
    for index, value in enumerate(values):
        wrong = expected is None or not isinstance(value, expected)
        if expected is not None and bool not in expected and isinstance(value, bool):
            wrong = True
        if wrong:
            quote = " (quote it)" if column.logical_type == "string" else ""
            reader.add(
                (*loc, index),
                "wrong-type",
                f"{value!r} is not a {column.logical_type} value for column {column.name!r}{quote}",
                value,
            )


def _custom(
    reader: Reader,
    item: dict[str, Any],
    loc: Loc,
    column: Column | None,
    columns: Mapping[str, Column],
) -> _Parsed:
    engine = item.get("engine")
    if engine != "loopline":
        reader.add(
            (*loc, "engine"),
            "unsupported-check",
            f"loopline runs only `engine: loopline` custom checks, not {engine!r}",
            engine,
        )
        return None
    implementation = item.get("implementation")
    where = (*loc, "implementation")
    if not isinstance(implementation, dict) or len(implementation) != 1:
        msg = f"implementation must be a mapping with one of {', '.join(_IMPLEMENTATIONS)}"
        reader.add(where, "invalid-value", msg)
        if isinstance(implementation, dict):
            reader.unknown_keys(implementation, _IMPLEMENTATIONS, where)
        return None
    ((key, value),) = implementation.items()
    if key == "rule":
        return _rule(reader, value, (*where, "rule"), columns)
    if key in ("freshness", "distribution"):
        return _column_metric(reader, key, value, (*where, key), column, columns)
    reader.unknown_keys(implementation, _IMPLEMENTATIONS, where)
    return None


def _rule(reader: Reader, text: Any, loc: Loc, columns: Mapping[str, Column]) -> _Parsed:
    if not isinstance(text, str):
        reader.add(loc, "wrong-type", "a rule must be an expression in quotes")
        return None
    try:
        node = parse(text)
        names = rule_columns(node)
        expression = compile_rule(node)
    except ExpressionError as exc:
        reader.add(loc, "rule-invalid", exc.message.splitlines()[0], text)
        return None
    unknown = [name for name in names if name not in columns]
    for name in unknown:
        reader.add(
            loc,
            "unknown-column",
            f"the rule names unknown column {name!r}{suggest(name, columns)}",
            name,
        )
    if unknown:
        return None
    empty = pl.DataFrame(schema={n: DTYPE_OF[columns[n].logical_type] for n in names})
    try:
        empty.select(expression)
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).splitlines()[0]
        reader.add(loc, "rule-invalid", f"the rule does not fit the column types: {reason}", text)
        return None
    return "rule", names, {"rule": text}


def _column_metric(
    reader: Reader,
    key: str,
    value: Any,
    loc: Loc,
    column: Column | None,
    columns: Mapping[str, Column],
) -> _Parsed:
    if not isinstance(value, dict):
        reader.add(loc, "wrong-type", f"{key} must be a mapping, e.g. {{column: x, ...}}")
        return None
    bounds = ("max_age",) if key == "freshness" else _DISTRIBUTION_BOUNDS
    reader.unknown_keys(value, ("column", *bounds), loc)
    name = value.get("column", column.name if column is not None else None)
    if not isinstance(name, str) or name not in columns:
        msg = f"{key} needs a known column, got {name!r}{suggest(str(name), columns)}"
        reader.add((*loc, "column"), "unknown-column", msg, name)
        return None
    logical = columns[name].logical_type
    if key == "freshness":
        if logical not in ("timestamp", "date"):
            msg = f"freshness needs a timestamp or date column; {name!r} is {logical}"
            reader.add((*loc, "column"), "wrong-type", msg, name)
            return None
        if parse_duration(value.get("max_age")) is None:
            msg = "max_age must be a duration such as 90s, 30m, 24h, 7d or 2w"
            reader.add((*loc, "max_age"), "invalid-value", msg, value.get("max_age"))
            return None
        return "freshness", (name,), {"column": name, "max_age": value["max_age"]}
    present = [bound for bound in _DISTRIBUTION_BOUNDS if bound in value]
    if len(present) != 1:
        reader.add(
            loc, "missing-key", f"distribution needs one of {', '.join(_DISTRIBUTION_BOUNDS)}"
        )
        return None
    limit = value[present[0]]
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
        reader.add(
            (*loc, present[0]), "invalid-value", f"{present[0]} must be a number >= 0", limit
        )
        return None
    if present[0] == "max_mean_shift_sd" and logical not in ("integer", "number"):
        msg = f"a mean shift needs a numeric column; {name!r} is {logical}"
        reader.add((*loc, "column"), "wrong-type", msg, name)
        return None
    return "distribution", (name,), {"column": name, present[0]: limit}
