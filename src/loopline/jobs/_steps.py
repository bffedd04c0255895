"""Idempotent job steps: each step's writes and its record commit together, or neither does.

A job that may be interrupted (its worker killed, the machine restarted) is written as a
sequence of named steps. :func:`run_step` runs a step's function inside one transaction that
also inserts the step's :class:`~loopline.store.JobStep` row. A crash before the commit leaves
neither the step's writes nor its record, so the next attempt runs it again; a crash after the
commit leaves both, so the next attempt skips it and reuses the recorded result. Two workers
racing on the same step (a lease that expired while its worker was still alive) cannot both
commit it: the ``(job_id, step)`` unique key rejects the second, which rolls back its writes.

Effects outside the metadata store (files in the object store) are not covered by the
transaction; a step should make them idempotent on its own, e.g. content-addressed keys.
On SQLite the step's transaction holds the database's write lock, so long computations belong
before the write, not inside ``fn``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session

from loopline.errors import JobError
from loopline.store import Job, JobStep, Store, utcnow

__all__ = ["StepFunction", "list_steps", "run_step"]

#: A step: does its writes in the given session and returns a JSON-ready result.
StepFunction = Callable[[Session], dict[str, Any]]


def run_step(store: Store, job: Job, name: str, fn: StepFunction) -> dict[str, Any]:
    """Run step ``name`` of ``job`` once: the recorded result when it already ran, else ``fn``.

    Args:
        store: The metadata store.
        job: The job the step belongs to.
        name: The step's name, unique within the job (at most 100 characters).
        fn: Does the step's writes in the session it is given, and returns a JSON-ready dict;
            it runs in the transaction that records the step.

    Returns:
        The step's result.

    Raises:
        JobError: ``fn`` returned something other than a dict, or ``name`` is empty or too long.
        Exception: Whatever ``fn`` raised; nothing of the step was committed.
    """
    if not name or len(name) > 100:
        raise JobError(
            f"Step name {name!r} must have 1 to 100 characters.",
            hint="Name steps after what they do: 'assemble', 'train', 'register'.",
        )
    try:
        with store.transaction() as session:
            done = _recorded(session, job.id, name)
            if done is not None:
                return done.result
            result = fn(session)
            if not isinstance(result, dict):
                raise JobError(
                    f"Step {name!r} of job {job.id} ({job.kind}) returned "
                    f"{type(result).__name__}, not a dict; its writes were rolled back.",
                    hint="Return a JSON-ready dict from the step function (it may be empty).",
                )
            session.add(JobStep(job_id=job.id, step=name, result=result, created_at=utcnow()))
            session.flush()
            return result
    except SQLIntegrityError:
        # Another worker committed this step first; our writes were rolled back with it.
        with store.transaction() as session:
            done = _recorded(session, job.id, name)
        if done is None:
            raise
        return done.result


def _recorded(session: Session, job_id: int, name: str) -> JobStep | None:
    return session.scalar(select(JobStep).where(JobStep.job_id == job_id, JobStep.step == name))


def list_steps(session: Session, job_id: int) -> Sequence[JobStep]:
    """The steps a job completed, in the order they completed."""
    return session.scalars(
        select(JobStep).where(JobStep.job_id == job_id).order_by(JobStep.id)
    ).all()
