"""An experiment's traffic: each arm's answers from the prediction log, joined to their labels.

Only answers logged while the experiment ran count: ``created_at <= at <= end`` (``end`` is the
time of the look, or when the experiment was decided or stopped), not shadow copies, and from the
model each arm was started with. Labels are the ``feedback`` rows of those answers: for accuracy
and cost the first of ``audit``, ``label``, ``review`` (an audit label is the most careful
look); for a business outcome the ``outcome`` feedback.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.serving import read_predictions
from loopline.spec import ProjectSpec
from loopline.store import Experiment, Feedback

__all__ = ["ARMS", "ArmTraffic", "arm_traffic"]

#: The two arms of an experiment, control first.
ARMS = ("champion", "challenger")

#: Which feedback source wins when a prediction has several labels.
_LABEL_SOURCES = ("audit", "label", "review")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArmTraffic:
    """One arm's answers in the experiment's window.

    Attributes:
        role: ``champion`` (control) or ``challenger`` (treatment).
        model: The model version the arm serves (``use_case@N``).
        answers: Answers logged.
        units: Units assigned (distinct unit keys; a request without one is its own unit): what
            the sample-ratio check counts, since assignment is per unit, not per answer.
        reviews: Answers whose decision was ``review`` (escalated to a person).
        latency_ms: Each answer's latency.
        values: The primary metric per labelled answer: 1.0/0.0 for correct (accuracy), the
            outcome value (outcome), or the cost of the decision (cost).
        costs: The cost of each labelled decision, when the project's costs define one.
    """

    role: str
    model: str
    answers: int
    units: int
    reviews: int
    latency_ms: FloatArray
    values: FloatArray
    costs: FloatArray | None


def _same(prediction: Any, label: Any) -> bool:
    return bool(prediction == label or str(prediction) == str(label))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _labels(session: Session, experiment: Experiment) -> tuple[dict[str, Any], dict[str, float]]:
    """The label (by source precedence) and numeric outcome of each labelled prediction."""
    rows = session.execute(
        select(Feedback.prediction_id, Feedback.source, Feedback.label).where(
            Feedback.use_case == experiment.use_case,
            Feedback.created_at >= experiment.created_at,
        )
    ).all()
    rank: dict[str, int] = {}
    labels: dict[str, Any] = {}
    outcomes: dict[str, float] = {}
    for prediction_id, source, label in rows:
        value = (label or {}).get("value")
        if source == "outcome":
            number = _number(value)
            if number is not None:
                outcomes[prediction_id] = number
        elif source in _LABEL_SOURCES:
            order = _LABEL_SOURCES.index(source)
            if order < rank.get(prediction_id, len(_LABEL_SOURCES)):
                rank[prediction_id], labels[prediction_id] = order, value
    return labels, outcomes


def _cost(spec: ProjectSpec, decision: str, prediction: Any, label: Any) -> float | None:
    costs = spec.objective.costs
    if decision == "review":
        return float(costs.review)
    if costs.false_positive is None or costs.false_negative is None:
        return None
    positive = spec.objective.positive_class
    predicted, actual = _same(prediction, positive), _same(label, positive)
    if predicted and not actual:
        return float(costs.false_positive)
    if actual and not predicted:
        return float(costs.false_negative)
    return 0.0


def _arm(
    frame: pl.DataFrame,
    role: str,
    model: str,
    metric: str,
    spec: ProjectSpec,
    labels: dict[str, Any],
    outcomes: dict[str, float],
) -> ArmTraffic:
    part = frame.filter((pl.col("arm") == role) & (pl.col("model_version") == model))
    values: list[float] = []
    costs: list[float] = []
    has_costs = True
    for prediction_id, decision, text in part.select(
        "prediction_id", "decision", "prediction"
    ).iter_rows():
        if metric == "outcome":
            if prediction_id in outcomes:
                values.append(outcomes[prediction_id])
            continue
        if prediction_id not in labels:
            continue
        label, prediction = labels[prediction_id], json.loads(text)
        cost = _cost(spec, decision, prediction, label)
        has_costs = has_costs and cost is not None
        costs.append(cost if cost is not None else math.nan)
        values.append(float(_same(prediction, label)) if metric == "accuracy" else costs[-1])
    return ArmTraffic(
        role=role,
        model=model,
        answers=part.height,
        units=part.select(pl.coalesce("unit_key", "request_id").n_unique()).item()
        if part.height
        else 0,
        reviews=int((part["decision"] == "review").sum()),
        latency_ms=part["latency_ms"].fill_null(math.nan).drop_nans().to_numpy().astype(float),
        values=np.asarray(values, dtype=np.float64),
        costs=np.asarray(costs, dtype=np.float64) if has_costs and metric != "outcome" else None,
    )


def arm_traffic(
    root: Path, session: Session, experiment: Experiment, spec: ProjectSpec, *, end: datetime
) -> dict[str, ArmTraffic]:
    """Each arm's traffic in the experiment's window, read from the log under ``root``.

    Args:
        root: The prediction log's folder (``<home>/predictions``).
        session: A transaction on the store, for the feedback.
        experiment: The experiment.
        spec: The project (costs and the positive class, for the cost metric).
        end: The end of the window (inclusive).
    """
    # PostgreSQL hands back zone "Etc/UTC", which polars will not compare with the log's "UTC"
    start = experiment.created_at.astimezone(timezone.utc)
    frame = read_predictions(root, experiment.use_case, since=start).filter(
        (pl.col("at") <= end.astimezone(timezone.utc)) & ~pl.col("shadow").fill_null(False)
    )
    labels, outcomes = _labels(session, experiment)
    models = {"champion": experiment.champion, "challenger": experiment.challenger}
    return {
        role: _arm(frame, role, models[role], experiment.primary_metric, spec, labels, outcomes)
        for role in ARMS
    }
