"""Validate the rows of a prediction request against a model's input signature.

Every protocol (loopline's own, MLflow's ``/invocations``, the Open Inference Protocol) parses its
body into a list of records and hands it to :func:`validate_records`, so a request is judged the
same way whichever door it came in by.

The rules, per field of the signature:

============  ==================================================  ===============================
logical type  accepted JSON values                                column of the returned frame
============  ==================================================  ===============================
integer       whole numbers (``3`` or ``3.0``), never booleans    ``int64``; ``float64`` if nulls
number        any number, never booleans or numeric strings       ``float64``
string        strings                                             pandas' default string dtype
boolean       ``true`` / ``false``                                ``bool``; ``object`` if nulls
date          ISO-8601 dates (``2024-05-31``)                     ``datetime64[ms]``
timestamp     ISO-8601 date-times; offsets are converted to UTC   ``datetime64[us]``
time          ISO-8601 times (``13:45:00``)                       ``object`` (``datetime.time``)
============  ==================================================  ===============================

The dtypes are the ones training saw: a polars frame converted with ``to_pandas``.

Missing values. A ``required`` field must be present and not null (``missing-field``). An
optional field may be absent or null. **NaN** (which Python's JSON parser and CSV readers accept)
is pandas' way of writing "missing": it counts as null in an optional numeric field and is
refused with ``not-finite`` in a required one. **Infinity** is never a missing marker and is
refused with ``not-finite`` in every numeric field.

Values outside the contract's expected range (``minimum``/``maximum``) or set (``allowed``) are
*not* errors: they are out-of-distribution signals for escalation, returned per row alongside
the frame.

Every problem in the request is collected before anything is raised, so a client fixes them all
in one round trip.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loopline.errors import Problem, ServingError
from loopline.training._signature import InputField, Signature

__all__ = ["MAX_PROBLEMS_SHOWN", "check_row_count", "validate_columns", "validate_records"]

#: At most this many problems are listed in one error; the message gives the total.
MAX_PROBLEMS_SHOWN = 100
#: Offending values longer than this are cut in error messages.
_MAX_VALUE_CHARS = 60
#: Names of expected fields listed in an ``unexpected-field`` message.
_MAX_NAMES_SHOWN = 12
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


class _Column:
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


def validate_records(
    records: list[dict[str, Any]], signature: Signature, *, max_rows: int
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Check a request's rows against ``signature`` and build the frame the model is fed.

    Args:
        records: One mapping of field name to JSON value per row, as the protocols parse them.
        signature: The model version's input signature.
        max_rows: The most rows one request may carry.

    Returns:
        The frame, with exactly the signature's columns in its order and the dtypes training
        used, and for each row the names of the fields whose values lie outside the contract's
        expected range or set of allowed values (empty when none do).

    Raises:
        ServingError: 400 when there are no rows; 413 when there are more than ``max_rows``;
            422 listing every missing, unexpected, mistyped or non-finite value (the first
            :data:`MAX_PROBLEMS_SHOWN` of them, with the total in the message).
        ValueError: ``max_rows`` is below 1 (a programming error).

    Example:
        >>> from loopline.training._signature import InputField, Signature
        >>> signature = Signature(
        ...     task="regression", target="y",
        ...     inputs=(InputField("age", "integer", True, False, minimum=18, maximum=99),))
        >>> frame, out_of_range = validate_records([{"age": 30}, {"age": 120}], signature,
        ...                                        max_rows=10)
        >>> frame["age"].tolist(), out_of_range
        ([30, 120], [[], ['age']])
    """
    arrays, out_of_range = validate_columns(records, signature, max_rows=max_rows)
    return pd.DataFrame(arrays), out_of_range


def validate_columns(
    records: list[dict[str, Any]], signature: Signature, *, max_rows: int
) -> tuple[dict[str, Any], list[list[str]]]:
    """:func:`validate_records`, returning the frame's columns instead of the frame.

    The serving path hands these to the micro-batcher, which builds one frame per batch:
    ``pd.DataFrame(columns)`` is exactly the frame :func:`validate_records` returns.
    """
    check_row_count(records, max_rows=max_rows)
    rows = len(records)
    problems: list[tuple[int, int, Problem]] = []
    names = signature.names
    values = _whole_columns(records, names)
    if values is None:  # some row is not an object, or lacks a field, or has one too many
        records = _check_shape(records, names, problems)
        values = _column_values(records, names)
    columns = [
        _Column(field, index, column)
        for index, (field, column) in enumerate(zip(signature.inputs, values, strict=True))
    ]
    # insertion order is the signature's order; passing columns= as well would cost a reindex
    arrays = {column.field.name: _BUILDERS[column.field.logical_type](column) for column in columns}
    not_objects = {row for row, index, _ in problems if index < 0}
    for column in columns:
        # a row that is not an object is reported once, not again for each required field
        problems.extend(item for item in column.problems if item[0] not in not_objects)
    if problems:
        raise _invalid(problems)
    _flag_ranges(columns)
    return arrays, _out_of_range(columns, rows)


def check_row_count(records: list[Any], *, max_rows: int) -> None:
    """The row-count rules of :func:`validate_records`: 400 without rows, 413 above ``max_rows``.

    Raises:
        ServingError: 400 or 413.
        ValueError: ``max_rows`` is below 1 (a programming error).
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1; got {max_rows}")
    rows = len(records)
    if rows == 0:
        raise ServingError(
            "The request has no rows to predict.",
            status=400,
            hint="Send at least one record with the model's input fields.",
        )
    if rows > max_rows:
        raise ServingError(
            f"The request has {rows:,} rows; at most {max_rows:,} are accepted in one request.",
            status=413,
            hint=f"Split the rows into requests of at most {max_rows:,}.",
        )


def _check_shape(
    records: list[dict[str, Any]], names: list[str], problems: list[tuple[int, int, Problem]]
) -> list[dict[str, Any]]:
    """Report rows that are not objects and fields the model does not know."""
    known = frozenset(names)
    position = len(names)  # unexpected fields sort after the known ones of their row
    shown = ", ".join(names[:_MAX_NAMES_SHOWN]) + (", ..." if len(names) > _MAX_NAMES_SHOWN else "")
    clean = records
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            if clean is records:
                clean = list(records)
            clean[row] = {}
            msg = f"each record must be an object of field names to values; got {_kind(record)}"
            problems.append((row, -1, Problem(("records", row), "wrong-type", msg)))
            continue
        if known.issuperset(record):
            continue
        for key in record:
            if key not in known:
                msg = f"{key!r} is not an input of this model; its inputs are {shown}"
                loc = ("records", row, str(key))
                problems.append((row, position, Problem(loc, "unexpected-field", msg)))
    return clean


def _whole_columns(records: list[Any], names: list[str]) -> list[list[Any]] | None:
    """Each field's values when every row is an object with exactly the model's fields (the
    common case, found without looking at each row's keys: a row with every field and no more
    keys than there are fields has no unexpected one); ``None`` otherwise."""
    if len(names) < 2 or set(map(type, records)) != {dict}:
        return None
    if set(map(len, records)) != {len(names)}:
        return None
    try:
        return [list(values) for values in zip(*map(itemgetter(*names), records), strict=True)]
    except KeyError:
        return None


def _column_values(records: list[dict[str, Any]], names: list[str]) -> list[list[Any]]:
    """Each field's values across the rows, None where a row lacks the field."""
    if len(names) > 1:
        try:  # C-level gets and transpose: twice as fast as a get per cell when rows are whole
            return [list(values) for values in zip(*map(itemgetter(*names), records), strict=True)]
        except KeyError:
            pass
    return [[record.get(name) for record in records] for name in names]


def _invalid(problems: list[tuple[int, int, Problem]]) -> ServingError:
    problems.sort(key=lambda item: (item[0], item[1]))
    total = len(problems)
    count = f"{total} problem" + ("s" if total != 1 else "")
    more = f" (the first {MAX_PROBLEMS_SHOWN} are listed)" if total > MAX_PROBLEMS_SHOWN else ""
    return ServingError(
        f"The request does not fit the model's inputs: {count}{more}.",
        status=422,
        problems=[problem for _, _, problem in problems[:MAX_PROBLEMS_SHOWN]],
        hint="Send every required field with a value of its declared type, and no other fields; "
        "each problem's loc is (records, row, field).",
    )


def _flag_ranges(columns: list[_Column]) -> None:
    """Mark values below ``minimum`` or above ``maximum``: one comparison for all columns."""
    bounded = [
        (column, column.floats)
        for column in columns
        if column.floats is not None
        and (column.field.minimum is not None or column.field.maximum is not None)
    ]
    if not bounded:
        return
    matrix = np.column_stack([floats for _, floats in bounded])
    low = np.array([_bound(column.field.minimum, -math.inf) for column, _ in bounded])
    high = np.array([_bound(column.field.maximum, math.inf) for column, _ in bounded])
    outside = (matrix < low) | (matrix > high)  # NaN (null) compares false: never flagged
    if outside.any():
        for position in np.flatnonzero(outside.any(axis=0)):
            bounded[position][0].flag(outside[:, position])


def _bound(value: float | None, default: float) -> float:
    return default if value is None else value


def _out_of_range(columns: list[_Column], rows: int) -> list[list[str]]:
    result: list[list[str]] = [[] for _ in range(rows)]
    for column in columns:
        mask = column.out_of_range
        if mask is not None:
            for row in np.flatnonzero(mask):
                result[row].append(column.field.name)
    return result


# --- one builder per logical type: check the values, return the frame's column -----------------


def _build_integer(column: _Column) -> Any:
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


def _build_number(column: _Column) -> Any:
    floats = _numbers(column, set(map(type, column.values)))
    column.floats = floats
    _flag_allowed(column, column.values)
    return floats


def _numbers(column: _Column, types: set[type]) -> npt.NDArray[np.float64]:
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


def _build_boolean(column: _Column) -> Any:
    values = column.values
    types = set(map(type, values))
    if types <= _BOOL_TYPES and _NONE not in types:
        _flag_allowed(column, values)
        return np.array(values, dtype=bool)
    values = _check_types(column, types, _BOOL_TYPES)
    _flag_allowed(column, values)
    return np.array(values, dtype=object)  # nulls make a boolean column object, as in training


def _build_string(column: _Column) -> Any:
    values = column.values
    types = set(map(type, values))
    if types != {str}:
        values = _check_types(column, types, _STR_TYPES)
    _flag_allowed(column, values)
    # pandas' constructor turns an object array of strings into its default string dtype
    return np.array(values, dtype=object)


def _build_temporal(column: _Column, parse: Callable[[str], Any], dtype: str) -> Any:
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


def _check_types(column: _Column, types: set[type], accepted: frozenset[type]) -> list[Any]:
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


def _flag_allowed(column: _Column, values: list[Any]) -> None:
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


_BUILDERS: dict[str, Callable[[_Column], Any]] = {
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
    return f"{field.name} must be {expected}; got {_kind(value)}"


def _kind(value: Any) -> str:
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
        return _kind(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        return str(value)[:_MAX_VALUE_CHARS]
    return value


def _non_finite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
