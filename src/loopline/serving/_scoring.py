"""Turning model outputs into answers: prediction, probability, confidence, set or interval.

Decisions (``auto`` or ``review``) are added by the escalation policy (``loopline.review``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.training import TrainedModel

__all__ = ["score_frame"]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def score_frame(model: TrainedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Vectorised answers for every row of ``frame`` (decisions are added by the caller).

    Runs in the model thread, once per micro-batch; when the model has a novelty detector each
    answer also carries ``_novel`` for the escalation policy (removed before the response).
    """
    answers = _score(model, frame)
    if getattr(model, "novelty", None) is not None:
        for answer, novel in zip(answers, model.is_novel(frame), strict=True):
            answer["_novel"] = bool(novel)
    return answers


def _score(model: TrainedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
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
                    # confidence in the decision made: the probability that it is right
                    "confidence": float(p if p >= model.threshold else 1.0 - p),
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
