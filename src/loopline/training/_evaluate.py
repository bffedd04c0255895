"""Evaluation on held-out rows, in the business's terms: metrics, costs, slices, calibration.

Every number here is computed on the **test** rows, which nothing was fitted on. The decision
threshold, the calibrator and the conformal quantile were fitted on the calibration rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import precision_recall_curve, r2_score, roc_curve

from loopline.charts import Series, bar_chart, line_chart
from loopline.spec import Costs
from loopline.training._costs import baseline_costs, cost_per_1000, threshold_cost_curve
from loopline.training._metrics import (
    binary_metrics,
    expected_calibration_error,
    multiclass_metrics,
    regression_metrics,
    reliability_curve,
    roc_auc,
)
from loopline.training._model import TrainedModel
from loopline.training._slices import slice_gap, slice_metrics

__all__ = ["binary_outcome", "evaluate_model", "measure_latency"]

_IMPORTANCE_ROWS = 2000
_IMPORTANCE_REPEATS = 3
#: Shuffled copies are scored together, up to about this many values per call.
_IMPORTANCE_CELLS_PER_CALL = 2_500_000
_CURVE_POINTS = 101
#: Single-row latency is timed for about this many seconds at most, on at least so many rows.
_LATENCY_BUDGET_S = 1.5
_LATENCY_MIN_ROWS = 50


def binary_outcome(model: TrainedModel, labels: pd.Series) -> npt.NDArray[np.int64]:
    """Labels as 1 for the positive class and 0 otherwise."""
    outcome: npt.NDArray[np.int64] = (labels.to_numpy() == model.signature.positive_class).astype(
        np.int64
    )
    return outcome


def measure_latency(model: TrainedModel, rows: pd.DataFrame) -> dict[str, float]:
    """Single-row latency percentiles and batch throughput of the full prediction path.

    Single rows are timed one call each: 200 of them, or as many as fit in
    ``_LATENCY_BUDGET_S`` but at least ``_LATENCY_MIN_ROWS`` (a slow model on a busy machine
    took 6 s for 200, and every training pays it).
    """
    rows = model.inputs(rows.head(500))  # the model's columns once, not per call
    single = rows.head(200)
    times: list[float] = []
    deadline = time.perf_counter() + _LATENCY_BUDGET_S
    for index in range(len(single)):
        start = time.perf_counter()
        _predict_once(model, single.iloc[index : index + 1])
        times.append((time.perf_counter() - start) * 1000)
        if len(times) >= _LATENCY_MIN_ROWS and time.perf_counter() > deadline:
            break
    batch = rows.head(500)
    start = time.perf_counter()
    _predict_once(model, batch)
    elapsed = time.perf_counter() - start
    return {
        "latency_p50_ms": float(np.percentile(times, 50)),
        "latency_p99_ms": float(np.percentile(times, 99)),
        "batch_rows_per_s": float(len(batch) / elapsed) if elapsed > 0 else float("inf"),
    }


def _predict_once(model: TrainedModel, rows: pd.DataFrame) -> None:
    if model.task == "regression":
        model.predict(rows)
    else:
        model.predict_proba(rows)


def evaluate_model(
    model: TrainedModel,
    test: pd.DataFrame,
    labels: pd.Series,
    *,
    costs: Costs,
    slices: tuple[str, ...],
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Evaluate ``model`` on the test rows.

    Returns:
        ``(metrics, evaluation, plots)``: flat metrics for gates and tables; the full evaluation
        (curves, slices, costs, conformal coverage, importance); SVG plots by file name.
    """
    if model.task == "regression":
        return _evaluate_regression(model, test, labels, slices=slices, seed=seed)
    if model.task == "multiclass_classification":
        proba = model.predict_proba(test)
        y_index = np.searchsorted(np.asarray(model.classes, dtype=object), labels.to_numpy())
        result: dict[str, Any] = dict(multiclass_metrics(y_index, proba))
        sets = model.prediction_sets(proba)
        result["conformal_coverage"] = float(sets[np.arange(len(y_index)), y_index].mean())
        summary: dict[str, Any] = {"conformal": {"mean_set_size": float(sets.sum(axis=1).mean())}}
        return result, summary, {}
    y = binary_outcome(model, labels)
    proba = model.predict_proba(test)
    positive = proba[:, model.positive_index]
    raw = np.asarray(model.pipeline.predict_proba(model.inputs(test)))[:, model.positive_index]
    metrics: dict[str, Any] = dict(binary_metrics(y, positive, threshold=model.threshold))
    metrics["ece"] = expected_calibration_error(y, positive)
    metrics["ece_uncalibrated"] = expected_calibration_error(y, raw)
    metrics["threshold"] = model.threshold
    fp, fn = costs.false_positive or 0.0, costs.false_negative or 0.0
    metrics["cost_per_1000"] = cost_per_1000(
        y, positive, threshold=model.threshold, false_positive=fp, false_negative=fn
    )
    sets = model.prediction_sets(proba)
    y_column = np.where(y == 1, model.positive_index, 1 - model.positive_index)
    metrics["conformal_coverage"] = float(sets[np.arange(len(y)), y_column].mean())
    per_slice = {
        column: slice_metrics(
            y, positive, test[column].astype(str).to_numpy(), threshold=model.threshold
        )
        for column in slices
    }
    gaps = {
        column: {
            m: slice_gap(per_slice[column], m)
            for m in ("recall", "precision", "accuracy", "roc_auc")
        }
        for column in slices
    }
    curve = threshold_cost_curve(y, positive, false_positive=fp, false_negative=fn)
    fpr, tpr, _ = roc_curve(y, positive)
    precision, recall, _ = precision_recall_curve(y, positive)
    evaluation: dict[str, Any] = {
        "rows": len(y),
        "costs": {
            "currency": costs.currency,
            "model": metrics["cost_per_1000"],
            **baseline_costs(y, false_positive=fp, false_negative=fn, review=costs.review),
        },
        "reliability": reliability_curve(y, positive),
        "reliability_uncalibrated": reliability_curve(y, raw),
        "slices": per_slice,
        "slice_gaps": gaps,
        "conformal": {
            "alpha": getattr(model.conformal, "alpha", None),
            "coverage": metrics["conformal_coverage"],
            "mean_set_size": float(sets.sum(axis=1).mean()),
            "ambiguous_share": float((sets.sum(axis=1) != 1).mean()),
        },
        "threshold_cost": curve,
        "importance": _importance(model, test, labels, seed),
    }
    plots = {
        "reliability.svg": line_chart(
            [
                Series(
                    "calibrated",
                    _points(evaluation["reliability"])[0],
                    _points(evaluation["reliability"])[1],
                ),
                Series(
                    "uncalibrated",
                    _points(evaluation["reliability_uncalibrated"])[0],
                    _points(evaluation["reliability_uncalibrated"])[1],
                    dashed=True,
                ),
            ],
            title=f"Reliability (ECE {metrics['ece']:.3f})",
            x_label="mean predicted probability",
            y_label="observed positive rate",
            x_range=(0, 1),
            y_range=(0, 1),
            diagonal=True,
        ),
        "roc.svg": line_chart(
            [Series(f"ROC AUC {metrics['roc_auc']:.3f}", _thin(fpr), _thin(tpr))],
            title="ROC curve",
            x_label="false positive rate",
            y_label="true positive rate",
            x_range=(0, 1),
            y_range=(0, 1),
            diagonal=True,
        ),
        "pr.svg": line_chart(
            [Series(f"PR AUC {metrics['pr_auc']:.3f}", _thin(recall), _thin(precision))],
            title="Precision-recall curve",
            x_label="recall",
            y_label="precision",
            x_range=(0, 1),
            y_range=(0, 1),
        ),
        "threshold_cost.svg": line_chart(
            [Series(f"cost per 1,000 ({costs.currency})", curve["thresholds"], curve["costs"])],
            title=f"Cost vs threshold (chosen {model.threshold:.3f})",
            x_label="threshold",
            y_label="cost per 1,000 decisions",
            x_range=(0, 1),
        ),
    }
    importance: list[dict[str, Any]] = evaluation["importance"]
    if importance:
        plots["importance.svg"] = bar_chart(
            [item["feature"] for item in importance[:15]],
            [item["importance"] for item in importance[:15]],
            title="Permutation importance (drop in ROC AUC)",
        )
    return metrics, evaluation, plots


def _evaluate_regression(
    model: TrainedModel,
    test: pd.DataFrame,
    labels: pd.Series,
    *,
    slices: tuple[str, ...],
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    y = labels.to_numpy(dtype=np.float64)
    predicted = model.predict(test)
    metrics = regression_metrics(y, predicted)
    lower, upper = model.intervals(predicted)
    metrics["conformal_coverage"] = float(((y >= lower) & (y <= upper)).mean())
    metrics["interval_width"] = float(np.mean(upper - lower))
    evaluation = {
        "rows": len(y),
        "conformal": {
            "coverage": metrics["conformal_coverage"],
            "mean_width": metrics["interval_width"],
        },
        "importance": _importance(model, test, labels, seed),
    }
    return metrics, evaluation, {}


def _points(curve: dict[str, Any]) -> tuple[list[float], list[float | None]]:
    xs, ys = [], []
    for x, y in zip(curve["mean_predicted"], curve["observed_rate"], strict=True):
        if x is not None:
            xs.append(float(x))
            ys.append(y)
    return xs, ys


def _thin(values: npt.NDArray[Any], points: int = 200) -> list[float]:
    if len(values) <= points:
        return [float(v) for v in values]
    index = np.linspace(0, len(values) - 1, points).astype(int)
    return [float(v) for v in values[index]]


def _importance(
    model: TrainedModel, test: pd.DataFrame, labels: pd.Series, seed: int
) -> list[dict[str, Any]]:
    """Permutation importance of each input on up to 2,000 test rows (3 shuffles each).

    The drop in ROC AUC (binary), accuracy (multiclass) or R² (regression) when the column's
    values are shuffled; the full prediction path (preprocessing, calibration) is used. The
    shuffles are scikit-learn's (``sklearn.inspection.permutation_importance`` with
    ``random_state=seed`` gives the same numbers), but the shuffled copies are scored together,
    dozens per call: one call per copy cost about three times as much (the pipeline's fixed
    cost per call is larger than its cost for 2,000 rows).
    """
    rows = test.head(_IMPORTANCE_ROWS)[model.signature.names].reset_index(drop=True)
    target = labels.head(_IMPORTANCE_ROWS).to_numpy()
    predict, score = _scorer(model, target)
    baseline = score(predict(rows))
    # as permutation_importance does: one seed drawn from ``seed``, each column's shuffles drawn
    # from it afresh, each shuffle applied to the column as the previous one left it
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)

    def shuffled_columns() -> Iterator[tuple[str, npt.NDArray[Any]]]:
        for name in model.signature.names:
            state = np.random.RandomState(column_seed)
            order = np.arange(len(rows))
            values = rows[name].to_numpy()
            for _ in range(_IMPORTANCE_REPEATS):
                state.shuffle(order)
                values = values[order]
                yield name, values

    size = len(rows)
    per_call = max(1, _IMPORTANCE_CELLS_PER_CALL // max(size * rows.shape[1], 1))
    shuffles = shuffled_columns()
    drops: list[float] = []
    while chunk := list(islice(shuffles, per_call)):
        outputs = predict(_stacked(rows, chunk))
        drops.extend(
            baseline - score(outputs[k * size : (k + 1) * size]) for k in range(len(chunk))
        )
    out = []
    for index, name in enumerate(model.signature.names):
        mine = drops[index * _IMPORTANCE_REPEATS : (index + 1) * _IMPORTANCE_REPEATS]
        out.append(
            {"feature": name, "importance": float(np.mean(mine)), "std": float(np.std(mine))}
        )
    return sorted(out, key=lambda item: -item["importance"])


def _stacked(rows: pd.DataFrame, copies: list[tuple[str, npt.NDArray[Any]]]) -> pd.DataFrame:
    """``rows`` once per copy, one under the other, each with its one column's values replaced:
    built column by column in NumPy (a frame per copy and a ``concat`` cost ~1.5 ms a copy)."""
    size = len(rows)
    stacked = {name: np.tile(rows[name].to_numpy(), len(copies)) for name in rows.columns}
    for index, (name, values) in enumerate(copies):
        stacked[name][index * size : (index + 1) * size] = values
    return pd.DataFrame(
        {
            name: values
            if values.dtype == rows[name].dtype
            else pd.Series(values, dtype=rows[name].dtype)
            for name, values in stacked.items()
        }
    )


def _scorer(model: TrainedModel, target: npt.NDArray[Any]) -> tuple[Any, Any]:
    """How to predict rows, and the score of those predictions against ``target``."""
    if model.task == "binary_classification":
        y = (target == model.signature.positive_class).astype(np.int64)
        return model.positive_proba, lambda outputs: roc_auc(y, outputs)
    if model.task == "multiclass_classification":
        return model.predict, lambda outputs: float(np.mean(outputs == target))
    return model.predict, lambda outputs: float(r2_score(target.astype(np.float64), outputs))
