"""Background work: a durable job queue in the metadata store, idempotent steps, the worker."""

from __future__ import annotations

from loopline.jobs._handlers import (
    Handler,
    JobContext,
    JobInterrupted,
    get_handler,
    import_modules,
    register,
    registered_kinds,
)
from loopline.jobs._queue import (
    JOB_STATUSES,
    Backoff,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    job_dict,
    list_jobs,
    release,
    retry,
)
from loopline.jobs._steps import StepFunction, list_steps, run_step
from loopline.jobs._worker import Schedule, Worker, enqueue_scheduled, schedules

__all__ = [
    "JOB_STATUSES",
    "Backoff",
    "Handler",
    "JobContext",
    "JobInterrupted",
    "Schedule",
    "StepFunction",
    "Worker",
    "cancel",
    "claim",
    "complete",
    "enqueue",
    "enqueue_scheduled",
    "fail",
    "get_handler",
    "get_job",
    "heartbeat",
    "import_modules",
    "job_dict",
    "list_jobs",
    "list_steps",
    "register",
    "registered_kinds",
    "release",
    "retry",
    "run_step",
    "schedules",
]
