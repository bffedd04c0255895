"""The worker: enqueues scheduled jobs and runs due jobs from the queue.

Any number of workers may run against one PostgreSQL store; on SQLite run one (the embedded
default, or ``loopline up``, which runs one inside the server process). Scheduled jobs are
enqueued with an idempotency key per time slot, so several workers never enqueue the same
monitor twice. While a job runs, a thread renews its lease; when the lease is lost (the job was
cancelled or taken over) the handler is told to stop at its next step.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from loopline.errors import JobError, LooplineError
from loopline.jobs._handlers import JobContext, JobInterrupted, get_handler
from loopline.jobs._queue import Backoff, claim, complete, enqueue, fail, heartbeat, release
from loopline.store import Job, utcnow

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__ = ["Schedule", "Worker", "enqueue_scheduled", "schedules"]

logger = logging.getLogger("loopline.jobs")

#: Who enqueues scheduled jobs, in the ``actor`` column.
SCHEDULER = "system:scheduler"


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A job enqueued once per time slot of ``every`` seconds.

    Attributes:
        name: Names the schedule in idempotency keys (``monitor:credit-default:482910``).
        kind: The kind of job enqueued.
        every: The slot length in seconds; slot ``n`` starts at ``n · every`` after the epoch.
        use_case: The use case the job is for.
        payload: The job's arguments; the slot and its start are added.
        priority: The job's priority.
    """

    name: str
    kind: str
    every: int
    use_case: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 0

    def slot(self, now: datetime) -> int:
        """The slot ``now`` falls in: ``floor(now / every)``."""
        return math.floor(now.timestamp() / self.every)

    def key(self, slot: int) -> str:
        """The idempotency key of the job for ``slot``."""
        return f"{self.name}:{self.use_case}:{slot}"


def schedules(ws: Workspace) -> list[Schedule]:
    """The project's schedules: a monitor and an experiment analysis every ``monitoring.every``,
    and a retraining for each ``retraining.when: {every: ...}`` trigger.

    Raises:
        ProjectError: The project file is missing or invalid.
    """
    from loopline.spec._models import _parse_duration

    spec = ws.project.spec
    every = int(spec.monitoring.every)
    found = [
        Schedule(
            name="monitor",
            kind="monitor",
            every=every,
            use_case=spec.name,
            payload={"use_case": spec.name},
        ),
        Schedule(
            name="experiment",
            kind="experiment",
            every=every,
            use_case=spec.name,
            payload={"use_case": spec.name},
        ),
    ]
    for trigger in spec.retraining.when:
        if isinstance(trigger, dict) and "every" in trigger:
            found.append(
                Schedule(
                    name="retrain",
                    kind="retrain",
                    every=_parse_duration(trigger["every"]),
                    use_case=spec.name,
                    payload={"use_case": spec.name, "trigger": f"schedule ({trigger['every']})"},
                )
            )
    return found


def enqueue_scheduled(
    ws: Workspace, *, now: datetime | None = None, only: Sequence[Schedule] | None = None
) -> list[Job]:
    """Enqueue the current slot's job of every schedule (a no-op for slots already enqueued).

    Args:
        ws: The workspace.
        now: The current time (for tests; default: now).
        only: These schedules instead of :func:`schedules`.

    Returns:
        The current slot's job of each schedule, new or already there.
    """
    now = now or utcnow()
    jobs = []
    with ws.store.transaction() as session:
        for schedule in schedules(ws) if only is None else only:
            slot = schedule.slot(now)
            start = datetime.fromtimestamp(slot * schedule.every, tz=timezone.utc)
            jobs.append(
                enqueue(
                    session,
                    schedule.kind,
                    {**schedule.payload, "slot": slot, "slot_start": start.isoformat()},
                    actor=SCHEDULER,
                    use_case=schedule.use_case,
                    idempotency_key=schedule.key(slot),
                    run_after=start,
                    priority=schedule.priority,
                )
            )
    return jobs


#: Receives what the worker does: an event name and the job's summary.
EventCallback = Callable[[str, dict[str, Any]], None]


class Worker:
    """Runs due jobs: scheduled monitors, retraining, anything with a registered handler.

    Args:
        ws: The workspace (its store holds the queue; its project gives the schedules).
        worker_id: The name leases are taken under (default: host, process id and a suffix).
        concurrency: How many jobs run at once, each in its own thread.
        poll_seconds: How long an idle worker waits before looking for due jobs again.
        lease_seconds: How long a claimed job stays leased without a heartbeat; a heartbeat
            renews it every third of this.
        kinds: Only run jobs of these kinds (default: every kind).
        schedule: Whether this worker enqueues the project's scheduled jobs.
        backoff: How long failed jobs wait before their next attempt.
        on_event: Called with ``("started" | "succeeded" | "retrying" | "failed" | "released"
            | "lost", summary)`` as jobs run; the CLI prints these.

    Raises:
        JobError: ``concurrency``, ``poll_seconds`` or ``lease_seconds`` is not positive.
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        worker_id: str | None = None,
        concurrency: int = 1,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
        kinds: Sequence[str] | None = None,
        schedule: bool = True,
        backoff: Backoff | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        for name, value in (
            ("concurrency", concurrency),
            ("poll_seconds", poll_seconds),
            ("lease_seconds", lease_seconds),
        ):
            if value <= 0:
                raise JobError(
                    f"Worker {name} must be positive, got {value}.",
                    hint=f"Pass a {name} above 0.",
                )
        self.ws = ws
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.kinds = list(kinds) if kinds is not None else None
        self.schedule = schedule
        self.backoff = backoff or Backoff()
        self.on_event = on_event
        #: Summaries of the jobs this worker ran, oldest first.
        self.processed: list[dict[str, Any]] = []
        self._processed_lock = threading.Lock()
        self._scheduled: dict[str, str] = {}  # schedule → the key last enqueued
        self._schedules: list[Schedule] | None = None

    def run_once(self, *, now: datetime | None = None) -> int:
        """Enqueue what is scheduled, then run every job due until none is left.

        Args:
            now: The current time for the scheduler and for what counts as due (for tests).

        Returns:
            How many jobs were run.
        """
        self._enqueue_scheduled(now)
        before = len(self.processed)
        stop = threading.Event()
        if self.concurrency == 1:
            self._drain(stop, now)
        else:
            threads = [
                threading.Thread(target=self._drain, args=(stop, now), name=f"job-{index}")
                for index in range(self.concurrency)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return len(self.processed) - before

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the jobs running then finish or are given back.

        A handler that checks :meth:`JobContext.check_stop` between steps gives its job back at
        the next step (the attempt is not counted); one that does not finishes it first.
        """
        logger.info("worker %s started (concurrency %d)", self.worker_id, self.concurrency)
        threads = [
            threading.Thread(target=self._loop, args=(stop, index == 0), name=f"job-{index}")
            for index in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # wake up now and then so signal handlers can run
        logger.info("worker %s stopped", self.worker_id)

    def _loop(self, stop: threading.Event, schedules_too: bool) -> None:
        while not stop.is_set():
            try:
                if schedules_too:
                    self._enqueue_scheduled(None)
                job = self._claim(None)
            except LooplineError as exc:
                logger.warning("worker %s: %s", self.worker_id, exc.message)
                stop.wait(self.poll_seconds)
                continue
            if job is None:
                stop.wait(self.poll_seconds)
            else:
                self._execute(job, stop)

    def _drain(self, stop: threading.Event, now: datetime | None) -> None:
        while (job := self._claim(now)) is not None:
            self._execute(job, stop)

    def _claim(self, now: datetime | None) -> Job | None:
        return claim(
            self.ws.store,
            self.worker_id,
            lease_seconds=self.lease_seconds,
            kinds=self.kinds,
            now=now,
        )

    def _enqueue_scheduled(self, now: datetime | None) -> None:
        if not self.schedule:
            return
        if self._schedules is None:
            try:
                self._schedules = schedules(self.ws)
            except LooplineError as exc:
                logger.warning("scheduled jobs are off: %s", exc.message)
                self._schedules = []
        moment = now or utcnow()
        current = [(s, f"{s.name}:{s.use_case}", s.key(s.slot(moment))) for s in self._schedules]
        due = [(s, name, key) for s, name, key in current if self._scheduled.get(name) != key]
        if due:
            enqueue_scheduled(self.ws, now=moment, only=[s for s, _, _ in due])
            self._scheduled.update((name, key) for _, name, key in due)

    def _execute(self, job: Job, stop: threading.Event) -> None:
        context = JobContext(self.ws.store, job, worker_id=self.worker_id, stop=stop)
        started = time.monotonic()
        self._emit("started", _summary(job))
        done = threading.Event()
        beats = threading.Thread(
            target=self._heartbeat, args=(job, context, done), name=f"heartbeat-{job.id}"
        )
        beats.start()
        outcome: tuple[str, Any]
        try:
            handler = get_handler(job.kind)
        except JobError as exc:
            outcome = ("fail-permanent", exc.message)
        else:
            try:
                result = handler(self.ws, job, context)
                if not isinstance(result, dict):
                    raise JobError(
                        f"The handler of {job.kind!r} returned {type(result).__name__}, "
                        "not a dict.",
                        hint="Return a JSON-ready dict from the handler.",
                    )
                outcome = ("complete", result)
            except JobInterrupted:
                outcome = ("release", None)
            except Exception as exc:  # a handler's failure fails the job, not the worker
                logger.warning(
                    "job %s (%s) raised %s: %s",
                    job.id,
                    job.kind,
                    type(exc).__name__,
                    exc,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                outcome = ("fail", f"{type(exc).__name__}: {exc}")
        finally:
            done.set()
            beats.join()
        self._record(job, outcome, time.monotonic() - started)

    def _record(self, job: Job, outcome: tuple[str, Any], seconds: float) -> None:
        action, value = outcome
        with self.ws.store.transaction() as session:
            if action == "complete":
                after = complete(session, job.id, worker_id=self.worker_id, result=value)
            elif action == "release":
                after = release(session, job.id, worker_id=self.worker_id)
            else:
                after = fail(
                    session,
                    job.id,
                    worker_id=self.worker_id,
                    error=value,
                    permanent=action == "fail-permanent",
                    backoff=self.backoff,
                )
            summary = _summary(after or job)
        if after is None:
            event = "lost"
        elif action == "release":
            event = "released"
        elif after.status == "queued":
            event = "retrying"
        else:
            event = after.status
        summary.update(event=event, seconds=round(seconds, 3))
        with self._processed_lock:
            self.processed.append(summary)
        self._emit(event, summary)

    def _heartbeat(self, job: Job, context: JobContext, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            try:
                with self.ws.store.transaction() as session:
                    held = heartbeat(
                        session, job.id, worker_id=self.worker_id, lease_seconds=self.lease_seconds
                    )
            except LooplineError as exc:
                logger.warning("heartbeat of job %s failed: %s", job.id, exc.message)
                continue
            if not held:
                context.lost.set()
                return

    def _emit(self, event: str, summary: dict[str, Any]) -> None:
        logger.info("job %s (%s): %s", summary["id"], summary["kind"], event)
        if self.on_event is not None:
            self.on_event(event, summary)


def _summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "use_case": job.use_case,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": job.run_after,
        "error": job.error,
    }
