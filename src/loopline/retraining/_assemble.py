"""Training data for a retraining: the latest base version plus the labelled feedback.

The new labels are versioned first (``review.version_feedback``), then joined to the latest
version of the base dataset: feedback rows are de-duplicated by prediction (the latest label
wins) and dropped where an identical row (same inputs, same label) is already in the base data,
so traffic replayed from the training data does not count twice. The result goes through the
use case's contract — the checks a labelled prediction can satisfy, as for the feedback dataset
— into a new version of ``<dataset>-training``, with lineage from both inputs.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select

from loopline._workspace import Workspace
from loopline.data import load_contract
from loopline.data._datasets import DatasetRef, get_version, load_version
from loopline.data._ingest import ingest_frame
from loopline.errors import DatasetError, TrainingError
from loopline.lineage import add_edge, add_node
from loopline.review._feedback_data import _subset, feedback_dataset_name, version_feedback
from loopline.store import Dataset

__all__ = ["assemble_training_data", "training_dataset_name"]

_FEEDBACK_COLUMNS = ("prediction_id", "feedback_source")


def training_dataset_name(ws: Workspace) -> str:
    """The dataset retraining writes: ``<dataset>-training``."""
    return f"{ws.project.spec.data.dataset}-training"


def _latest(ws: Workspace, name: str) -> tuple[str, pl.DataFrame] | None:
    with ws.store.transaction() as session:
        if session.scalar(select(Dataset.id).where(Dataset.name == name)) is None:
            return None
        try:
            version = get_version(session, DatasetRef(name)).version
        except DatasetError:
            return None
    ref = DatasetRef(name, version)
    return f"{name}@{version}", load_version(ws, ref)


def assemble_training_data(ws: Workspace) -> dict[str, Any]:
    """Build and ingest the training data of a retraining; returns what it used.

    Raises:
        TrainingError: The base dataset has no version to start from.
    """
    spec = ws.project.spec
    version_feedback(ws)
    base = _latest(ws, spec.data.dataset)
    if base is None:
        raise TrainingError(
            f"Dataset {spec.data.dataset!r} has no version to retrain from.",
            hint="Ingest the base data first: `loopline ingest FILE`.",
        )
    base_ref, base_frame = base
    feedback = _latest(ws, feedback_dataset_name(ws))
    target = spec.objective.target
    feedback_rows = 0
    combined = base_frame
    feedback_ref = None
    if feedback is not None and feedback[1].height:
        feedback_ref, labelled = feedback
        labelled = labelled.unique("prediction_id", keep="last", maintain_order=True)
        shared = [c for c in base_frame.columns if c in labelled.columns]
        labelled = labelled.select(shared).cast(
            {c: base_frame.schema[c] for c in shared}, strict=False
        )
        keys = [c for c in shared if c != "ID"]
        labelled = labelled.join(
            base_frame.select(keys).unique(), on=keys, how="anti", nulls_equal=True
        )
        feedback_rows = labelled.height
        combined = pl.concat([base_frame, labelled], how="diagonal_relaxed")
    contract = _subset(load_contract(ws.project.resolve(spec.data.contract)), set(combined.columns))
    name = training_dataset_name(ws)
    result = ingest_frame(ws, combined, dataset=name, contract=contract, mode="overwrite")
    if result.version is None:
        raise TrainingError(
            f"The assembled training data ({combined.height} rows) was refused by the contract.",
            hint="Inspect the quarantine of the training dataset: "
            f"`loopline datasets quarantine {name}`.",
        )
    ref = f"{name}@{result.version}"
    with ws.store.transaction() as session:
        node = add_node(session, "dataset_version", ref)
        add_edge(session, add_node(session, "dataset_version", base_ref), node, "assembled_into")
        if feedback_ref is not None:
            add_edge(
                session, add_node(session, "dataset_version", feedback_ref), node, "assembled_into"
            )
    return {
        "dataset": ref,
        "base": base_ref,
        "feedback": feedback_ref,
        "rows": combined.height,
        "base_rows": base_frame.height,
        "feedback_rows": feedback_rows,
        "target": target,
    }
