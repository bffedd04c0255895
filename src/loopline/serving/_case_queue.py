"""The case queue: review cases of concurrent requests written together, durably, in one commit.

A request whose answer says a person will decide (``decision: review``, with a ``case_id``) must
not be answered before its case is committed: a caller may look the case up at once, and a crash
must not lose a case the caller was told about. Writing each request's cases in its own
transaction costs a commit per request; here the cases of every request that arrives while a
commit is under way wait for the next one, so under load one transaction carries the cases of
dozens of requests (group commit) and at low load a lone request waits for nothing but its own
commit. Each caller still awaits the commit that carries its cases.

If a group's transaction fails, its requests' cases are written again one request at a time, so
only the request whose cases cannot be written gets the error.

:class:`CaseWriter` does the writing with ``open_case_columns`` (one multi-row insert) on
one connection kept open in one thread: the store opens a new SQLite connection per transaction, and
opening (pragmas) and closing it (the last connection checkpoints the WAL) cost several times the
insert itself. On SQLite its WAL checkpoints run in a thread of their own (``WalCheckpointer``),
so no request waits for one. Should that connection fail, the write is retried through
``store.transaction()`` on a fresh connection, which also raises the store's usual errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from loopline.review import open_case_columns
from loopline.store import Store, WalCheckpointer, without_autocheckpoint

__all__ = ["CaseQueue", "CaseWriter", "case_count"]

_LOG = logging.getLogger("loopline.serving")

#: A request's cases as columns (see ``open_case_columns``): names to one value per case.
Cases = Mapping[str, Sequence[Any]]


def case_count(cases: Cases) -> int:
    """How many cases the columns hold."""
    for values in cases.values():
        return len(values)
    return 0


def _joined(groups: list[Cases]) -> Cases:
    """The cases of several requests, one after the other, as one set of columns."""
    if len(groups) == 1:
        return groups[0]
    return {name: list(chain.from_iterable(g[name] for g in groups)) for name in groups[0]}


class CaseQueue:
    """Group-commits the cases of concurrent requests.

    Args:
        write: Writes cases, given as columns, in one transaction (runs in a worker thread);
            for example ``open_case_columns`` inside ``store.transaction()``.
    """

    def __init__(self, write: Callable[[Cases], None]) -> None:
        self.write = write
        #: Runs ``write``; one thread, so a writer may keep a connection of its own.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopline-cases")
        self._pending: list[tuple[Cases, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        #: Transactions committed and cases written (for tests and metrics).
        self.commits = 0
        self.written = 0

    @property
    def depth(self) -> int:
        """Cases waiting for the next commit."""
        return sum(case_count(cases) for cases, _ in self._pending)

    async def open(self, cases: Cases) -> None:
        """Return once ``cases`` are committed (raises what the write raised for them)."""
        if not case_count(cases):
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((cases, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        # shielded: a caller that goes away does not cancel the commit its cases are in
        await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until every queued case is committed (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def stop(self) -> None:
        """Commit what is queued, then release the writer's thread (and its connection)."""
        await self.drain()
        close = getattr(self.write, "close", None)
        if close is not None:
            await asyncio.get_running_loop().run_in_executor(self.executor, close)
        self.executor.shutdown(wait=True)

    async def _call(self, cases: Cases) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self.write, cases)

    async def _run(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await self._call(_joined([cases for cases, _ in group]))
            except Exception as exc:
                if len(group) == 1:  # nothing to separate: this request's cases failed
                    if not group[0][1].done():
                        group[0][1].set_exception(exc)
                else:
                    await self._write_each(group)
                continue
            self.commits += 1
            self.written += sum(case_count(cases) for cases, _ in group)
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    async def _write_each(self, group: list[tuple[Cases, asyncio.Future[None]]]) -> None:
        """One transaction per request, so one bad request fails alone."""
        for cases, future in group:
            try:
                await self._call(cases)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            self.commits += 1
            self.written += case_count(cases)
            if not future.done():
                future.set_result(None)


class CaseWriter:
    """Writes cases with ``open_case_columns`` in one transaction, on a connection it keeps open.

    Call it from one thread only (the case queue's).

    Args:
        store: The metadata store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._connection: Connection | None = None
        self._thread: int | None = None
        #: SQLite: this writer's checkpoints, run beside it (see ``WalCheckpointer``).
        self.checkpointer = (
            WalCheckpointer(store.engine) if store.engine.dialect.name == "sqlite" else None
        )

    def __call__(self, cases: Cases) -> None:
        """Open ``cases``, committed when this returns."""
        try:
            self._write(cases)
        except Exception:
            _LOG.warning("writing cases on the kept connection failed; retrying", exc_info=True)
            self.close()  # a broken or refused connection: start again on a fresh one
            with self.store.transaction() as session:
                open_case_columns(session, cases)

    def _write(self, cases: Cases) -> None:
        if self._thread is not None and self._thread != threading.get_ident():
            raise RuntimeError("CaseWriter is used from one thread only")
        if self._connection is None:
            self._connection = self.store.engine.connect()
            self._thread = threading.get_ident()
            if self.checkpointer is not None:
                without_autocheckpoint(self._connection.connection.dbapi_connection)
        session = Session(bind=self._connection)
        try:
            open_case_columns(session, cases)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if self.checkpointer is not None:
            self.checkpointer.poke()

    def close(self) -> None:
        """Close the kept connection (the next write opens another) after a last checkpoint."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        connection, self._connection, self._thread = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
