"""The closed loop's tables: monitoring reports, alerts, the job queue and experiments.

The same conventions as :mod:`loopline.store._tables` (one declarative ``Base``; migrations in
``loopline/store/migrations``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.store._tables import Base, utcnow

__all__ = ["Alert", "Experiment", "Job", "JobStep", "MonitorReport"]


class MonitorReport(Base):
    """One monitoring report of a use case over one window of the prediction log.

    Reports are a time series: never updated. ``report`` holds the whole document (drift per
    feature, data quality, performance, estimated performance, business metrics); the scalar
    columns are what the console and alert rules filter and plot without reading it.
    """

    __tablename__ = "monitor_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    model_version: Mapped[str | None] = mapped_column(String(100))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(30))
    rows: Mapped[int]
    drift_share: Mapped[float | None]
    alarms: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Alert(Base):
    """An alert: one row per firing episode of a rule, de-duplicated by fingerprint.

    While an alert is firing, repeats of the same fingerprint bump ``count`` and ``last_at``
    rather than adding rows; it resolves when the rule's clear condition holds (hysteresis).
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(default=1)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("monitor_reports.id"))
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Job(Base):
    """A unit of background work in the durable queue (monitors, retraining, webhooks).

    A worker claims a queued job by taking a lease (``lease_owner``, ``lease_expires_at``); a job
    whose lease expired (its worker died) is claimable again. Failures retry with backoff until
    ``max_attempts``. ``idempotency_key`` makes enqueueing the same work twice a no-op.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    use_case: Mapped[str | None] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    priority: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    run_after: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class JobStep(Base):
    """The recorded result of one step of a job: a retried job skips the steps already done."""

    __tablename__ = "job_steps"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    step: Mapped[str] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    """An A/B test of a challenger against the champion on live traffic, and its decision.

    Created by ``loopline deploy --strategy ab``; at most one runs per use case (enforced by
    :mod:`loopline.experiments`). ``config`` holds what was fixed before the first look (alpha,
    MDE, power, planned units per arm, ``tau``, guardrail bounds, arm weights); ``state`` holds
    the last sequential look, which the next look carries forward, the last analysis and a short
    series of looks. ``status`` moves from ``running`` to ``decided`` or ``stopped``, once.
    """

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    deployment_revision: Mapped[int]
    champion: Mapped[str] = mapped_column(String(100))
    champion_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    challenger: Mapped[str] = mapped_column(String(100))
    challenger_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    primary_metric: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    higher_is_better: Mapped[bool]
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    decision: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decided_at: Mapped[datetime | None]
