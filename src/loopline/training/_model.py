"""A trained model as loopline serves it: pipeline + calibration + conformal + threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

from loopline.training._signature import Signature

__all__ = ["TrainedModel", "to_pandas"]

Floats = npt.NDArray[np.float64]


def to_pandas(data: Any, columns: list[str]) -> pd.DataFrame:
    """The model's input columns as a pandas frame, from polars, pandas or a list of records."""
    if isinstance(data, pl.DataFrame):
        frame = data.select(columns).to_pandas()
    elif isinstance(data, pd.DataFrame):
        frame = data if list(data.columns) == columns else data[columns]
    else:
        frame = pd.DataFrame.from_records(list(data), columns=columns)
    return frame


@dataclass
class TrainedModel:
    """Everything needed to answer one request, in one picklable object.

    Attributes:
        signature: The inputs it accepts and the task.
        pipeline: Preprocessing and the fitted estimator (scikit-learn ``Pipeline``).
        calibrator: Recalibrates the positive-class probability (binary), or ``None``.
        conformal: Split-conformal predictor for sets (classification) or intervals.
        threshold: The decision threshold on the calibrated probability (binary).
        classes: The labels, in the order of the estimator's probability columns.
    """

    signature: Signature
    pipeline: Any
    calibrator: Any
    conformal: Any
    threshold: float
    classes: tuple[Any, ...]
    novelty: Any = None

    @property
    def task(self) -> str:
        """``binary_classification``, ``multiclass_classification`` or ``regression``."""
        return self.signature.task

    @property
    def positive_index(self) -> int:
        """The column of the positive class in :meth:`predict_proba` (binary)."""
        positive = self.signature.positive_class
        return self.classes.index(positive) if positive in self.classes else len(self.classes) - 1

    def inputs(self, data: Any) -> pd.DataFrame:
        """The model's input columns of ``data`` as a pandas frame."""
        return to_pandas(data, self.signature.names)

    def predict_proba(self, data: Any) -> Floats:
        """Calibrated class probabilities, one column per class in :attr:`classes` order."""
        raw = np.asarray(self.pipeline.predict_proba(self.inputs(data)), dtype=np.float64)
        if self.calibrator is None or self.task != "binary_classification":
            return raw
        positive = np.clip(self.calibrator.transform(raw[:, self.positive_index]), 0.0, 1.0)
        out = np.empty_like(raw)
        out[:, self.positive_index] = positive
        out[:, 1 - self.positive_index] = 1.0 - positive
        return out

    def positive_proba(self, data: Any) -> Floats:
        """Calibrated probability of the positive class (binary)."""
        return self.predict_proba(data)[:, self.positive_index]

    def predict(self, data: Any) -> npt.NDArray[Any]:
        """Labels (classification, at :attr:`threshold` for binary) or values (regression)."""
        if self.task == "regression":
            return np.asarray(self.pipeline.predict(self.inputs(data)), dtype=np.float64)
        proba = self.predict_proba(data)
        labels = np.asarray(self.classes, dtype=object)
        if self.task == "binary_classification":
            negative = 1 - self.positive_index
            chosen = np.where(
                proba[:, self.positive_index] >= self.threshold, self.positive_index, negative
            )
            decided: npt.NDArray[Any] = labels[chosen]
            return decided
        best: npt.NDArray[Any] = labels[np.argmax(proba, axis=1)]
        return best

    def is_novel(self, data: Any) -> npt.NDArray[np.bool_]:
        """Rows unlike the training data (``False`` everywhere without a novelty detector).

        The detector is an isolation forest on the preprocessed training rows; its threshold
        flags ``escalation.novelty_rate`` of the training rows themselves.
        """
        frame = self.inputs(data)
        detector = getattr(self, "novelty", None)  # absent in models pickled before it existed
        if detector is None:
            return np.zeros(len(frame), dtype=bool)
        features = self.pipeline[:-1].transform(frame)
        scores = -detector["forest"].score_samples(features)
        flags: npt.NDArray[np.bool_] = scores > detector["threshold"]
        return flags

    def prediction_sets(self, proba: Floats) -> npt.NDArray[np.bool_]:
        """Conformal prediction sets for given probabilities (rows x classes, True = in set)."""
        return np.asarray(self.conformal.predict_sets(proba), dtype=bool)

    def intervals(self, predictions: Floats) -> tuple[Floats, Floats]:
        """Conformal intervals around regression predictions."""
        lower, upper = self.conformal.predict_intervals(predictions)
        return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
