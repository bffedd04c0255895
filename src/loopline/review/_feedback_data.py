"""Feedback becomes data: new labels, joined to the inputs they label, as a dataset version.

Each run takes the feedback not yet versioned, joins it by prediction id to the logged inputs,
and ingests the rows — inputs, the label in the target column, ``prediction_id`` and
``feedback_source`` — into the feedback dataset (``data.feedback_dataset``, by default
``<dataset>-feedback``) through the use case's contract (the columns a prediction has: the
target and inputs; identifiers the model never sees are not required). Lineage links each
labelled prediction and each decided case to the new version. Audit-sample labels keep
``feedback_source = audit`` so they stay distinguishable.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import polars as pl
from sqlalchemy import select

from loopline._workspace import Workspace
from loopline.data import Contract, load_contract
from loopline.data._ingest import IngestResult, ingest_frame
from loopline.lineage import add_edge, add_node
from loopline.serving._log import read_predictions
from loopline.store import Case, DatasetVersion, Feedback

__all__ = ["feedback_dataset_name", "version_feedback"]


def feedback_dataset_name(ws: Workspace) -> str:
    """The feedback dataset of the workspace's use case."""
    data = ws.project.spec.data
    return data.feedback_dataset or f"{data.dataset}-feedback"


def _subset(contract: Contract, columns: set[str]) -> Contract:
    """The contract's checks on the columns a labelled prediction has.

    Uniqueness and row-count checks are dropped (the same inputs may be labelled twice, for two
    predictions), and so is the batch-level bad-row limit: each bad row is quarantined alone.
    """
    kept = tuple(
        replace(c, unique=False, primary_key=False) for c in contract.columns if c.name in columns
    )
    quality = tuple(
        q
        for q in contract.quality
        if set(q.columns) <= columns and q.kind not in ("row_count", "duplicates", "unique")
    )
    return replace(
        contract,
        columns=kept,
        quality=quality,
        allow_extra_columns=True,
        max_bad_row_fraction=None,
    )


def version_feedback(ws: Workspace) -> IngestResult | None:
    """Ingest the feedback not yet versioned; ``None`` when there is none."""
    spec = ws.project.spec
    with ws.store.transaction() as session:
        pending = session.scalars(
            select(Feedback).where(
                Feedback.use_case == spec.name, Feedback.dataset_version_id.is_(None)
            )
        ).all()
        rows = [(f.id, f.prediction_id, f.source, f.label.get("value"), f.case_id) for f in pending]
    if not rows:
        return None
    log = read_predictions(ws.settings.home / "predictions", spec.name)
    inputs = {
        pid: json.loads(text) for pid, text in zip(log["prediction_id"], log["inputs"], strict=True)
    }
    target = spec.objective.target
    records: list[dict[str, Any]] = []
    used: list[tuple[int, str, int | None]] = []
    for feedback_id, prediction_id, source, label, case_id in rows:
        if prediction_id not in inputs:
            continue  # the log has not been flushed yet; the next run picks it up
        records.append(
            {
                **inputs[prediction_id],
                target: label,
                "prediction_id": prediction_id,
                "feedback_source": source,
            }
        )
        used.append((feedback_id, prediction_id, case_id))
    if not records:
        return None
    frame = pl.DataFrame(records, infer_schema_length=None)
    contract = _subset(load_contract(ws.project.resolve(spec.data.contract)), set(frame.columns))
    result = ingest_frame(ws, frame, dataset=feedback_dataset_name(ws), contract=contract)
    if result.version is None:
        return result
    key = f"{feedback_dataset_name(ws)}@{result.version}"
    with ws.store.transaction() as session:
        version_id = _version_id(session, feedback_dataset_name(ws), result.version)
        version_node = add_node(session, "dataset_version", key)
        for feedback_id, prediction_id, case_id in used:
            row = session.get_one(Feedback, feedback_id)
            row.dataset_version_id = version_id
            feedback_node = add_node(
                session,
                "feedback",
                f"{prediction_id}:{row.source}",
                label=f"label for {prediction_id[:8]}",
            )
            add_edge(
                session,
                add_node(session, "prediction", prediction_id),
                feedback_node,
                "labelled_by",
            )
            add_edge(session, feedback_node, version_node, "collected_into")
            if case_id is not None:
                case = session.get_one(Case, case_id)
                add_edge(session, add_node(session, "case", case.uid), feedback_node, "decided")
    return result


def _version_id(session: Any, dataset: str, version: int) -> int:
    from loopline.store import Dataset

    found = session.scalar(
        select(DatasetVersion.id)
        .join(Dataset, DatasetVersion.dataset_id == Dataset.id)
        .where(Dataset.name == dataset, DatasetVersion.version == version)
    )
    return int(found)
