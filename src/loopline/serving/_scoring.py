"""Turning model outputs into answers: prediction, probability, confidence, set, decision.

The decision here is the simple policy of the serving layer: ``review`` when the calibrated
confidence is below ``serving.escalation.confidence_below`` or the conformal set is ambiguous
(when conformal escalation is configured), ``auto`` otherwise. The full escalation policy (cost
band, out-of-distribution, business rules, audit sample) plugs in through :class:`DecisionPolicy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.spec import EscalationSpec
from loopline.training import TrainedModel

__all__ = ["DecisionPolicy", "score_frame"]


class DecisionPolicy:
    """Decides ``auto`` or ``review`` for each answer and says why.

    Args:
        escalation: The project's ``serving.escalation`` section.
    """

    def __init__(self, escalation: EscalationSpec) -> None:
        self.escalation = escalation

    def decide(self, answer: dict[str, Any], out_of_range: list[str]) -> tuple[str, list[str]]:
        """The decision for one answer, with every reason that applies."""
        reasons = []
        threshold = self.escalation.confidence_below
        confidence = answer.get("confidence")
        if threshold is not None and confidence is not None and confidence < threshold:
            reasons.append("low_confidence")
        prediction_set = answer.get("prediction_set")
        if (
            self.escalation.conformal is not None
            and prediction_set is not None
            and len(prediction_set) != 1
        ):
            reasons.append("ambiguous_set")
        if self.escalation.out_of_distribution and out_of_range:
            reasons.append("out_of_range:" + ",".join(out_of_range))
        return ("review" if reasons else "auto"), reasons


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def score_frame(model: TrainedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Vectorised answers for every row of ``frame`` (decisions are added by the caller)."""
    if model.task == "regression":
        predicted = model.predict(frame)
        lower, upper = model.intervals(predicted)
        return [
            {
                "prediction": float(p),
                "score": float(p),
                "confidence": None,
                "interval": [float(lo), float(hi)],
            }
            for p, lo, hi in zip(predicted, lower, upper, strict=True)
        ]
    proba = model.predict_proba(frame)
    sets = model.prediction_sets(proba)
    labels = [_plain(c) for c in model.classes]
    out = []
    if model.task == "binary_classification":
        positive = proba[:, model.positive_index]
        negative_label = labels[1 - model.positive_index]
        positive_label = labels[model.positive_index]
        for p, row_set in zip(positive, sets, strict=True):
            out.append(
                {
                    "prediction": positive_label if p >= model.threshold else negative_label,
                    "probability": float(p),
                    "confidence": float(max(p, 1.0 - p)),
                    "prediction_set": [labels[i] for i in np.flatnonzero(row_set)],
                }
            )
        return out
    best = np.argmax(proba, axis=1)
    for row, index, row_set in zip(proba, best, sets, strict=True):
        out.append(
            {
                "prediction": labels[index],
                "probability": float(row[index]),
                "confidence": float(row[index]),
                "prediction_set": [labels[i] for i in np.flatnonzero(row_set)],
            }
        )
    return out
