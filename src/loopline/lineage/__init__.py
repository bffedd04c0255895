"""Lineage: the graph of what was made from what, and OpenLineage events for other tools."""

from __future__ import annotations

from loopline.lineage._graph import (
    NODE_KINDS,
    LineageTree,
    add_edge,
    add_node,
    find_node,
    walk,
)
from loopline.lineage._openlineage import EventType, new_run_id, run_event
from loopline.lineage._openlineage_models import (
    Assertion,
    ColumnMetrics,
    DatasetRef,
    ParentRun,
    QualityMetrics,
)
from loopline.lineage._openlineage_transports import (
    FileTransport,
    HttpTransport,
    Transport,
    emit,
    transport_from_settings,
)

__all__ = [
    "NODE_KINDS",
    "Assertion",
    "ColumnMetrics",
    "DatasetRef",
    "EventType",
    "FileTransport",
    "HttpTransport",
    "LineageTree",
    "ParentRun",
    "QualityMetrics",
    "Transport",
    "add_edge",
    "add_node",
    "emit",
    "find_node",
    "new_run_id",
    "run_event",
    "transport_from_settings",
    "walk",
]
