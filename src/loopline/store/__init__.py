"""The metadata store (SQLAlchemy + Alembic), the object store (fsspec) and the audit trail."""

from __future__ import annotations

from loopline.store._audit import list_audit, record_audit
from loopline.store._objects import ObjectRef, ObjectStore
from loopline.store._store import Store, open_store
from loopline.store._tables import (
    AliasEvent,
    ApiToken,
    Approval,
    AuditEvent,
    Base,
    Case,
    CaseEvent,
    Contract,
    Dataset,
    DatasetVersion,
    DecisionPolicyRecord,
    Deployment,
    Feedback,
    GateResult,
    IngestBatch,
    LineageEdge,
    LineageNode,
    ModelVersion,
    Run,
    UseCase,
    User,
    WebSession,
    utcnow,
)

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
    "ObjectRef",
    "ObjectStore",
    "Run",
    "Store",
    "UseCase",
    "User",
    "WebSession",
    "list_audit",
    "open_store",
    "record_audit",
    "utcnow",
]
