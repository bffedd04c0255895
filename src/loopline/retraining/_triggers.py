"""When to retrain: the project file's ``retraining.when`` turned into jobs.

- ``drift``, ``performance``, ``estimated_performance``: the alert of that name routes to
  ``retrain`` (see :func:`loopline.monitoring.default_rules`), which enqueues a job per alert;
- ``{new_labels: N}``: checked after every monitor run — N labels arrived since the last
  retraining job was enqueued;
- ``{every: 7d}``: a worker schedule (see :func:`loopline.jobs.schedules`).

Every enqueue carries an idempotency key, so two workers (or a retried monitor job) never start
the same retraining twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from loopline._workspace import Workspace
from loopline.jobs import enqueue
from loopline.store import Feedback, Job

__all__ = ["check_label_trigger", "label_threshold", "request_retraining"]


def label_threshold(ws: Workspace) -> int | None:
    """N of a ``{new_labels: N}`` trigger, or ``None`` without one."""
    for trigger in ws.project.spec.retraining.when:
        if isinstance(trigger, dict) and "new_labels" in trigger:
            return int(trigger["new_labels"])
    return None


def request_retraining(
    ws: Workspace, *, trigger: str, key: str | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Enqueue a retraining job for the project's use case; returns the job (new or existing)."""
    from loopline.jobs import job_dict

    use_case = ws.project.spec.name
    with ws.store.transaction() as session:
        job = enqueue(
            session,
            "retrain",
            {"use_case": use_case, "trigger": trigger},
            use_case=use_case,
            idempotency_key=key,
            actor=actor or ws.actor,
            max_attempts=3,
        )
        return job_dict(job)


def check_label_trigger(ws: Workspace) -> dict[str, Any] | None:
    """Enqueue a retraining when ``new_labels`` labels arrived since the last one was enqueued."""
    threshold = label_threshold(ws)
    if threshold is None:
        return None
    use_case = ws.project.spec.name
    with ws.store.transaction() as session:
        last = session.scalar(
            select(Job)
            .where(Job.kind == "retrain", Job.use_case == use_case)
            .order_by(Job.id.desc())
            .limit(1)
        )
        query = select(func.count()).select_from(Feedback).where(Feedback.use_case == use_case)
        if last is not None:
            query = query.where(Feedback.created_at > last.created_at)
        arrived = session.scalar(query) or 0
        since = last.id if last is not None else 0
    if arrived < threshold:
        return None
    return request_retraining(
        ws, trigger=f"new_labels ({arrived})", key=f"retrain:labels:{use_case}:after-{since}"
    )
