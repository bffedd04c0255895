"""Read an ODCS v3.1.0 contract document into a :class:`~loopline.data.Contract`.

The document is first validated against the vendored ODCS JSON Schema, then read for meaning
(unknown severities, bad regular expressions, rules naming unknown columns ...). Every problem
from both passes is reported at once, each with its key path and line.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from loopline.data._check_model import LOGICAL_TYPES, Check, LogicalType
from loopline.data._checks import temporal_value
from loopline.data._contract import Column, Contract
from loopline.data._contract_quality import parse_quality
from loopline.data._contract_reader import Loc, Reader, suggest
from loopline.data._odcs_schema import schema_problems
from loopline.errors import ContractError, Problem
from loopline.spec import read_yaml

__all__ = ["CONTRACT_SETTINGS", "load_contract", "parse_contract"]

#: Contract-level settings read from top-level ``customProperties``.
CONTRACT_SETTINGS = ("allowExtraColumns", "maxBadRowFraction")
_TOP_KEYS = {"apiVersion", "kind", "id", "version", "status", "name", "schema", "customProperties"}
_TABLE_KEYS = {"name", "properties", "quality"}
_PROPERTY_KEYS = {
    "name",
    "logicalType",
    "required",
    "unique",
    "primaryKey",
    "logicalTypeOptions",
    "customProperties",
    "description",
    "quality",
}
_RANGE_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Read and validate the ODCS contract file at ``path``.

    Raises:
        ContractError: The file cannot be read or the contract is invalid; ``problems`` lists
            every mistake with its key path and line.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(
            f"Cannot read the contract {file}: {exc}.",
            hint="Check the path (relative paths start at the project folder) and that the "
            "file is UTF-8 text.",
            source=str(file),
        ) from exc
    return _parse_cached(text, str(file))


@functools.lru_cache(maxsize=32)
def _parse_cached(text: str, source: str) -> Contract:
    # Contracts are immutable, and validating against the ODCS schema costs ~60 ms: a process
    # that loads the same file twice (ingest, then train) parses it once.
    return parse_contract(text, source=source)


def parse_contract(text: str, *, source: str = "<contract>") -> Contract:
    """Parse and validate an ODCS v3.1.0 contract document.

    Args:
        text: The YAML document.
        source: Where it came from, for messages.

    Raises:
        ContractError: The contract is invalid; ``problems`` lists every mistake at once.
    """
    located = read_yaml(text)
    problems = list(located.problems)
    if not isinstance(located.data, dict):
        if not problems:
            found = "an empty file" if located.data is None else f"a {type(located.data).__name__}"
            msg = f"a contract must be an ODCS mapping, found {found}"
            problems.append(Problem(loc=(), code="not-a-mapping", msg=msg, line=1))
        raise _error(problems, source)
    problems += schema_problems(located)
    reader = Reader(located)
    contract = _Builder(reader).contract(located.data)
    problems += reader.problems
    if problems or contract is None:
        raise _error(problems, source)
    return contract


def _error(problems: list[Problem], source: str) -> ContractError:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return ContractError(
        f"{source}: the data contract has {count} {noun}.",
        hint="Fix each line listed; contracts follow ODCS v3.1.0 "
        "(https://bitol-io.github.io/open-data-contract-standard/).",
        problems=sorted(problems, key=lambda p: (p.line or 0, p.path)),
        source=source,
    )


class _Builder:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def contract(self, data: Mapping[str, Any]) -> Contract | None:
        reader = self.reader
        name = reader.text(data, "name")
        if name is None and "name" not in data:
            reader.add(("name",), "missing-key", "the contract needs a `name`")
        objects = reader.items(data.get("schema"))
        if len(objects) != 1:
            msg = (
                "a loopline contract describes one table: `schema` must hold exactly one "
                f"object, found {len(objects)}"
            )
            reader.add(("schema",), "invalid-value", msg)
        table = reader.mapping(objects[0]) if objects else {}
        columns = self._columns(table)
        checks = self._quality(table, columns)
        settings = self._settings(data.get("customProperties"))
        if reader.problems or name is None:
            return None
        metadata = {key: value for key, value in data.items() if key not in _TOP_KEYS}
        if settings.extra:
            metadata["customProperties"] = settings.extra
        return Contract(
            name=name,
            version=str(data.get("version", "")),
            columns=tuple(columns.values()),
            quality=tuple(checks),
            id=reader.text(data, "id"),
            status=str(data.get("status", "active")),
            table=reader.text(table, "name"),
            max_bad_row_fraction=settings.max_bad_row_fraction,
            allow_extra_columns=settings.allow_extra_columns,
            metadata=metadata,
            table_metadata={k: v for k, v in table.items() if k not in _TABLE_KEYS},
        )

    def _columns(self, table: Mapping[str, Any]) -> dict[str, Column]:
        columns: dict[str, Column] = {}
        properties = self.reader.items(table.get("properties"))
        if not properties:
            msg = "the schema object needs `properties`: one entry per column"
            self.reader.add(("schema", 0), "missing-key", msg)
        for index, prop in enumerate(properties):
            loc: Loc = ("schema", 0, "properties", index)
            column = self._column(self.reader.mapping(prop), loc)
            if column is None:
                continue
            if column.name in columns:
                msg = f"column {column.name!r} is declared twice"
                self.reader.add((*loc, "name"), "duplicate-column", msg, column.name)
                continue
            columns[column.name] = column
        return columns

    def _column(self, prop: Mapping[str, Any], loc: Loc) -> Column | None:
        reader = self.reader
        name = reader.text(prop, "name")
        logical = prop.get("logicalType")
        if logical is None:
            msg = "add a logicalType (string, integer, number, boolean, date, timestamp, time)"
            reader.add((*loc, "logicalType"), "missing-key", msg)
        elif logical in ("object", "array"):
            msg = f"loopline cannot check {logical} columns yet; use a string column"
            reader.add((*loc, "logicalType"), "unsupported-type", msg, logical)
        if name is None or logical not in LOGICAL_TYPES:
            return None
        logical_type: LogicalType = logical
        options = reader.mapping(prop.get("logicalTypeOptions"))
        self._options(logical_type, options, (*loc, "logicalTypeOptions"))
        severity, extra = self._column_settings(prop.get("customProperties"), loc)
        metadata = {key: value for key, value in prop.items() if key not in _PROPERTY_KEYS}
        if extra:
            metadata["customProperties"] = extra
        return Column(
            name=name,
            logical_type=logical_type,
            required=reader.flag(prop, "required"),
            unique=reader.flag(prop, "unique"),
            primary_key=reader.flag(prop, "primaryKey"),
            options=dict(options),
            severity=severity,
            description=reader.text(prop, "description"),
            metadata=metadata,
        )

    def _options(self, logical: LogicalType, options: Mapping[str, Any], loc: Loc) -> None:
        reader = self.reader
        if logical == "boolean" and options:
            reader.add(loc, "invalid-value", "boolean columns take no logicalTypeOptions")
        if logical in ("date", "timestamp", "time"):
            for key in _RANGE_KEYS:
                value = options.get(key)
                if value is None:
                    continue
                try:
                    temporal_value(logical, str(value))
                except ValueError:
                    msg = (
                        f"{key} must be an ISO-8601 {logical} in quotes, e.g. {_EXAMPLES[logical]}"
                    )
                    reader.add((*loc, key), "invalid-value", msg, value)
        for low, high in (("minimum", "maximum"), ("minLength", "maxLength")):
            if _numbers(options.get(low), options.get(high)) and options[low] > options[high]:
                msg = f"{low} ({options[low]}) is greater than {high} ({options[high]})"
                reader.add((*loc, low), "invalid-value", msg)
        pattern = options.get("pattern")
        if isinstance(pattern, str):
            try:
                pl.Series([""]).str.contains(pattern)
            except pl.exceptions.PolarsError as exc:
                msg = f"invalid regular expression {pattern!r}: {_regex_reason(exc)}"
                reader.add((*loc, "pattern"), "invalid-pattern", msg, pattern)

    def _column_settings(self, items: Any, loc: Loc) -> tuple[Any, list[Any]]:
        severity: Any = "error"
        extra: list[Any] = []
        for index, item in enumerate(self.reader.items(items)):
            entry = self.reader.mapping(item)
            key = entry.get("property")
            where: Loc = (*loc, "customProperties", index)
            if key == "severity":
                severity = self.reader.severity(entry.get("value"), (*where, "value"))
            elif isinstance(key, str) and suggest(key, ["severity"]):
                msg = f"unknown custom property {key!r}{suggest(key, ['severity'])}"
                self.reader.add((*where, "property"), "unknown-key", msg, key)
            else:
                extra.append(item)
        return severity, extra

    def _quality(self, table: Mapping[str, Any], columns: dict[str, Column]) -> list[Check]:
        reader = self.reader
        taken = {check.name for column in columns.values() for check in column.derived_checks()}
        checks: list[Check] = []
        places: list[tuple[Loc, Column | None, Any]] = []
        for index, prop in enumerate(reader.items(table.get("properties"))):
            name = reader.mapping(prop).get("name")
            column = columns.get(name) if isinstance(name, str) else None
            if column is None:
                continue  # the property itself is broken, and already reported
            for position, item in enumerate(reader.items(reader.mapping(prop).get("quality"))):
                places.append(
                    (("schema", 0, "properties", index, "quality", position), column, item)
                )
        for position, item in enumerate(reader.items(table.get("quality"))):
            places.append((("schema", 0, "quality", position), None, item))
        for loc, column, item in places:
            check = parse_quality(reader, item, loc, column=column, columns=columns)
            if check is None:
                continue
            if check.name in taken:
                msg = f"another check is already named {check.name!r}; give this one a `name`"
                reader.add(loc, "duplicate-check", msg, check.name)
                continue
            taken.add(check.name)
            checks.append(check)
        return checks

    def _settings(self, items: Any) -> _Settings:
        settings = _Settings()
        for index, item in enumerate(self.reader.items(items)):
            entry = self.reader.mapping(item)
            key, value = entry.get("property"), entry.get("value")
            where: Loc = ("customProperties", index)
            if key == "maxBadRowFraction":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not 0 <= value <= 1
                ):
                    msg = "maxBadRowFraction must be a number from 0 to 1, e.g. 0.1 for 10%"
                    self.reader.add((*where, "value"), "invalid-value", msg, value)
                else:
                    settings.max_bad_row_fraction = float(value)
            elif key == "allowExtraColumns":
                if not isinstance(value, bool):
                    msg = "allowExtraColumns must be true or false"
                    self.reader.add((*where, "value"), "invalid-value", msg, value)
                else:
                    settings.allow_extra_columns = value
            elif isinstance(key, str) and suggest(key, CONTRACT_SETTINGS):
                msg = f"unknown custom property {key!r}{suggest(key, CONTRACT_SETTINGS)}"
                self.reader.add((*where, "property"), "unknown-key", msg, key)
            else:
                settings.extra.append(item)
        return settings


class _Settings:
    def __init__(self) -> None:
        self.max_bad_row_fraction: float | None = None
        self.allow_extra_columns = True
        self.extra: list[Any] = []


_EXAMPLES = {"date": "'2024-01-31'", "timestamp": "'2024-01-31T12:00:00Z'", "time": "'12:30:00'"}


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _regex_reason(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    return lines[0] if lines else "it does not compile"
