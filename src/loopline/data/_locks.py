"""Writer serialisation: one writer per dataset at a time, across processes and replicas.

Two layers, both held for the whole write:

* a file lock (``fcntl.flock``) under ``<home>/locks`` serialises processes on one machine —
  enough for the embedded default (SQLite and local files);
* on PostgreSQL, a session-level advisory lock keyed by the store's schema and the dataset name
  serialises writers on different machines sharing the store. Advisory locks belong to the
  database, not to a schema: keyed by the name alone, two projects whose stores are schemas of
  one database would wait for each other's writes of a same-named dataset.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from loopline.store import Store

__all__ = ["dataset_lock"]


def _advisory_key(schema: str, name: str) -> int:
    # a stable signed 63-bit key for pg_advisory_lock
    digest = hashlib.sha256(f"dataset:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@contextlib.contextmanager
def dataset_lock(home: Path, store: Store, name: str) -> Iterator[None]:
    """Hold the write lock of dataset ``name`` for the duration of the block."""
    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"dataset-{name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if store.dialect == "postgresql":
                with store.engine.connect() as connection:
                    schema = connection.execute(text("SELECT current_schema()")).scalar()
                    key = _advisory_key(str(schema), name)
                    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                    try:
                        yield
                    finally:
                        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        connection.commit()
            else:
                yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
