"""The quarantine: rows that failed a contract, kept with the checks they failed and their batch.

Quarantined rows are stored in a Delta table per dataset with every user column as text (bad
rows may not fit the contract's types, and nothing may be lost for that), plus:
``_loopline_batch_uid``, ``_loopline_row`` (position in the batch), ``_loopline_failed_checks``
(list of check names) and ``_loopline_quarantined_at``. Only rows of batches recorded in the
metadata store are shown, so a crash half-way through an ingest leaves no visible residue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from loopline.data._tables import _portable

__all__ = [
    "CHECKS_COLUMN",
    "UID_COLUMN",
    "read_quarantine",
    "write_quarantine",
]

UID_COLUMN = "_loopline_batch_uid"
ROW = "_loopline_row"
CHECKS_COLUMN = "_loopline_failed_checks"
AT_COLUMN = "_loopline_quarantined_at"


def write_quarantine(
    uri: str,
    rows: pl.DataFrame,
    *,
    batch_uid: str,
    row_numbers: pl.Series,
    failed_checks: pl.Series,
    at: datetime,
) -> int:
    """Append failing rows to the quarantine table; returns how many were written."""
    if rows.height == 0:
        return 0
    data = rows.select(pl.all().cast(pl.String)).with_columns(
        pl.lit(batch_uid).alias(UID_COLUMN),
        row_numbers.cast(pl.Int64).alias(ROW),
        failed_checks.cast(pl.List(pl.String)).alias(CHECKS_COLUMN),
        pl.lit(at).alias(AT_COLUMN),
    )
    write_deltalake(uri, _portable(data.to_arrow()), mode="append", schema_mode="merge")
    return data.height


def read_quarantine(uri: str, batch_uids: Sequence[str]) -> pl.DataFrame:
    """Quarantined rows of the given batches, in batch then row order."""
    try:
        table = DeltaTable(uri).to_pyarrow_table()
    except TableNotFoundError:
        return pl.DataFrame()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # from_arrow of a Table is a DataFrame
    order = {uid: index for index, uid in enumerate(batch_uids)}
    frame = frame.filter(pl.col(UID_COLUMN).is_in(list(batch_uids)))
    return (
        frame.with_columns(
            pl.col(UID_COLUMN).replace_strict(order, return_dtype=pl.Int64).alias("_order")
        )
        .sort("_order", ROW)
        .drop("_order")
    )
