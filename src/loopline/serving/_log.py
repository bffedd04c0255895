"""The prediction log: every answer, written off the response path, in batches, to Parquet.

Why Parquet files and not the metadata database: monitoring reads millions of logged predictions
by time window and column, which columnar files serve an order of magnitude faster than row
inserts into SQLite or PostgreSQL; files are append-only by construction (each flush writes a new
file under a unique name, renamed into place), so many server replicas can log concurrently
without coordination; and any engine (polars, DuckDB, Spark) reads them. Layout:
``<home>/predictions/<use_case>/date=YYYY-MM-DD/<time>-<uuid>.parquet``.

Records go through a bounded queue: when it is full, the request waits (backpressure) rather than
dropping a record. On graceful shutdown the queue is drained and flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

__all__ = ["PredictionLog", "read_predictions"]

_SCHEMA: dict[str, pl.DataType] = {
    "prediction_id": pl.String(),
    "request_id": pl.String(),
    "use_case": pl.String(),
    "model_version": pl.String(),
    "arm": pl.String(),
    "unit_key": pl.String(),
    "decision": pl.String(),
    "reasons": pl.List(pl.String()),
    "prediction": pl.String(),
    "probability": pl.Float64(),
    "confidence": pl.Float64(),
    "latency_ms": pl.Float64(),
    "shadow": pl.Boolean(),
    "at": pl.Datetime("us", "UTC"),
    "inputs": pl.String(),
}


class PredictionLog:
    """Batches records and writes them to Parquet files in a background task.

    A request's records are queued together (one list, not one queue entry per record); the
    queue is bounded by the records it holds.

    Args:
        root: The folder of the log (``<home>/predictions``).
        max_queue: Records held in memory at most; beyond it, callers wait.
        flush_rows: Write a file once this many records are waiting.
        flush_seconds: Write at least this often while records are waiting.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_queue: int = 50_000,
        flush_rows: int = 2_000,
        flush_seconds: float = 0.5,
    ) -> None:
        self.root = root
        self.max_queue = max_queue
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.written = 0
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[None] | None = None
        self._pending: list[list[dict[str, Any]]] = []
        self._rows = 0
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    @property
    def depth(self) -> int:
        """Records waiting to be written."""
        return self._rows

    def start(self) -> None:
        """Start the writer on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def put(self, records: list[dict[str, Any]]) -> None:
        """Queue records; waits while the queue is full (backpressure, nothing dropped)."""
        if not records:
            return
        while self._rows >= self.max_queue:
            self._space.clear()
            await self._space.wait()
        self._pending.append(records)
        self._rows += len(records)
        self._ready.set()

    async def stop(self) -> None:
        """Write everything queued (and finish the write under way), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writing is not None:
            await self._writing
            self._writing = None
        while self._pending:
            await self._flush(self._take())

    def _take(self) -> list[dict[str, Any]]:
        """Every queued record, oldest first; makes room for waiting callers."""
        batches, self._pending = self._pending, []
        self._rows = 0
        self._ready.clear()
        self._space.set()
        return [record for batch in batches for record in batch]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            deadline = loop.time() + self.flush_seconds
            while self._rows < self.flush_rows and loop.time() < deadline:
                await asyncio.sleep(0.01)
            # shielded: stopping waits for a write under way instead of losing its records
            self._writing = loop.create_task(self._flush(self._take()))
            await asyncio.shield(self._writing)
            self._writing = None

    async def _flush(self, batch: list[dict[str, Any]]) -> None:
        if batch:
            await asyncio.to_thread(write_records, self.root, batch)
            self.written += len(batch)


_MICROSECOND = timedelta(microseconds=1)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _json_any(value: Any) -> str:
    """JSON text of a value, with anything JSON has no type for written as its ``str``."""
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()


def _string_lists(values: list[list[str]]) -> pl.Series:
    """A ``List(String)`` column, built from offsets (polars builds one from Python lists a row
    at a time, twenty times slower)."""
    offsets = [0]
    flat: list[str] = []
    for value in values:
        flat.extend(value)
        offsets.append(len(flat))
    array = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.string()))
    return pl.Series(array).cast(_SCHEMA["reasons"])


def _utc_times(values: list[datetime]) -> pl.Series:
    """A UTC datetime column; a request's records share one time, converted once."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    seen: dict[int, int] = {}
    micros = []
    for value in values:
        key = id(value)
        if key not in seen:
            seen[key] = (value - epoch) // _MICROSECOND
        micros.append(seen[key])
    return pl.Series(micros, dtype=pl.Int64()).cast(_SCHEMA["at"])


def write_records(root: Path, records: list[dict[str, Any]]) -> None:
    """Write records as one Parquet file per use case and day (atomic rename)."""
    columns: dict[str, Any] = {
        name: [r.get(name) for r in records]
        for name in _SCHEMA
        if name not in ("prediction", "inputs", "reasons", "at")
    }
    columns["prediction"] = [_json_any(r["prediction"]) for r in records]
    columns["inputs"] = [_json_any(r["inputs"]) for r in records]
    columns["reasons"] = _string_lists([r["reasons"] for r in records])
    columns["at"] = _utc_times([r["at"] for r in records])
    frame = pl.DataFrame({name: columns[name] for name in _SCHEMA}, schema=_SCHEMA)
    for (use_case, day), part in frame.group_by(
        pl.col("use_case"), pl.col("at").dt.date(), maintain_order=True
    ):
        folder = root / str(use_case) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%H%M%S%f")
        final = folder / f"{stamp}-{uuid.uuid4().hex[:12]}.parquet"
        temporary = folder / f".{final.name}.tmp"
        part.write_parquet(temporary)
        os.replace(temporary, final)


def read_predictions(root: Path, use_case: str, *, since: datetime | None = None) -> pl.DataFrame:
    """Logged predictions of a use case (optionally since a time), oldest first."""
    folder = root / use_case
    if not any(folder.glob("date=*/*.parquet")):
        return pl.DataFrame(schema=_SCHEMA)
    frame = pl.scan_parquet(str(folder / "date=*" / "*.parquet"), hive_partitioning=False)
    if since is not None:
        frame = frame.filter(pl.col("at") >= since)
    return frame.sort("at").collect()
