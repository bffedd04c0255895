"""WAL checkpoints off a busy writer's path (SQLite).

In WAL mode SQLite copies committed pages back into the database file (a checkpoint) from the
connection whose commit takes the log over 1,000 pages: that commit then takes several times
longer than the others (measured on the serving path: ~40 ms instead of ~2 ms for a commit of
378 review cases). A writer that commits often turns its own checkpoints off
(``PRAGMA wal_autocheckpoint=0`` on its connection) and hands them to a
:class:`WalCheckpointer`: a thread with a connection of its own that runs a passive checkpoint
(it never blocks readers or writers) at most every ``interval`` seconds while there are new
commits. SQLite releases Python's GIL while it checkpoints, so the copy runs beside the
server's work rather than in it.

A passive checkpoint never waits, so under a writer that never pauses it may never copy the
last frames, and the log is then never started over: in a 60-second run of 500-row requests
the log file reached 871 MB beside a 1.7 GB database. When the log holds more than
``max_log_bytes`` the checkpointer therefore runs a truncating checkpoint, which waits for the
transaction under way, holds new writers back while it copies what is left (a few pages after
the passive one) and empties the file: the writer pauses for that copy, and its next commit
carries the cases that queued meanwhile. A truncating checkpoint also waits for every reader
still on an older snapshot, holding writers back meanwhile, so it waits at most
``TRUNCATE_WAIT_MS``; if a long reader keeps it from finishing, it gives up (writers go on) and
is tried again ``retry_seconds`` later, not at every checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine

__all__ = ["WalCheckpointer", "without_autocheckpoint"]

_LOG = logging.getLogger("loopline.store")

#: How long a truncating checkpoint may hold writers back waiting for older readers.
TRUNCATE_WAIT_MS = 50


def without_autocheckpoint(dbapi_connection: Any) -> None:
    """Turn automatic checkpoints off for one SQLite connection."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer:
    """Checkpoints an SQLite database in a background thread while :meth:`poke` is called.

    Args:
        engine: The store's engine (SQLite).
        interval: Seconds between checkpoints at most.
        max_log_bytes: Above this size of the write-ahead log, a checkpoint also empties it.
        retry_seconds: After a reader kept the log from being emptied, how long to wait
            before trying again.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.5,
        max_log_bytes: int = 64 * 2**20,
        retry_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.max_log_bytes = max_log_bytes
        self.retry_seconds = retry_seconds
        #: Checkpoints run, those of them that emptied the log, and those a reader kept from
        #: emptying it (for tests).
        self.runs = 0
        self.truncations = 0
        self.deferred = 0
        self._retry_at = 0.0
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Note a commit; starts the thread on first use."""
        self._dirty.set()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="loopline-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Run a last checkpoint for what is pending, then end the thread."""
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stopping.clear()

    def checkpoint(self, connection: Any) -> None:
        """One checkpoint on ``connection`` (a DB-API connection to the store): passive, then
        truncating if the log is still over ``max_log_bytes``."""
        cursor = connection.cursor()
        try:
            _, frames, _ = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            page = cursor.execute("PRAGMA page_size").fetchone()[0]
            if frames * page > self.max_log_bytes and time.monotonic() >= self._retry_at:
                waited = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
                cursor.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
                try:
                    busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={int(waited)}")
                if busy:  # a reader on an older snapshot: writers go on, we try again later
                    self.deferred += 1
                    self._retry_at = time.monotonic() + self.retry_seconds
                else:
                    self.truncations += 1
        finally:
            cursor.close()

    def _run(self) -> None:
        connection = self.engine.raw_connection()
        try:
            while True:
                self._dirty.wait()
                if not self._stopping.is_set():
                    self._stopping.wait(self.interval)  # gather commits, then copy once
                self._dirty.clear()
                try:
                    self.checkpoint(connection)
                except Exception:  # the next checkpoint (or a commit elsewhere) catches up
                    _LOG.warning("a WAL checkpoint failed", exc_info=True)
                if self._stopping.is_set():
                    return
        finally:
            with contextlib.suppress(Exception):
                connection.close()
