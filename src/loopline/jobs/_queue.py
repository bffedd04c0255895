"""The durable job queue, kept in the metadata store's ``jobs`` table.

A job moves ``queued → running → succeeded``; a failure sends it back to ``queued`` with an
exponential backoff until ``max_attempts``, then to ``failed``. A person may ``cancel`` a queued
or running job and ``retry`` a failed or cancelled one; both go to the audit trail.

A worker takes a job with :func:`claim`, which leases it: while the lease holds no one else can
take it, and the worker extends it with :func:`heartbeat`. A job whose lease expired (its worker
died) is claimable again, and that claim counts as a new attempt. Claims never hand one job to
two workers: on PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent
workers skip each other's rows; on SQLite the store's ``BEGIN IMMEDIATE`` transaction
serialises writers, so one claim sees the other's committed lease.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session

from loopline.errors import JobError
from loopline.store import Job, JobStep, Store, record_audit, utcnow

__all__ = [
    "JOB_STATUSES",
    "Backoff",
    "cancel",
    "claim",
    "complete",
    "enqueue",
    "fail",
    "get_job",
    "heartbeat",
    "job_dict",
    "list_jobs",
    "release",
    "retry",
]

#: Every status a job can have, in lifecycle order.
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
_ACTIVE = ("queued", "running")


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How long a failed job waits before its next attempt: ``base · 2^(attempts-1)``, capped.

    Attributes:
        base_seconds: The wait after the first failed attempt.
        cap_seconds: The longest wait, however many attempts failed.
    """

    base_seconds: float = 10.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` attempts (1 or more) have failed."""
        seconds = self.base_seconds * 2.0 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.cap_seconds))


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    actor: str,
    use_case: str | None = None,
    idempotency_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 3,
    priority: int = 0,
) -> Job:
    """Add a job to the queue, or return the existing one with the same ``idempotency_key``.

    Two processes enqueueing the same key at once get the same job: the unique key decides, and
    the loser reads the winner's row.

    Args:
        session: The transaction to enqueue in (the job exists once it commits).
        kind: The job kind; a handler must be registered for it when a worker runs it.
        payload: JSON-ready arguments for the handler.
        actor: Who asked for the work (``system:scheduler`` for scheduled jobs).
        use_case: The use case the job belongs to, when there is one.
        idempotency_key: Makes enqueueing the same work twice a no-op.
        run_after: Not before this time (default: now).
        max_attempts: How many attempts before the job is ``failed``.
        priority: Higher runs first among due jobs.

    Raises:
        JobError: ``max_attempts`` below 1 or an empty kind.
    """
    if not kind:
        raise JobError("A job needs a kind.", hint="Pass the kind a handler is registered for.")
    if max_attempts < 1:
        raise JobError(
            f"max_attempts must be at least 1, got {max_attempts}.",
            hint="Use 1 for a job that must not be retried.",
        )
    if idempotency_key is not None:
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            return existing
    job = Job(
        uid=str(uuid.uuid4()),
        use_case=use_case,
        kind=kind,
        payload=dict(payload or {}),
        status="queued",
        priority=priority,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or utcnow(),
        idempotency_key=idempotency_key,
        actor=actor,
        created_at=utcnow(),
    )
    if idempotency_key is None:
        session.add(job)
        session.flush()
        return job
    try:
        with session.begin_nested():  # a concurrent enqueue of the same key fails only this
            session.add(job)
    except SQLIntegrityError:
        existing = _by_key(session, idempotency_key)
        if existing is None:  # pragma: no cover - the conflicting row is committed by now
            raise
        return existing
    return job


def _by_key(session: Session, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.idempotency_key == key))


def claim(
    store: Store,
    worker_id: str,
    *,
    lease_seconds: float,
    kinds: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Job | None:
    """Take the next due job and lease it to ``worker_id``, in a transaction of its own.

    Due jobs are queued ones whose ``run_after`` has come, and running ones whose lease expired;
    the highest priority goes first, then the earliest ``run_after``. A job whose lease expired
    on its last allowed attempt is marked ``failed`` instead of being claimed.

    Args:
        store: The metadata store.
        worker_id: Who takes the lease.
        lease_seconds: How long the lease holds without a heartbeat.
        kinds: Only these kinds (default: any).
        now: The current time (for tests; default: now).

    Returns:
        The claimed job (``running``, its ``attempts`` counted), or ``None`` when nothing is due.
    """
    now = now or utcnow()
    due = or_(
        and_(Job.status == "queued", Job.run_after <= now),
        and_(Job.status == "running", Job.lease_expires_at < now),
    )
    query = select(Job).where(due).order_by(Job.priority.desc(), Job.run_after, Job.id)
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    query = query.limit(1).with_for_update(skip_locked=True)
    with store.transaction() as session:
        while True:
            job = session.scalar(query)
            if job is None:
                return None
            if job.status == "running" and job.attempts >= job.max_attempts:
                _finish(job, "failed", now, error=_lost(job))
                session.flush()
                continue
            job.status = "running"
            job.attempts += 1
            job.lease_owner = worker_id
            job.lease_expires_at = now + timedelta(seconds=lease_seconds)
            job.started_at = now
            return job


def _lost(job: Job) -> str:
    return (
        f"The worker {job.lease_owner} stopped without finishing attempt {job.attempts} of "
        f"{job.max_attempts} (its lease expired)."
    )


def heartbeat(
    session: Session,
    job_id: int,
    *,
    worker_id: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Extend a running job's lease; ``False`` when the worker no longer holds it.

    The lease is lost when the job was cancelled, or when it expired and another worker
    claimed the job; the worker should then stop working on it.
    """
    now = now or utcnow()
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status != "running" or job.lease_owner != worker_id:
        return False
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    return True


def _held(session: Session, job_id: int, worker_id: str) -> Job | None:
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status != "running" or job.lease_owner != worker_id:
        return None
    return job


def complete(
    session: Session,
    job_id: int,
    *,
    worker_id: str,
    result: dict[str, Any],
    now: datetime | None = None,
) -> Job | None:
    """Mark a job ``succeeded`` with its result.

    Returns:
        The job, or ``None`` when ``worker_id`` no longer holds its lease (it was cancelled or
        taken over); the result is then not recorded.
    """
    job = _held(session, job_id, worker_id)
    if job is None:
        return None
    job.result = result
    _finish(job, "succeeded", now or utcnow(), error=None)
    return job


def fail(
    session: Session,
    job_id: int,
    *,
    worker_id: str,
    error: str,
    permanent: bool = False,
    backoff: Backoff | None = None,
    now: datetime | None = None,
) -> Job | None:
    """Record a failed attempt: back to ``queued`` after a backoff, or ``failed`` for good.

    Args:
        session: The transaction.
        job_id: The job.
        worker_id: The worker holding the lease.
        error: What went wrong, for ``loopline jobs show``.
        permanent: Fail for good now (retrying cannot help, e.g. no handler for the kind).
        backoff: The wait before the next attempt (default: :class:`Backoff`'s defaults).
        now: The current time (for tests).

    Returns:
        The job, or ``None`` when ``worker_id`` no longer holds its lease.
    """
    job = _held(session, job_id, worker_id)
    if job is None:
        return None
    now = now or utcnow()
    if permanent or job.attempts >= job.max_attempts:
        _finish(job, "failed", now, error=error)
        return job
    job.status = "queued"
    job.error = error
    job.run_after = now + (backoff or Backoff()).delay(job.attempts)
    job.lease_owner, job.lease_expires_at = None, None
    return job


def release(
    session: Session, job_id: int, *, worker_id: str, now: datetime | None = None
) -> Job | None:
    """Give a job back unfinished (the worker is stopping); the attempt is not counted."""
    job = _held(session, job_id, worker_id)
    if job is None:
        return None
    job.status = "queued"
    job.attempts = max(job.attempts - 1, 0)
    job.run_after = now or utcnow()
    job.lease_owner, job.lease_expires_at = None, None
    return job


def cancel(session: Session, job_ref: str | int, *, actor: str, reason: str | None = None) -> Job:
    """Cancel a queued or running job (a running one stops at its next step); audited.

    Raises:
        JobError: No such job, or it already finished.
    """
    job = get_job(session, job_ref, lock=True)
    if job.status not in _ACTIVE:
        raise JobError(
            f"Job {job.id} is {job.status}; only queued or running jobs can be cancelled.",
            hint=f"See its state with `loopline jobs show {job.id}`.",
        )
    before = {"status": job.status, "attempts": job.attempts}
    _finish(job, "cancelled", utcnow(), error=job.error)
    _audit(session, job, "job.cancel", actor, before, reason)
    return job


def retry(session: Session, job_ref: str | int, *, actor: str, reason: str | None = None) -> Job:
    """Queue a failed or cancelled job again with a fresh set of attempts; audited.

    Steps it already completed keep their recorded results and are not run again.

    Raises:
        JobError: No such job, or it is not failed or cancelled.
    """
    job = get_job(session, job_ref, lock=True)
    if job.status not in ("failed", "cancelled"):
        raise JobError(
            f"Job {job.id} is {job.status}; only failed or cancelled jobs can be retried.",
            hint="A queued or running job will run (again) by itself; a succeeded one is done.",
        )
    before = {"status": job.status, "attempts": job.attempts, "error": job.error}
    job.status = "queued"
    job.attempts = 0
    job.run_after = utcnow()
    job.finished_at = None
    job.lease_owner, job.lease_expires_at = None, None
    _audit(session, job, "job.retry", actor, before, reason)
    return job


def _finish(job: Job, status: str, now: datetime, *, error: str | None) -> None:
    job.status = status
    job.error = error
    job.finished_at = now
    job.lease_owner, job.lease_expires_at = None, None


def _audit(
    session: Session,
    job: Job,
    action: str,
    actor: str,
    before: dict[str, Any],
    reason: str | None,
) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        target_type="job",
        target=f"{job.kind}#{job.id}",
        use_case=job.use_case,
        before=before,
        after={"status": job.status, "attempts": job.attempts},
        reason=reason,
    )


def get_job(session: Session, job_ref: str | int, *, lock: bool = False) -> Job:
    """The job with this number (``42``) or uid.

    Raises:
        JobError: No such job.
    """
    ref = str(job_ref).strip()
    query = select(Job).where(Job.id == int(ref) if ref.isdigit() else Job.uid == ref)
    job = session.scalar(query.with_for_update() if lock else query)
    if job is None:
        raise JobError(
            f"No job {ref!r}.", hint="List jobs with `loopline jobs list` and use a number."
        )
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    use_case: str | None = None,
    limit: int = 50,
) -> Sequence[Job]:
    """Jobs, newest first, filtered by status (a comma list), kind and use case.

    Raises:
        JobError: An unknown status.
    """
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        wanted = [part.strip() for part in status.split(",") if part.strip()]
        unknown = sorted(set(wanted) - set(JOB_STATUSES))
        if unknown:
            raise JobError(
                f"Unknown job status {', '.join(unknown)}.",
                hint=f"Use one or more of: {', '.join(JOB_STATUSES)}.",
            )
        query = query.where(Job.status.in_(wanted))
    if kind:
        query = query.where(Job.kind == kind)
    if use_case:
        query = query.where(Job.use_case == use_case)
    return session.scalars(query).all()


def job_dict(job: Job, steps: Sequence[JobStep] | None = None) -> dict[str, Any]:
    """A JSON-ready view of a job (and its steps, when given), as the CLI prints it."""
    info: dict[str, Any] = {
        "id": job.id,
        "uid": job.uid,
        "kind": job.kind,
        "use_case": job.use_case,
        "status": job.status,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": job.run_after,
        "lease_owner": job.lease_owner,
        "lease_expires_at": job.lease_expires_at,
        "idempotency_key": job.idempotency_key,
        "payload": job.payload,
        "result": job.result,
        "error": job.error,
        "actor": job.actor,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
    if steps is not None:
        info["steps"] = [
            {"step": step.step, "result": step.result, "at": step.created_at} for step in steps
        ]
    return info
