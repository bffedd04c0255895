"""The registry of job kinds: which function runs a job of each kind.

A handler is ``fn(ws, job, context) -> dict``: it gets the workspace, the job (its ``payload``
holds the arguments) and a :class:`JobContext` for idempotent steps and stop requests, and
returns the job's JSON-ready result. Register one with :func:`register`.

loopline's own kinds are registered lazily, by import path, from a fixed table in this module;
a job's payload never names code to import. Plugins and tests add kinds by being imported: the
worker imports the modules it is given (``loopline worker --modules``, or the environment
variable ``LOOPLINE_JOB_MODULES``) before it starts.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from loopline.errors import JobError
from loopline.jobs._steps import StepFunction, run_step
from loopline.store import Job, Store

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__ = [
    "Handler",
    "JobContext",
    "JobInterrupted",
    "get_handler",
    "import_modules",
    "register",
    "registered_kinds",
]


class JobInterrupted(Exception):
    """Raised by :meth:`JobContext.check_stop` when the worker is stopping or lost the job.

    The worker gives the job back (uncounted) instead of failing it; the next attempt resumes
    after the last completed step.
    """


class JobContext:
    """What a handler gets besides the job: idempotent steps and the worker's stop requests.

    Args:
        store: The metadata store.
        job: The running job.
        worker_id: The worker holding the job's lease.
        stop: Set when the worker is asked to stop.
    """

    def __init__(
        self, store: Store, job: Job, *, worker_id: str, stop: threading.Event | None = None
    ) -> None:
        self.store = store
        self.job = job
        self.worker_id = worker_id
        self.stop = stop or threading.Event()
        #: Set when the worker lost the job's lease (cancelled, or taken over by another worker).
        self.lost = threading.Event()

    def step(self, name: str, fn: StepFunction) -> dict[str, Any]:
        """Run one idempotent step of the job (see :func:`run_step`); checks for stops first."""
        self.check_stop()
        return run_step(self.store, self.job, name, fn)

    @property
    def stopping(self) -> bool:
        """Whether the handler should stop at the next safe point."""
        return self.stop.is_set() or self.lost.is_set()

    def check_stop(self) -> None:
        """Raise :class:`JobInterrupted` when the worker is stopping or lost the job."""
        if self.stopping:
            why = "lost its lease" if self.lost.is_set() else "is stopping"
            raise JobInterrupted(f"job {self.job.id}: the worker {why}")


#: A job kind's function: ``fn(ws, job, context) -> result``.
Handler = Callable[["Workspace", Job, JobContext], dict[str, Any]]

#: loopline's own kinds, imported on first use. Only this table names code to import.
_BUILTIN: dict[str, str] = {
    "monitor": "loopline.monitoring:run_monitor_job",
    "retrain": "loopline.retraining:run_retrain_job",
    "experiment": "loopline.retraining:run_experiment_job",
}

_registry: dict[str, Handler] = {}
_lock = threading.Lock()


def register(kind: str) -> Callable[[Handler], Handler]:
    """A decorator that makes ``fn`` the handler of jobs of ``kind``.

    Example::

        @register("send_report")
        def send_report(ws, job, context):
            return {"sent": job.payload["to"]}

    Raises:
        JobError: ``kind`` is empty or is one of loopline's own kinds.
    """
    if not kind or len(kind) > 50:
        raise JobError(
            f"Job kind {kind!r} must have 1 to 50 characters.",
            hint="Use a short snake_case name such as 'send_report'.",
        )
    if kind in _BUILTIN:
        raise JobError(
            f"The job kind {kind!r} is loopline's own; a plugin cannot replace it.",
            hint="Register your handler under another kind.",
        )

    def decorate(fn: Handler) -> Handler:
        with _lock:
            _registry[kind] = fn
        return fn

    return decorate


def get_handler(kind: str) -> Handler:
    """The handler of ``kind``: a registered one, or one of loopline's own, imported now.

    Raises:
        JobError: No handler for ``kind``, or loopline's own handler cannot be imported.
    """
    with _lock:
        found = _registry.get(kind)
    if found is not None:
        return found
    target = _BUILTIN.get(kind)
    if target is None:
        raise JobError(
            f"No handler is registered for job kind {kind!r}.",
            hint="Start the worker with the module that registers it (--modules or "
            "LOOPLINE_JOB_MODULES), or cancel the job with `loopline jobs cancel`.",
        )
    module_name, _, attribute = target.partition(":")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise JobError(
            f"The handler of job kind {kind!r} ({target}) is not available: {exc}.",
            hint="This version of loopline cannot run these jobs yet; upgrade loopline, then "
            "retry the job with `loopline jobs retry`.",
        ) from exc
    with _lock:
        _registry[kind] = handler
    return handler  # type: ignore[no-any-return]


def registered_kinds() -> list[str]:
    """Every kind a handler is known for (registered or built in), sorted."""
    with _lock:
        return sorted(set(_registry) | set(_BUILTIN))


def import_modules(names: Iterable[str]) -> list[str]:
    """Import plugin modules that register job kinds; returns the names imported.

    Raises:
        JobError: A module cannot be imported.
    """
    imported = []
    for name in (part.strip() for part in names):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise JobError(
                f"Cannot import the job module {name!r}: {exc}.",
                hint="Check the module name in --modules / LOOPLINE_JOB_MODULES and that it "
                "is importable from the worker's Python environment.",
            ) from exc
        imported.append(name)
    return imported
