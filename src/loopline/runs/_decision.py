"""The decision layer of a run: tuning, calibration, threshold, conformal sets and novelty.

Everything here is fitted on the training or calibration rows, never on the test rows.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from loopline.errors import TrainingError, UserCodeError
from loopline.spec import TrainingSpec
from loopline.training._calibration import choose_calibration
from loopline.training._conformal import ConformalClassifier, ConformalRegressor
from loopline.training._costs import cost_optimal_threshold
from loopline.training._evaluate import binary_outcome
from loopline.training._metrics import binary_metrics, regression_metrics
from loopline.training._model import TrainedModel
from loopline.training._pipeline import build_pipeline
from loopline.training._signature import Signature
from loopline.training._split import Split

__all__ = ["calibrate", "fit_novelty", "holdout_parquet", "tune"]

Progress = Any


def tune(
    signature: Signature,
    training: TrainingSpec,
    parts: dict[str, pd.DataFrame],
    labels: pd.Series,
    split: Split,
    say: Progress,
) -> tuple[dict[str, Any], Any]:
    """Search training.tuning.space, scoring each trial on the calibration rows."""
    from loopline.training._tuning import tune_params

    assert training.tuning is not None  # checked by the caller
    metric = training.tuning.metric
    train_x, train_y = parts["train"][signature.names], labels.iloc[split.train]
    cal_x, cal_y = parts["calibration"][signature.names], labels.iloc[split.calibration]

    def score(params: dict[str, Any]) -> float:
        candidate = build_pipeline(signature, training.estimator, params, seed=training.seed)
        try:
            candidate.fit(train_x, train_y)
        except Exception as exc:
            raise UserCodeError(training.estimator, "fit (tuning)", exc) from exc
        if signature.task == "regression":
            values = regression_metrics(cal_y.to_numpy(dtype=np.float64), candidate.predict(cal_x))
        elif signature.task == "binary_classification":
            index = list(candidate.classes_).index(signature.positive_class)
            positive = candidate.predict_proba(cal_x)[:, index]
            outcome = (cal_y.to_numpy() == signature.positive_class).astype(np.int64)
            values = binary_metrics(outcome, positive, threshold=0.5)
        else:
            values = {"accuracy": float(np.mean(candidate.predict(cal_x) == cal_y.to_numpy()))}
        if metric not in values:
            raise TrainingError(
                f"training.tuning.metric {metric!r} is not available for "
                f"{signature.task}; choose one of {', '.join(sorted(values))}."
            )
        return float(values[metric])

    best, summary = tune_params(
        training.tuning, dict(training.params), score, seed=training.seed, progress=say
    )
    return best, summary


def calibrate(
    pipeline: Any,
    signature: Signature,
    rows: pd.DataFrame,
    labels: pd.Series,
    training: TrainingSpec,
    costs: Any,
) -> tuple[TrainedModel, dict[str, Any]]:
    """Fit calibrator, decision threshold and conformal quantile on the calibration rows."""
    classes = tuple(getattr(pipeline, "classes_", ()))
    if signature.task == "regression":
        predicted = np.asarray(pipeline.predict(rows[signature.names]), dtype=np.float64)
        conformal = ConformalRegressor(alpha=training.conformal_alpha).fit(
            predicted, labels.to_numpy(dtype=np.float64)
        )
        return TrainedModel(signature, pipeline, None, conformal, 0.5, classes), {}
    model = TrainedModel(signature, pipeline, None, None, 0.5, classes)
    raw = np.asarray(pipeline.predict_proba(rows[signature.names]), dtype=np.float64)
    if signature.task == "multiclass_classification":
        y_index = np.searchsorted(np.asarray(classes, dtype=object), labels.to_numpy())
        model.conformal = ConformalClassifier(alpha=training.conformal_alpha).fit(raw, y_index)
        return model, {}
    y = binary_outcome(model, labels)
    positive_raw = raw[:, model.positive_index]
    half = len(y) // 2
    calibrator, report = choose_calibration(
        positive_raw[:half], y[:half], positive_raw[half:], y[half:], method=training.calibration
    )
    if calibrator is not None:  # refit the chosen method on every calibration row
        calibrator = type(calibrator)(method=calibrator.method).fit(positive_raw, y)
    model.calibrator = calibrator
    proba = model.predict_proba(rows)
    positive = proba[:, model.positive_index]
    model.threshold, _ = cost_optimal_threshold(
        y,
        positive,
        false_positive=costs.false_positive or 0.0,
        false_negative=costs.false_negative or 0.0,
    )
    y_column = np.where(y == 1, model.positive_index, 1 - model.positive_index)
    model.conformal = ConformalClassifier(alpha=training.conformal_alpha).fit(proba, y_column)
    return model, dict(report)


def fit_novelty(model: TrainedModel, train: pd.DataFrame, rate: float, seed: int) -> None:
    """An isolation forest on the preprocessed training rows, thresholded to flag ``rate``."""
    from sklearn.ensemble import IsolationForest

    features = model.pipeline[:-1].transform(train[model.signature.names])
    forest = IsolationForest(
        n_estimators=100, max_samples=min(2048, len(features)), random_state=seed
    ).fit(features)
    scores = -forest.score_samples(features)
    model.novelty = {
        "forest": forest,
        "threshold": float(np.quantile(scores, 1.0 - rate)),
        "rate": rate,
    }


def holdout_parquet(model: TrainedModel, test: pd.DataFrame, labels: pd.Series) -> bytes:
    """The test rows' outcomes and answers, kept with the model for threshold tuning and as
    the monitoring reference (Parquet bytes)."""
    if model.task == "regression":
        predicted = model.predict(test)
        frame = pl.DataFrame({"y": labels.to_numpy(dtype=np.float64), "prediction": predicted})
    else:
        proba = model.predict_proba(test)
        sets = model.prediction_sets(proba)
        columns: dict[str, Any] = {
            "label": [str(v) for v in labels.to_numpy()],
            "prediction": [str(v) for v in model.predict(test)],
            "confidence": decision_confidence(model, proba),
            "set_size": sets.sum(axis=1),
        }
        if model.task == "binary_classification":
            columns["y"] = binary_outcome(model, labels)
            columns["probability"] = proba[:, model.positive_index]
        frame = pl.DataFrame(columns)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def decision_confidence(model: TrainedModel, proba: Any) -> Any:
    """The probability that the decision made is right (binary: at the model's threshold)."""
    if model.task != "binary_classification":
        return proba.max(axis=1)
    positive = proba[:, model.positive_index]
    return np.where(positive >= model.threshold, positive, 1.0 - positive)
