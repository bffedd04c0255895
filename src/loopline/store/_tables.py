"""The metadata store's tables (SQLAlchemy 2 declarative models).

Conventions for every table: an integer surrogate primary key ``id``; a ``created_at`` time stamp
in UTC; foreign keys declared (SQLite enforces them: ``PRAGMA foreign_keys=ON``); JSON columns for
structured documents (reports, profiles, schemas) that are read whole. Rows that record history
(audit events, versions, alias moves) are never updated or deleted.

Schema changes go through Alembic migrations in ``loopline/store/migrations``; a test checks
that the migrations produce exactly these models.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AliasEvent",
    "ApiToken",
    "Approval",
    "AuditEvent",
    "Base",
    "Case",
    "CaseEvent",
    "Contract",
    "Dataset",
    "DatasetVersion",
    "DecisionPolicyRecord",
    "Deployment",
    "Feedback",
    "GateResult",
    "IngestBatch",
    "LineageEdge",
    "LineageNode",
    "ModelVersion",
    "Run",
    "UseCase",
    "User",
    "WebSession",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
        list[Any]: JSONDoc,
    }


class UseCase(Base):
    """One prediction problem, as named in ``loopline.yaml``."""

    __tablename__ = "use_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what, when, to what and why. Append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(300), index=True)
    use_case: Mapped[str | None] = mapped_column(String(63), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    reason: Mapped[str | None] = mapped_column(Text)


class Contract(Base):
    """A version of a data contract, stored whole so every dataset version names its contract."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("name", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """A named, versioned dataset."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class DatasetVersion(Base):
    """An immutable, numbered snapshot of a dataset."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int]
    row_count: Mapped[int] = mapped_column(BigInteger)
    table_version: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    schema_hash: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    report: Mapped[dict[str, Any]]
    profile: Mapped[dict[str, Any]]
    source: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestBatch(Base):
    """One attempt to add data to a dataset: accepted, refused or a duplicate."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    rows_in: Mapped[int] = mapped_column(BigInteger)
    rows_versioned: Mapped[int] = mapped_column(BigInteger)
    rows_quarantined: Mapped[int] = mapped_column(BigInteger)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    report: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineageNode(Base):
    """A thing in the lineage graph: a source file, a dataset version, a run, a model version…"""

    __tablename__ = "lineage_nodes"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(300))
    label: Mapped[str] = mapped_column(String(300))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineageEdge(Base):
    """A directed edge: ``source`` was used to make ``target``."""

    __tablename__ = "lineage_edges"
    __table_args__ = (UniqueConstraint("source_id", "target_id", "relation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("lineage_nodes.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("lineage_nodes.id"), index=True)
    relation: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One training run: its inputs (data, params, code, environment) and outputs."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    status: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    environment: Mapped[dict[str, Any]]
    code_version: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ModelVersion(Base):
    """A registered model: artifact, signature, evaluation, gates; a state that moves forward."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("use_case", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    version: Mapped[int]
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    state: Mapped[str] = mapped_column(String(20))
    artifact_prefix: Mapped[str] = mapped_column(String(300))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    evaluation: Mapped[dict[str, Any]]
    card: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GateResult(Base):
    """One gate evaluated for a model version: measured value, bound and verdict."""

    __tablename__ = "gate_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    gate: Mapped[str] = mapped_column(Text)
    measured: Mapped[float | None]
    bound: Mapped[float | None]
    verdict: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]]
    context: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AliasEvent(Base):
    """An alias (champion, challenger…) moved to a model version, or removed. Append-only.

    The alias's current target is its latest event; its target at time ``t`` is the latest event
    at or before ``t`` — "what was in production then" is one query.
    """

    __tablename__ = "alias_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    alias: Mapped[str] = mapped_column(String(40))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Approval(Base):
    """A person's approval of a model version, for gates that require one."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """One revision of what a use case serves: arms with roles and traffic weights. Append-only.

    The current deployment of a use case is its latest revision; every change (deploy, canary
    step, promotion, rollback) writes a new one, so serving replicas hot-reload by polling for a
    newer revision, and "what served at time t" is one query.
    """

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("use_case", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    revision: Mapped[int]
    strategy: Mapped[str] = mapped_column(String(20))
    arms: Mapped[list[Any]]
    salt: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who uses loopline, with one role: admin, maintainer, reviewer or viewer."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """An API token with scopes; only its SHA-256 is stored, never the secret."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser session, with its CSRF token; only hashes are stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Case(Base):
    """An escalated prediction waiting for (or decided by) a person."""

    __tablename__ = "cases"
    __table_args__ = (
        # the SLA sweep: undecided cases past their due time (and any lookup by status)
        Index("ix_cases_status_due_at", "status", "due_at"),
        # a use case's cases (since a time): the review report, the queue's filter
        Index("ix_cases_use_case_created_at", "use_case", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    use_case: Mapped[str] = mapped_column(String(63))
    prediction_id: Mapped[str] = mapped_column(String(64), unique=True)
    request_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(100))
    inputs: Mapped[dict[str, Any]]
    recommendation: Mapped[dict[str, Any]]
    reasons: Mapped[list[Any]]
    out_of_range: Mapped[list[Any]]
    priority: Mapped[float]
    tier: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20))
    audit_sample: Mapped[bool] = mapped_column(default=False)
    sampling_probability: Mapped[float | None]
    double_review: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    """Everything that happened to a case: claims, releases, decisions, escalations, breaches."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """The true outcome of a prediction: a reviewer's decision, a late label, an audit label."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("prediction_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(63), index=True)
    prediction_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(20))
    label: Mapped[dict[str, Any]]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    actor: Mapped[str] = mapped_column(String(200))
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DecisionPolicyRecord(Base):
    """A tuned escalation policy, versioned with the model version it belongs to."""

    __tablename__ = "decision_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    policy: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
