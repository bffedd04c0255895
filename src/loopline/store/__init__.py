"""The metadata store (SQLAlchemy + Alembic), the object store (fsspec) and the audit trail."""

from __future__ import annotations

from loopline.store._audit import list_audit, record_audit
from loopline.store._bulk import RawJson, insert_columns, insert_rows
from loopline.store._checkpoint import WalCheckpointer, without_autocheckpoint
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
from loopline.store._tables_loop import Alert, Experiment, Job, JobStep, MonitorReport

__all__ = [
    "Alert",
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
    "Experiment",
    "Feedback",
    "GateResult",
    "IngestBatch",
    "Job",
    "JobStep",
    "LineageEdge",
    "LineageNode",
    "ModelVersion",
    "MonitorReport",
    "ObjectRef",
    "ObjectStore",
    "RawJson",
    "Run",
    "Store",
    "UseCase",
    "User",
    "WalCheckpointer",
    "WebSession",
    "insert_columns",
    "insert_rows",
    "list_audit",
    "open_store",
    "record_audit",
    "utcnow",
    "without_autocheckpoint",
]
