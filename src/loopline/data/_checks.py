"""Compile row-level checks into polars expressions that are true where a row *fails*.

Every mask is a boolean expression over whole columns, so all of a contract's row-level checks
are evaluated together in one ``select``. Nulls never fail a value check (range, length, pattern,
allowed values, multiple-of, rules): whether a value may be missing is the business of
``required`` and of the ``nullValues``/``missingValues`` metrics.

Uniqueness keeps the first occurrence: the first row with a value (or, for a compound key, a
combination of values) passes and every later repetition fails, so that quarantining the
failures leaves one copy of each. Null values never count as duplicates of one another in a
single column; in a compound key, rows are compared whole, nulls included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from loopline.data._check_model import Check, LogicalType
from loopline.data._check_rules import compile_rule
from loopline.expressions import parse

__all__ = ["failing_mask", "repeats", "temporal_value"]

#: Up to this many allowed strings are checked with equality comparisons rather than hashing.
_EQUALITY_LIMIT = 16
_MaskBuilder = Callable[[Check, Mapping[str, pl.DataType]], pl.Expr]


def failing_mask(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """A boolean expression, true on each row that fails ``check``, named after the check.

    Args:
        check: A check whose ``has_row_mask`` is true.
        schema: The dtypes of the frame the expression will run on.

    Raises:
        ValueError: The check has no row mask (a programming error).
    """
    builder = _BUILDERS.get(check.kind)
    if builder is None:
        raise ValueError(f"check {check.name!r} of kind {check.kind!r} has no row mask")
    return builder(check, schema).alias(check.name)


def temporal_value(logical_type: LogicalType, text: str) -> dt.date | dt.datetime | dt.time:
    """An ISO-8601 bound of a ``date``, ``timestamp`` or ``time`` column as a Python value.

    Raises:
        ValueError: ``text`` is not an ISO-8601 value of that kind.
    """
    if logical_type == "date":
        return dt.date.fromisoformat(text)
    if logical_type == "time":
        return dt.time.fromisoformat(text)
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _column(check: Check) -> pl.Expr:
    return pl.col(check.columns[0])


def _text(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    name = check.columns[0]
    column = pl.col(name)
    return column if isinstance(schema.get(name), pl.String) else column.cast(pl.String)


def _is_null(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    return _column(check).is_null()


def _missing(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    values = [value for value in check.params.get("values", []) if value is not None]
    column = _text(check, schema) if _is_text(check, schema) else _column(check)
    if not values:
        return column.is_null()
    return column.is_null() | column.is_in(values).fill_null(False)


def _duplicate(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    if len(check.columns) > 1:
        return pl.struct(list(check.columns)).is_first_distinct().not_()
    column = _column(check)
    dtype = schema.get(check.columns[0])
    if dtype is not None and dtype.is_integer():
        return column.map_batches(repeats, return_dtype=pl.Boolean())
    return column.is_not_null() & column.is_first_distinct().not_()


def repeats(values: pl.Series) -> pl.Series:
    """True on each non-null value that already occurred earlier in ``values``.

    Integer keys without nulls whose range is at most four times their count (ids, mostly)
    take a counting path: ``bincount`` finds the repeated values in linear time and only their
    rows are ranked, several times faster than hashing every value. Other columns use
    ``is_first_distinct``.
    """
    count = values.len()
    if count and values.null_count() == 0 and values.dtype.is_integer():
        low, high = int(values.min()), int(values.max())  # type: ignore[arg-type]
        if high - low < 4 * count:
            data = values.to_numpy()
            offsets = (data - data.dtype.type(low)).astype(np.int64, copy=False)
            repeated = np.flatnonzero(np.bincount(offsets, minlength=high - low + 1)[offsets] > 1)
            failing = np.zeros(count, dtype=bool)
            if repeated.size:
                _, first = np.unique(data[repeated], return_index=True)
                failing[repeated] = True
                failing[repeated[first]] = False
            return pl.Series(values.name, failing)
    return values.is_not_null() & values.is_first_distinct().not_()


def _range(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    name = check.columns[0]
    dtype = schema[name]
    column = pl.col(name)
    failures: list[pl.Expr] = []
    for key, fails in (
        ("minimum", column.lt),
        ("maximum", column.gt),
        ("exclusiveMinimum", column.le),
        ("exclusiveMaximum", column.ge),
    ):
        if key in check.params:
            failures.append(fails(_literal(check.params[key], dtype)))
    return pl.any_horizontal(failures).fill_null(False)


def _literal(value: Any, dtype: pl.DataType) -> pl.Expr:
    if isinstance(value, str) and dtype.is_temporal():
        kind: LogicalType = (
            "date"
            if isinstance(dtype, pl.Date)
            else "time"
            if isinstance(dtype, pl.Time)
            else "timestamp"
        )
        return pl.lit(temporal_value(kind, value), dtype=dtype)
    return pl.lit(value)


def _length(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    length = _text(check, schema).str.len_chars()
    failures: list[pl.Expr] = []
    if "minLength" in check.params:
        failures.append(length < check.params["minLength"])
    if "maxLength" in check.params:
        failures.append(length > check.params["maxLength"])
    return pl.any_horizontal(failures).fill_null(False)


def _pattern(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    return _text(check, schema).str.contains(check.params["pattern"]).not_().fill_null(False)


def _multiple_of(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    step = check.params["multipleOf"]
    column = _column(check)
    dtype = schema[check.columns[0]]
    if dtype.is_integer() and isinstance(step, int):
        return (column % step != 0).fill_null(False)
    ratio = column.cast(pl.Float64) / float(step)
    return ((ratio - ratio.round(0)).abs() > 1e-9).fill_null(False)


def _allowed(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    values = list(check.params["values"])
    if isinstance(schema.get(check.columns[0]), pl.String) and len(values) <= _EQUALITY_LIMIT:
        # Hashing every string (is_in) is several times slower than a few vectorised equality
        # comparisons when the set is small.
        column = _column(check)
        allowed = pl.any_horizontal([column == value for value in values])
    else:
        column = _text(check, schema) if _is_text(check, schema) else _column(check)
        allowed = column.is_in(values)
    return allowed.not_().fill_null(False)


def _rule(check: Check, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    return compile_rule(parse(check.params["rule"])).fill_null(True).not_()


def _is_text(check: Check, schema: Mapping[str, pl.DataType]) -> bool:
    return isinstance(schema.get(check.columns[0]), pl.String | pl.Categorical | pl.Enum)


_BUILDERS: dict[str, _MaskBuilder] = {
    "not_null": _is_null,
    "null_values": _is_null,
    "missing_values": _missing,
    "unique": _duplicate,
    "duplicates": _duplicate,
    "range": _range,
    "length": _length,
    "pattern": _pattern,
    "multiple_of": _multiple_of,
    "allowed_values": _allowed,
    "rule": _rule,
}
