"""Realised performance with intervals, and label-free estimated performance (CBPE).

Realised performance is computed once labels (feedback) have been joined to predictions:

- accuracy, precision and recall with a **Wilson** score interval; the denominator is all rows
  for accuracy, the predicted positives for precision and the actual positives for recall (it
  is the ``n`` of the :class:`MetricValue`);
- f1 with a seeded **bootstrap percentile** interval: resampling rows only moves counts between
  the four confusion cells, so each resample is one multinomial draw of those counts;
- roc_auc with a **DeLong** interval (normal, from the structural components of the rank
  statistic, ties counted half; clipped to [0, 1]);
- for regression, mae and rmse with a seeded bootstrap percentile interval over rows; for
  multiclass classification, accuracy with a Wilson interval.

Estimated performance needs no labels. Assuming the probabilities are calibrated, the label of
a row is Bernoulli(``p``), so the confusion matrix at threshold ``t`` has the expectation
``E[TP] = Σ_{p≥t} p``, ``E[FP] = Σ_{p≥t} (1 - p)``, ``E[FN] = Σ_{p<t} p``,
``E[TN] = Σ_{p<t} (1 - p)``. As NannyML's CBPE does, each metric is the ratio of these
expectations: accuracy ``(E[TP] + E[TN]) / n``, precision ``E[TP] / (E[TP] + E[FP])``, recall
``E[TP] / (E[TP] + E[FN])``, f1 ``2 E[TP] / (2 E[TP] + E[FP] + E[FN])``. Accuracy and precision
are then exact expectations (their denominators do not depend on the labels); recall and f1 are
close to, not equal to, the expected realised value. roc_auc is the same ratio over pairs:
``Σ_{i≠j} p_i (1 - p_j) [p_i > p_j] / Σ_{i≠j} p_i (1 - p_j)`` with ties counted half.

The band around an estimate is the sampling-error band of the *realised* metric under the
calibration assumption: labels are simulated ``simulations`` times, each metric is computed per
simulation (roc_auc from the sum of the ranks of the positives), and the band is the central
``confidence`` share of those values. A realised value outside the band means the window's
labels do not behave as the probabilities say: miscalibration, or concept drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from loopline.errors import DataError, Problem

__all__ = [
    "BINARY_METRICS",
    "MULTICLASS_METRICS",
    "REGRESSION_METRICS",
    "MetricValue",
    "compare",
    "realised_performance",
]

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MULTICLASS_METRICS = ("accuracy",)
REGRESSION_METRICS = ("mae", "rmse")
_TASK_METRICS = {
    "binary_classification": BINARY_METRICS,
    "multiclass_classification": MULTICLASS_METRICS,
    "regression": REGRESSION_METRICS,
}
#: Most cells of one simulated or resampled block (bounds memory for large windows).
_BLOCK_CELLS = 1 << 22

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class MetricValue:
    """One metric on one window, with the interval around it and how it was made.

    Attributes:
        name: The metric (``accuracy``, ``roc_auc``, ``mae`` …).
        value: The point value; ``None`` when the metric is undefined on this window.
        low: The lower end of the interval or band, ``None`` when there is none.
        high: The upper end of the interval or band, ``None`` when there is none.
        n: The count the metric is computed over (for precision the predicted positives, for
            recall the actual positives, otherwise the rows).
        method: How the interval was made: ``wilson``, ``bootstrap``, ``delong``,
            ``cbpe_simulation`` or ``bernoulli_normal``.
        reason: Why ``value`` (or the interval) is missing, when it is.
    """

    name: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``None``, never NaN, for what is undefined)."""
        return asdict(self)


def realised_performance(
    y_true: Sequence[Any] | np.ndarray,
    *,
    probability: np.ndarray | None,
    prediction: Sequence[Any] | np.ndarray,
    positive: Any,
    task: str = "binary_classification",
    metrics: Sequence[str] = BINARY_METRICS,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """The metrics of labelled predictions, each with its ``confidence`` interval.

    Args:
        y_true: The labels (values for regression).
        probability: The probability of ``positive`` per row (binary only; needed for roc_auc).
        prediction: The predicted labels (values for regression).
        positive: The positive class (binary only).
        task: ``binary_classification``, ``multiclass_classification`` or ``regression``.
        metrics: The metrics to compute; left at the default, a multiclass task computes
            accuracy and a regression task mae and rmse.
        confidence: The coverage of the intervals.
        resamples: The bootstrap resamples (f1, mae, rmse).
        seed: The seed of the bootstrap.

    Raises:
        DataError: The task or a metric is unknown, the arrays differ in length, or labels,
            values or probabilities are missing or out of range.
    """
    names = _metric_names(task, metrics)
    z = _z(confidence)
    truth = _column(y_true, "y_true", numeric=task == "regression")
    predicted = _column(prediction, "prediction", numeric=task == "regression")
    _same_length(truth, predicted, "prediction")
    rng = np.random.default_rng(seed)
    if task == "regression":
        return _regression(truth, predicted, names, confidence, resamples, rng)
    if task == "multiclass_classification":
        return {
            "accuracy": _wilson_metric("accuracy", int((truth == predicted).sum()), truth.size, z)
        }
    scores = None if probability is None else _probabilities(probability, "probability")
    if scores is not None:
        _same_length(truth, scores, "probability")
    actual = np.asarray(truth == positive, dtype=bool)
    decided = np.asarray(predicted == positive, dtype=bool)
    tp = int((actual & decided).sum())
    fp = int(decided.sum()) - tp
    fn = int(actual.sum()) - tp
    tn = truth.size - tp - fp - fn
    out: dict[str, MetricValue] = {}
    for name in names:
        if name == "accuracy":
            out[name] = _wilson_metric(name, tp + tn, truth.size, z)
        elif name == "precision":
            out[name] = _wilson_metric(name, tp, tp + fp, z, "no predicted positives")
        elif name == "recall":
            out[name] = _wilson_metric(name, tp, tp + fn, z, "no actual positives")
        elif name == "f1":
            out[name] = _bootstrap_f1((tp, fp, fn, tn), confidence, resamples, rng)
        else:
            out[name] = _delong_metric(actual, scores, z)
    return out


def compare(
    estimated: Mapping[str, MetricValue], realised: Mapping[str, MetricValue]
) -> dict[str, dict[str, Any]]:
    """Estimated against realised, per metric present in both.

    ``difference`` is realised minus estimated; ``realised_within_band`` says whether the
    realised value lies in the estimate's band (``None`` when either side is undefined).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, estimate in estimated.items():
        if name not in realised:
            continue
        actual, point = realised[name].value, estimate.value
        low, high = estimate.low, estimate.high
        within = None
        if actual is not None and low is not None and high is not None:
            within = bool(low <= actual <= high)
        out[name] = {
            "estimated": point,
            "realised": actual,
            "difference": actual - point if actual is not None and point is not None else None,
            "low": low,
            "high": high,
            "realised_within_band": within,
        }
    return out


_UNDEFINED = {
    "accuracy": "no rows",
    "precision": "no predicted positives",
    "recall": "no expected positives (every probability is 0)",
    "f1": "no expected positives and no predicted positives",
    "roc_auc": "needs both classes to be possible (some 0 < p, some p < 1)",
}


def _wilson_metric(
    name: str, successes: int, n: int, z: float, empty: str = "no rows"
) -> MetricValue:
    """A proportion with its Wilson score interval (clipped to [0, 1], as statsmodels does)."""
    if n == 0:
        return MetricValue(name, None, None, None, 0, "wilson", empty)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return MetricValue(name, p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


def _bootstrap_f1(
    cells: tuple[int, int, int, int], confidence: float, resamples: int, rng: np.random.Generator
) -> MetricValue:
    """f1 with a percentile interval; a row resample is a multinomial draw of the four cells."""
    tp, fp, fn, _ = cells
    n = sum(cells)
    if 2 * tp + fp + fn == 0:
        return MetricValue(
            "f1", None, None, None, n, "bootstrap", "no predicted or actual positives"
        )
    value = 2 * tp / (2 * tp + fp + fn)
    draws = rng.multinomial(n, np.asarray(cells, dtype=float) / n, size=resamples)
    denominator = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
    f1 = 2 * draws[denominator > 0, 0] / denominator[denominator > 0]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(f1, [alpha, 1.0 - alpha])
    return MetricValue("f1", value, float(low), float(high), n, "bootstrap")


def _delong_metric(actual: NDArray[np.bool_], scores: Floats | None, z: float) -> MetricValue:
    """roc_auc from midranks, with DeLong's variance (Sun & Xu's fast algorithm)."""
    n = actual.size
    if scores is None:
        return MetricValue("roc_auc", None, None, None, n, "delong", "no probabilities given")
    m = int(actual.sum())
    k = n - m
    if m == 0 or k == 0:
        return MetricValue(
            "roc_auc", None, None, None, n, "delong", "needs both classes among the labels"
        )
    positive, negative = scores[actual], scores[~actual]
    combined = rankdata(scores)
    v10 = (combined[actual] - rankdata(positive)) / k
    v01 = 1.0 - (combined[~actual] - rankdata(negative)) / m
    value = float(v10.mean())
    if m < 2 or k < 2:
        return MetricValue(
            "roc_auc", value, None, None, n, "delong", "an interval needs two rows of each class"
        )
    se = math.sqrt(float(v10.var(ddof=1)) / m + float(v01.var(ddof=1)) / k)
    return MetricValue(
        "roc_auc", value, max(0.0, value - z * se), min(1.0, value + z * se), n, "delong"
    )


def _regression(
    truth: np.ndarray,
    predicted: np.ndarray,
    names: Sequence[str],
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, MetricValue]:
    """mae and rmse with bootstrap percentile intervals over rows (resampled in blocks)."""
    n = truth.size
    if n == 0:
        return {
            name: MetricValue(name, None, None, None, 0, "bootstrap", "no rows") for name in names
        }
    error = np.asarray(predicted, dtype=float) - np.asarray(truth, dtype=float)
    absolute, squared = np.abs(error), error * error
    means: list[Floats] = []
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, resamples, block):
        rows = rng.integers(0, n, size=(min(block, resamples - start), n))
        means.append(np.stack([absolute[rows].mean(axis=1), squared[rows].mean(axis=1)], axis=1))
    boot = np.concatenate(means)
    alpha = (1.0 - confidence) / 2.0
    out: dict[str, MetricValue] = {}
    for name in names:
        column, point = (
            (boot[:, 0], float(absolute.mean()))
            if name == "mae"
            else (np.sqrt(boot[:, 1]), math.sqrt(float(squared.mean())))
        )
        low, high = np.quantile(column, [alpha, 1.0 - alpha])
        out[name] = MetricValue(name, point, float(low), float(high), n, "bootstrap")
    return out


def _metric_names(task: str, metrics: Sequence[str]) -> tuple[str, ...]:
    if task not in _TASK_METRICS:
        raise DataError(
            f"Unknown task {task!r}.",
            hint=f"Use one of {', '.join(sorted(_TASK_METRICS))}.",
        )
    allowed = _TASK_METRICS[task]
    if tuple(metrics) == BINARY_METRICS:
        metrics = allowed
    unknown = [name for name in metrics if name not in allowed]
    if unknown:
        raise DataError(
            f"Metric(s) {', '.join(map(repr, unknown))} are not available for task {task!r}.",
            hint=f"Use any of {', '.join(allowed)}.",
        )
    return tuple(metrics)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise DataError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}.",
            hint="Pass e.g. confidence=0.95 for 95 % intervals.",
        )
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise DataError(
            f"{name} must be a finite number, got {value!r}.", hint=f"Pass the model's {name}."
        )
    return float(value)


def _probabilities(values: Any, name: str) -> Floats:
    """A 1-D float array of probabilities, refusing NaN and values outside [0, 1]."""
    try:
        p = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name} must be numbers: {exc}.", hint="Pass predicted probabilities."
        ) from exc
    if p.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array, got {p.ndim} dimension(s).",
            hint="Pass one probability per row.",
        )
    missing = np.flatnonzero(np.isnan(p))
    if missing.size:
        raise DataError(
            f"{name} has {missing.size} NaN value(s); probabilities must be numbers in [0, 1].",
            hint="Drop or repair the rows whose probability is missing before monitoring them.",
            problems=[
                Problem((name, int(i)), "nan-probability", "probability is NaN")
                for i in missing[:5]
            ],
        )
    outside = np.flatnonzero((p < 0) | (p > 1))
    if outside.size:
        raise DataError(
            f"{name} has {outside.size} value(s) outside [0, 1].",
            hint="Pass probabilities (predict_proba), not scores or logits.",
            problems=[
                Problem((name, int(i)), "probability-out-of-range", "not in [0, 1]", float(p[i]))
                for i in outside[:5]
            ],
        )
    return p


def _column(values: Any, name: str, *, numeric: bool) -> np.ndarray:
    """A 1-D array of labels (or numbers), refusing missing values."""
    array = np.asarray(values, dtype=float if numeric else None)
    if array.ndim != 1:
        raise DataError(
            f"{name} must be 1-D, got {array.ndim} dimension(s).", hint="Pass one value per row."
        )
    if array.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(array))
    elif array.dtype.kind == "O":
        missing = np.flatnonzero(
            [v is None or (isinstance(v, float) and math.isnan(v)) for v in array]
        )
    else:
        missing = np.empty(0, dtype=int)
    if missing.size:
        raise DataError(
            f"{name} has {missing.size} missing value(s).",
            hint="Keep only the predictions whose labels have arrived.",
            problems=[
                Problem((name, int(i)), "missing-value", "value is missing") for i in missing[:5]
            ],
        )
    return array


def _same_length(reference: np.ndarray, other: np.ndarray, name: str) -> None:
    if reference.shape[0] != other.shape[0]:
        raise DataError(
            f"{name} has {other.shape[0]} rows but y_true has {reference.shape[0]}.",
            hint="Pass one value per labelled prediction, in the same order.",
        )
