"""Check a frame's columns and dtypes against a contract's logical types.

The mapping is strict but predictable:

============  ==========================================================================
logicalType   accepted polars dtypes
============  ==========================================================================
integer       Int8 ... Int128, UInt8 ... UInt64 (never floats, even when every value is whole)
number        any integer or float dtype, Decimal
string        String, Categorical, Enum
boolean       Boolean
date          Date
timestamp     Datetime (any unit and time zone)
time          Time
============  ==========================================================================

A column whose dtype is ``Null`` (every value missing) fits every type; ``required`` catches it.
"""

from __future__ import annotations

import polars as pl

from loopline.data._check_model import LogicalType
from loopline.data._contract import Contract
from loopline.errors import Problem

__all__ = ["DTYPE_OF", "accepts", "check_schema", "empty_frame"]

#: The dtype loopline uses for each logical type when it builds a frame itself.
DTYPE_OF: dict[LogicalType, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "time": pl.Time(),
}
_PARSERS: dict[LogicalType, str] = {
    "integer": "cast(pl.Int64)",
    "number": "cast(pl.Float64)",
    "date": "str.to_date()",
    "timestamp": "str.to_datetime()",
}
_ACCEPTED: dict[LogicalType, str] = {
    "string": "String, Categorical or Enum",
    "integer": "an integer dtype (Int8..Int64, UInt8..UInt64)",
    "number": "an integer, float or decimal dtype",
    "boolean": "Boolean",
    "date": "Date",
    "timestamp": "Datetime",
    "time": "Time",
}


def accepts(logical_type: LogicalType, dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` may hold values of ``logical_type``."""
    if isinstance(dtype, pl.Null):
        return True
    if logical_type == "integer":
        return dtype.is_integer()
    if logical_type == "number":
        return dtype.is_numeric()
    if logical_type == "string":
        return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
    if logical_type == "boolean":
        return isinstance(dtype, pl.Boolean)
    if logical_type == "date":
        return isinstance(dtype, pl.Date)
    if logical_type == "timestamp":
        return isinstance(dtype, pl.Datetime)
    return isinstance(dtype, pl.Time)


def check_schema(frame: pl.DataFrame, contract: Contract) -> list[Problem]:
    """Every missing column, wrong dtype and (when not allowed) extra column of ``frame``.

    Each of these refuses a batch as a whole. A problem's ``loc`` is ``(column,)``.

    Example:
        >>> import polars as pl
        >>> from loopline.data import Column, Contract
        >>> contract = Contract(name="t", version="1", columns=(
        ...     Column(name="n", logical_type="integer"),))
        >>> [p.code for p in check_schema(pl.DataFrame({"n": [1.0]}), contract)]
        ['wrong-type']
    """
    problems: list[Problem] = []
    schema = frame.schema
    for column in contract.columns:
        name, expected = column.name, column.logical_type
        if name not in schema:
            problems.append(
                Problem(
                    loc=(name,),
                    code="missing-column",
                    msg=f"column {name!r} is missing (the contract expects a {expected} column)",
                )
            )
            continue
        found = schema[name]
        if not accepts(expected, found):
            problems.append(
                Problem(
                    loc=(name,),
                    code="wrong-type",
                    msg=f"column {name!r} has dtype {found} but the contract expects {expected} "
                    f"({_ACCEPTED[expected]}){_fix(name, expected, found)}",
                    value=str(found),
                )
            )
    if not contract.allow_extra_columns:
        known = set(contract.column_names)
        problems.extend(
            Problem(
                loc=(name,),
                code="unexpected-column",
                msg=f"column {name!r} is not in the contract, which sets allowExtraColumns: "
                "false; drop the column or add it to the contract",
            )
            for name in frame.columns
            if name not in known
        )
    return problems


def empty_frame(contract: Contract) -> pl.DataFrame:
    """A frame with no rows and the contract's columns, for type-checking expressions."""
    return pl.DataFrame(schema={c.name: DTYPE_OF[c.logical_type] for c in contract.columns})


def _fix(name: str, expected: LogicalType, found: pl.DataType) -> str:
    if expected == "integer" and found.is_float():
        return (
            "; floats are refused even when every value is whole: cast with "
            f"pl.col({name!r}).cast(pl.Int64) or read the file with an integer schema"
        )
    if isinstance(found, pl.String) and expected in _PARSERS:
        return f"; parse the text first, e.g. pl.col({name!r}).{_PARSERS[expected]}"
    return ""
