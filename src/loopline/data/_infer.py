"""Draft a contract from data: a starting point for a person to review, never a final word.

For each column: its logical type from the dtype; ``required`` when it has no nulls; an allowed
set for low-cardinality integer and string columns; otherwise ``minimum``/``maximum``
for numbers; ``unique`` for id-like columns (an integer or string column whose name looks like an
identifier and whose values are all present and distinct). All statistics come from one
``select``.
"""

from __future__ import annotations

import decimal
import re
from typing import Any

import polars as pl

from loopline.data._check_model import Check, LogicalType
from loopline.data._contract import Column, Contract
from loopline.errors import DataError

__all__ = ["infer_contract"]

_ID_NAME = re.compile(r"(^|_)(id|key|uuid)$|[a-z]Id$", re.IGNORECASE)


def infer_contract(
    frame: pl.DataFrame,
    name: str,
    *,
    max_allowed_values: int = 20,
    version: str = "0.1.0",
) -> Contract:
    """Draft a contract (status ``draft``) that ``frame`` itself passes.

    Args:
        frame: Representative data.
        name: The contract's name.
        max_allowed_values: Columns with at most this many distinct values (and fewer than half
            as many as rows) get an allowed set instead of a range.
        version: The draft's version.

    Raises:
        DataError: A column has a dtype no contract type describes (lists, structs ...).
    """
    stats = frame.select(_statistics(frame)).row(0, named=True) if frame.width else {}
    columns: list[Column] = []
    quality: list[Check] = []
    for column_name, dtype in frame.schema.items():
        logical = _logical_type(column_name, dtype)
        nulls = int(stats[f"{column_name}\x00nulls"])
        distinct = int(stats[f"{column_name}\x00distinct"])
        rows = frame.height
        required = rows > 0 and nulls == 0
        options: dict[str, Any] = {}
        categorical = (
            logical in ("integer", "string")
            and 0 < distinct <= max_allowed_values
            and distinct * 2 <= rows
        )
        unique = (
            logical in ("integer", "string")
            and required
            and distinct == rows
            and bool(_ID_NAME.search(column_name))
        )
        if categorical and not unique:
            values = sorted(frame.get_column(column_name).drop_nulls().unique().to_list())
            quality.append(
                Check(
                    name=f"{column_name}.allowed_values",
                    kind="allowed_values",
                    columns=(column_name,),
                    params={"values": values},
                )
            )
        elif logical in ("integer", "number") and rows > nulls:
            options = {
                "minimum": _plain(stats[f"{column_name}\x00min"]),
                "maximum": _plain(stats[f"{column_name}\x00max"]),
            }
        columns.append(
            Column(
                name=column_name,
                logical_type=logical,
                required=required,
                unique=unique,
                options=options,
            )
        )
    return Contract(
        name=name,
        version=version,
        columns=tuple(columns),
        quality=tuple(quality),
        status="draft",
    )


def _statistics(frame: pl.DataFrame) -> list[pl.Expr]:
    expressions: list[pl.Expr] = []
    for column_name, dtype in frame.schema.items():
        column = pl.col(column_name)
        expressions += [
            column.null_count().alias(f"{column_name}\x00nulls"),
            column.drop_nulls().n_unique().alias(f"{column_name}\x00distinct"),
        ]
        if dtype.is_numeric():
            expressions += [
                column.min().alias(f"{column_name}\x00min"),
                column.max().alias(f"{column_name}\x00max"),
            ]
    return expressions


def _logical_type(name: str, dtype: pl.DataType) -> LogicalType:
    if dtype.is_integer():
        return "integer"
    if dtype.is_numeric():
        return "number"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return "string"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if isinstance(dtype, pl.Time):
        return "time"
    raise DataError(
        f"Column {name!r} has dtype {dtype}, which no contract type describes.",
        hint="Contracts cover strings, integers, numbers, booleans, dates, timestamps and "
        "times; flatten or drop nested columns before inferring.",
    )


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, decimal.Decimal) else value
