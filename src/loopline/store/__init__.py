"""The metadata store (SQLAlchemy + Alembic), the object store (fsspec) and the audit trail."""

from __future__ import annotations

from loopline.store._audit import list_audit, record_audit
from loopline.store._objects import ObjectRef, ObjectStore
from loopline.store._store import Store, open_store
from loopline.store._tables import (
    AliasEvent,
    Approval,
    AuditEvent,
    Base,
    Contract,
    Dataset,
    DatasetVersion,
    Deployment,
    GateResult,
    IngestBatch,
    LineageEdge,
    LineageNode,
    ModelVersion,
    Run,
    UseCase,
    utcnow,
)

__all__ = [
    "AliasEvent",
    "Approval",
    "AuditEvent",
    "Base",
    "Contract",
    "Dataset",
    "DatasetVersion",
    "Deployment",
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
    "list_audit",
    "open_store",
    "record_audit",
    "utcnow",
]
