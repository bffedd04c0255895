"""A monitoring window: the served (non-shadow) answers of a time range, inputs as columns.

The prediction log keeps each answer's inputs as one JSON document (the log's schema does not
change when a model's inputs do). Here they are decoded once, by polars, into typed columns
following the model's signature: numeric inputs as ``Float64`` (a value that is not a number
becomes null, counted by data quality), categorical inputs as ``String`` — the form reference
profiles keep categories in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from loopline.serving import read_predictions
from loopline.training import Signature

__all__ = ["Window", "decode_inputs", "read_window"]


@dataclass(frozen=True)
class Window:
    """The answers of ``[start, end)`` and their decoded inputs (same rows, same order)."""

    start: datetime
    end: datetime
    answers: pl.DataFrame
    inputs: pl.DataFrame

    @property
    def rows(self) -> int:
        return self.answers.height


def decode_inputs(answers: pl.DataFrame, signature: Signature) -> pl.DataFrame:
    """The ``inputs`` JSON of logged answers as typed columns, one per signature input.

    A column the log never saw is all null (data quality reports it as missing).
    """
    if answers.height == 0:
        return pl.DataFrame(
            schema={f.name: pl.String if f.categorical else pl.Float64 for f in signature.inputs}
        )
    # decoding every field as a string keeps heterogeneous JSON (1 vs "1" vs 1.0) readable;
    # the casts below then apply one rule per column
    struct = pl.Struct({f.name: pl.String for f in signature.inputs})
    decoded = answers.select(pl.col("inputs").str.json_decode(struct).alias("_in")).unnest("_in")
    columns = []
    for field in signature.inputs:
        column = pl.col(field.name)
        if field.categorical:
            # integers logged as 2 or 2.0 are one category: "2"
            columns.append(
                pl.when(column.str.contains(r"^-?\d+\.0+$"))
                .then(column.str.replace(r"\.0+$", ""))
                .otherwise(column)
                .alias(field.name)
            )
        else:
            columns.append(column.cast(pl.Float64, strict=False).alias(field.name))
    return decoded.select(columns)


def read_window(
    root: Path, use_case: str, signature: Signature, *, start: datetime, end: datetime
) -> Window:
    """The non-shadow answers logged for ``use_case`` in ``[start, end)``."""
    answers = read_predictions(root, use_case, since=start)
    if answers.height:
        answers = answers.filter((pl.col("at") < end) & ~pl.col("shadow"))
    return Window(start, end, answers, decode_inputs(answers, signature))
