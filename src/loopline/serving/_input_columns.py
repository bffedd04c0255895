"""The columns of a request's rows, one per input field: each value checked against the field's
logical type, converted to the frame's column, and every problem recorded with its row.

:mod:`loopline.serving._inputs` splits the rows into these columns and turns the problems into
one error; here is what each logical type accepts and how its problems are worded.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from loopline.errors import Problem
from loopline.training._signature import InputField

__all__ = ["BUILDERS", "Column", "kind"]

#: Offending values longer than this are cut in error messages.
_MAX_VALUE_CHARS = 60
_INT64_LIMIT = 2.0**63

_NONE = type(None)
# numpy scalars come from Python callers passing frame rows; JSON parsers give plain Python values
_INT_TYPES: frozenset[type] = frozenset({int, np.int64, np.int32, _NONE})
_NUMBER_TYPES: frozenset[type] = _INT_TYPES | {float, np.float64, np.float32}
_BOOL_TYPES: frozenset[type] = frozenset({bool, np.bool_, _NONE})
_STR_TYPES: frozenset[type] = frozenset({str, _NONE})

_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "date": "an ISO-8601 date (YYYY-MM-DD)",
    "timestamp": "an ISO-8601 date-time",
    "time": "an ISO-8601 time (HH:MM[:SS])",
}


class Column:
    """One field's values across all rows, and what was found wrong or unusual in them."""

    __slots__ = ("field", "floats", "index", "out_of_range", "problems", "values")

    def __init__(self, field: InputField, index: int, values: list[Any]) -> None:
        self.field = field
        self.index = index
        self.values = values
        self.problems: list[tuple[int, int, Problem]] = []
        #: Numeric columns only: the values as floats, NaN where null, for the range check.
        self.floats: npt.NDArray[np.float64] | None = None
        self.out_of_range: npt.NDArray[np.bool_] | None = None

    def problem(self, row: int, code: str, msg: str, value: Any = None) -> None:
        loc = ("records", row, self.field.name)
        self.problems.append((row, self.index, Problem(loc=loc, code=code, msg=msg, value=value)))

    def wrong(self, row: int, value: Any, note: str = "") -> None:
        self.problem(row, "wrong-type", _wrong(self.field, value) + note, _shown(value))

    def missing(self, rows: Iterable[Any]) -> None:
        msg = f"{self.field.name} is required and was missing or null"
        for row in rows:
            self.problem(int(row), "missing-field", msg)

    def flag(self, mask: npt.NDArray[np.bool_]) -> None:
        self.out_of_range = mask if self.out_of_range is None else self.out_of_range | mask


# --- one builder per logical type: check the values, return the frame's column -----------------


def _build_integer(column: Column) -> Any:
    values = column.values
    types = set(map(type, values))
    if types <= _INT_TYPES and _NONE not in types:  # the common case: whole numbers, no nulls
        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError:
            pass
        else:
            column.floats = array.astype(np.float64)
            _flag_allowed(column, values)
            return array
    floats = _numbers(column, types)
    finite = np.isfinite(floats)
    huge = finite & (np.abs(floats) >= _INT64_LIMIT)
    fraction = finite & (np.mod(floats, 1.0) != 0)
    refused = fraction | huge
    for row in np.flatnonzero(refused):
        note = " (beyond the 64-bit integer range)" if huge[row] else ""
        column.wrong(int(row), values[row], note)
    column.floats = floats
    _flag_allowed(column, values)
    if refused.any() or not finite.all():
        return floats  # nulls make an integer column float64, as polars' to_pandas does
    return floats.astype(np.int64)


def _build_number(column: Column) -> Any:
    floats = _numbers(column, set(map(type, column.values)))
    column.floats = floats
    _flag_allowed(column, column.values)
    return floats


def _numbers(column: Column, types: set[type]) -> npt.NDArray[np.float64]:
    """The values as floats, NaN where null; wrong types, nulls and infinities are reported."""
    field = column.field
    values = column.values
    count = len(values)
    wrong = np.zeros(count, dtype=bool)
    if not types <= _NUMBER_TYPES:
        values = list(values)
        for row, value in enumerate(values):
            if value is not None and type(value) not in _NUMBER_TYPES:
                column.wrong(row, value)
                values[row] = None
                wrong[row] = True
    try:
        floats = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond the range of a float
        floats = np.array([_to_float(value) for value in values], dtype=np.float64)
        for huge in np.flatnonzero(np.isinf(floats)):
            if isinstance(values[huge], int):
                column.wrong(int(huge), values[huge], " (beyond the range of a 64-bit float)")
                wrong[huge] = True
    finite = np.isfinite(floats)
    if finite.all():
        return floats
    if _NONE in types:
        nulls = np.fromiter((value is None for value in column.values), dtype=bool, count=count)
    else:
        nulls = np.zeros(count, dtype=bool)
    not_finite = ~finite & ~nulls & ~wrong
    # NaN is pandas' "missing": allowed where null is; infinity never is
    refused = not_finite if field.required else not_finite & ~np.isnan(floats)
    for bad in np.flatnonzero(refused):
        name = _non_finite_name(float(floats[bad]))
        column.problem(
            int(bad), "not-finite", f"{field.name} must be a finite number; got {name}", name
        )
    floats[~finite] = np.nan
    if field.required:
        column.missing(np.flatnonzero(nulls))
    return floats


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _build_boolean(column: Column) -> Any:
    values = column.values
    types = set(map(type, values))
    if types <= _BOOL_TYPES and _NONE not in types:
        _flag_allowed(column, values)
        return np.array(values, dtype=bool)
    values = _check_types(column, types, _BOOL_TYPES)
    _flag_allowed(column, values)
    return np.array(values, dtype=object)  # nulls make a boolean column object, as in training


def _build_string(column: Column) -> Any:
    values = column.values
    types = set(map(type, values))
    if types != {str}:
        values = _check_types(column, types, _STR_TYPES)
    _flag_allowed(column, values)
    # pandas' constructor turns an object array of strings into its default string dtype
    return np.array(values, dtype=object)


def _build_temporal(column: Column, parse: Callable[[str], Any], dtype: str) -> Any:
    values = _check_types(column, set(map(type, column.values)), _STR_TYPES)
    parsed: list[Any] = []
    for row, value in enumerate(values):
        if value is None:
            parsed.append(None)
            continue
        try:
            parsed.append(parse(value))
        except ValueError:
            column.wrong(row, value)
            parsed.append(None)
    return np.array(parsed, dtype=dtype)


def _check_types(column: Column, types: set[type], accepted: frozenset[type]) -> list[Any]:
    """Report wrong types and required nulls; wrong values become None in the returned copy."""
    values = column.values
    if not types <= accepted:
        values = list(values)
        for row, value in enumerate(values):
            if value is not None and type(value) not in accepted:
                column.wrong(row, value)
                values[row] = None
    if column.field.required and _NONE in types:
        column.missing(row for row, value in enumerate(column.values) if value is None)
    return values


def _flag_allowed(column: Column, values: list[Any]) -> None:
    """Mark values outside the field's set of allowed values (``1 == 1.0`` in a set)."""
    allowed = column.field.allowed
    if allowed is None:
        return
    accepted = set(allowed)
    # value == value is false for NaN, which is a null here
    outside = [v is not None and v == v and v not in accepted for v in values]
    if any(outside):
        column.flag(np.array(outside, dtype=bool))


def _parse_date(text: str) -> dt.date:
    if len(text) != 10:  # fromisoformat also takes 20240531 and week dates; dates are YYYY-MM-DD
        raise ValueError(text)
    return dt.date.fromisoformat(text)


def _parse_timestamp(text: str) -> dt.datetime:
    if len(text) < 10:
        raise ValueError(text)
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not accept the Z suffix
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


BUILDERS: dict[str, Callable[[Column], Any]] = {
    "integer": _build_integer,
    "number": _build_number,
    "string": _build_string,
    "boolean": _build_boolean,
    "date": lambda column: _build_temporal(column, _parse_date, "datetime64[ms]"),
    "timestamp": lambda column: _build_temporal(column, _parse_timestamp, "datetime64[us]"),
    "time": lambda column: _build_temporal(column, dt.time.fromisoformat, "object"),
}


# --- messages ----------------------------------------------------------------------------------


def _wrong(field: InputField, value: Any) -> str:
    expected = _TYPE_NAMES.get(field.logical_type, field.logical_type)
    return f"{field.name} must be {expected}; got {kind(value)}"


def kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return f"the boolean {str(bool(value)).lower()}"
    if isinstance(value, str):
        return f"the string {_shown(value)!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def _shown(value: Any) -> Any:
    """The value as a problem carries it: short, JSON-safe."""
    if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
        return value[:_MAX_VALUE_CHARS] + "..."
    if isinstance(value, list | dict):
        return kind(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        return str(value)[:_MAX_VALUE_CHARS]
    return value


def _non_finite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
