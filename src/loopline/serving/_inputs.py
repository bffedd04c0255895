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

import math
from collections.abc import Sized
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from loopline.errors import Problem, ServingError
from loopline.serving._input_columns import BUILDERS, Column, kind
from loopline.training._signature import Signature

__all__ = ["MAX_PROBLEMS_SHOWN", "check_row_count", "validate_columns", "validate_records"]

#: At most this many problems are listed in one error; the message gives the total.
MAX_PROBLEMS_SHOWN = 100
#: Names of expected fields listed in an ``unexpected-field`` message.
_MAX_NAMES_SHOWN = 12


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

    The serving path hands these to the model stage, which scores a micro-batch's columns
    without building a frame unless it needs one: ``pd.DataFrame(columns)`` is exactly the frame
    :func:`validate_records` returns.
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
        Column(field, index, column)
        for index, (field, column) in enumerate(zip(signature.inputs, values, strict=True))
    ]
    # insertion order is the signature's order; passing columns= as well would cost a reindex
    arrays = {column.field.name: BUILDERS[column.field.logical_type](column) for column in columns}
    not_objects = {row for row, index, _ in problems if index < 0}
    for column in columns:
        # a row that is not an object is reported once, not again for each required field
        problems.extend(item for item in column.problems if item[0] not in not_objects)
    if problems:
        raise _invalid(problems)
    _flag_ranges(columns)
    return arrays, _out_of_range(columns, rows)


def check_row_count(records: Sized, *, max_rows: int) -> None:
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
            msg = f"each record must be an object of field names to values; got {kind(record)}"
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


def _flag_ranges(columns: list[Column]) -> None:
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


def _out_of_range(columns: list[Column], rows: int) -> list[list[str]]:
    result: list[list[str]] = [[] for _ in range(rows)]
    for column in columns:
        mask = column.out_of_range
        if mask is not None:
            for row in np.flatnonzero(mask):
                result[row].append(column.field.name)
    return result
