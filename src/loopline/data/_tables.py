"""Dataset versions and quarantine as Delta Lake tables (readable by Spark, DuckDB, polars…).

Each dataset is one Delta table at ``<data_uri>/<name>``; each loopline version maps to one Delta
table version, recorded in the metadata store. Two hidden columns keep every row traceable and the
order exact: ``_loopline_batch`` (the ingest batch's id) and ``_loopline_row`` (the row's position
in its batch). Reading a version sorts by them and drops them, so time travel returns exactly the
rows that were ingested, in order.

The metadata store is the source of truth: a Delta commit that was made but never recorded
(a crash between the two) is rolled back with ``RESTORE`` before the next write.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from loopline.errors import DatasetError

__all__ = [
    "BATCH_COLUMN",
    "ROW_COLUMN",
    "content_hash",
    "read_table_version",
    "schema_of",
    "table_uri",
    "write_table_version",
]

BATCH_COLUMN = "_loopline_batch"
ROW_COLUMN = "_loopline_row"


def table_uri(data_uri: str, name: str, *, quarantine: bool = False) -> str:
    """Where the Delta table of dataset ``name`` (or of its quarantine) lives."""
    folder = "_quarantine/" if quarantine else ""
    uri = f"{data_uri.rstrip('/')}/{folder}{name}"
    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return uri


def _current_version(uri: str) -> int | None:
    try:
        return int(DeltaTable(uri).version())
    except TableNotFoundError:
        return None


def write_table_version(
    uri: str,
    frame: pl.DataFrame,
    *,
    batch: int,
    mode: Literal["append", "overwrite"],
    expected_version: int | None,
    metadata: dict[str, str] | None = None,
) -> int:
    """Write ``frame`` as one Delta commit on top of ``expected_version``.

    Args:
        uri: The table.
        frame: The rows (user columns only); hidden lineage columns are added here.
        batch: The ingest batch id written into ``_loopline_batch``.
        mode: ``append`` adds rows; ``overwrite`` replaces the content.
        expected_version: The last table version the metadata store knows (``None``: none yet).
            Unrecorded commits after it are rolled back first.
        metadata: Stored in the Delta commit (e.g. the loopline batch uid).

    Returns:
        The new Delta table version.
    """
    current = _current_version(uri)
    if current is not None and expected_version is not None and current != expected_version:
        DeltaTable(uri).restore(expected_version)
    if current is not None and expected_version is None:
        mode = "overwrite"  # a table no version was ever recorded for is an orphan: replace it
    data = frame.with_columns(
        pl.lit(batch, dtype=pl.Int64).alias(BATCH_COLUMN),
        pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW_COLUMN),
    )
    try:
        write_deltalake(
            uri,
            _portable(data.to_arrow()),
            mode=mode,
            schema_mode="merge" if mode == "append" else "overwrite",
            commit_properties=CommitProperties(custom_metadata=metadata or {}),
        )
    except Exception as exc:  # deltalake raises several unrelated types for schema conflicts
        raise DatasetError(
            f"Cannot write the new version to {uri}: {exc}",
            hint="A column changed type compared with earlier versions; ingest with "
            "--mode overwrite to start from this schema, or fix the data.",
        ) from exc
    version = _current_version(uri)
    if version is None:  # pragma: no cover - the write above created the table
        raise DatasetError(f"The Delta table at {uri} vanished after a write.")
    return version


def read_table_version(uri: str, version: int, *, keep_lineage: bool = False) -> pl.DataFrame:
    """The rows of Delta table version ``version``, in ingest order."""
    try:
        table = DeltaTable(uri, version=version).to_pyarrow_table()
    except TableNotFoundError as exc:
        raise DatasetError(
            f"The dataset table at {uri} is missing.",
            hint="The files under LOOPLINE_DATA_URI were moved or deleted; restore them.",
        ) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # from_arrow of a Table is a DataFrame
    if BATCH_COLUMN in frame.columns:
        frame = frame.sort(BATCH_COLUMN, ROW_COLUMN)
        if not keep_lineage:
            frame = frame.drop(BATCH_COLUMN, ROW_COLUMN)
    return frame


def schema_of(frame: pl.DataFrame) -> list[dict[str, str]]:
    """Column names and types, hidden columns excluded."""
    return [
        {"name": name, "type": str(dtype)}
        for name, dtype in frame.schema.items()
        if not name.startswith("_loopline")
    ]


def content_hash(frame: pl.DataFrame) -> str:
    """SHA-256 of the rows' content (Arrow IPC of the user columns), stable across reads."""
    digest = hashlib.sha256()
    digest.update(json.dumps(schema_of(frame)).encode())
    user = frame.select([c for c in frame.columns if not c.startswith("_loopline")])
    sink = pa.BufferOutputStream()
    table = _portable(user.to_arrow())
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=65536):
            writer.write_batch(batch)
    digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def _portable(table: Any) -> Any:
    """Arrow with plain string types (polars writes string views some readers lack)."""
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind, field.nullable))
    return table.cast(pa.schema(fields))
