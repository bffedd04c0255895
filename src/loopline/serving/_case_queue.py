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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["CaseQueue"]

Cases = list[dict[str, Any]]


class CaseQueue:
    """Group-commits the cases of concurrent requests.

    Args:
        write: Writes a list of cases in one transaction (runs in a worker thread); for example
            ``open_cases`` inside ``store.transaction()``.
    """

    def __init__(self, write: Callable[[Cases], None]) -> None:
        self.write = write
        self._pending: list[tuple[Cases, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        #: Transactions committed and cases written (for tests and metrics).
        self.commits = 0
        self.written = 0

    @property
    def depth(self) -> int:
        """Cases waiting for the next commit."""
        return sum(len(cases) for cases, _ in self._pending)

    async def open(self, cases: Cases) -> None:
        """Return once ``cases`` are committed (raises what the write raised for them)."""
        if not cases:
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

    async def _run(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self.write, [case for cases, _ in group for case in cases])
            except Exception as exc:
                if len(group) == 1:  # nothing to separate: this request's cases failed
                    if not group[0][1].done():
                        group[0][1].set_exception(exc)
                else:
                    await self._write_each(group)
                continue
            self.commits += 1
            self.written += sum(len(cases) for cases, _ in group)
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    async def _write_each(self, group: list[tuple[Cases, asyncio.Future[None]]]) -> None:
        """One transaction per request, so one bad request fails alone."""
        for cases, future in group:
            try:
                await asyncio.to_thread(self.write, cases)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            self.commits += 1
            self.written += len(cases)
            if not future.done():
                future.set_result(None)
