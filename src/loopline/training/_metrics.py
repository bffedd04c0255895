"""Task metrics and calibration error a model version is judged by, computed with numpy alone.

Binary problems are described by 0/1 labels (1 is the positive class; which business label is
positive is the caller's concern) and the predicted probability of the positive class. A row is
*predicted positive* when its probability is at least the decision threshold. Multiclass problems
use integer labels that index the columns of an ``(n, k)`` probability matrix.

Every metric agrees with scikit-learn's counterpart to 1e-12, and the expected calibration
error with a plain loop over its definition (see ``tests/training/test_metrics.py``). They are
written out here so that they are cheap enough to run a thousand times inside a bootstrap and so
that each undefined case has one documented answer. Metrics that need both classes raise
:class:`ValueError` when only one is present.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt

from loopline.training._arrays import (
    FloatArray,
    IntArray,
    as_binary_labels,
    as_class_labels,
    as_probabilities,
    as_probability_matrix,
    as_values,
    check_positive_int,
    check_same_length,
    check_threshold,
)

__all__ = [
    "ReliabilityCurve",
    "average_precision",
    "bin_index",
    "binary_metrics",
    "brier_score",
    "expected_calibration_error",
    "log_loss",
    "multiclass_metrics",
    "regression_metrics",
    "reliability_curve",
    "roc_auc",
]

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logarithms, as scikit-learn does.
_EPS = float(np.finfo(np.float64).eps)


def roc_auc(y_true: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative.

    Ties between a positive and a negative count one half (the Mann-Whitney statistic).

    Args:
        y_true: 0/1 labels.
        score: Any score that grows with the chance of the positive class.

    Raises:
        ValueError: ``y_true`` holds a single class, so the area is undefined.
    """
    labels = as_binary_labels(y_true)
    values = as_values(score, "score")
    check_same_length(y_true=labels, score=values)
    return _roc_auc(labels, values)


def average_precision(y_true: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Average precision: the area under the precision-recall curve as a step function.

    The sum over distinct score thresholds, highest first, of the gain in recall times the
    precision at that threshold (scikit-learn's ``average_precision_score``).

    Raises:
        ValueError: ``y_true`` holds no positive, so recall is undefined.
    """
    labels = as_binary_labels(y_true)
    values = as_values(score, "score")
    check_same_length(y_true=labels, score=values)
    return _average_precision(labels, values)


def log_loss(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the labels, probabilities clipped to [eps, 1 - eps]."""
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    check_same_length(y_true=labels, proba=values)
    return _log_loss(labels, values)


def brier_score(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Mean squared difference between the probability of the positive class and the label."""
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    check_same_length(y_true=labels, proba=values)
    return float(np.mean((values - labels) ** 2))


def binary_metrics(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, *, threshold: float
) -> dict[str, float]:
    """The standard report of a binary classifier on one evaluation set.

    Ranking and probability quality (``roc_auc``, ``pr_auc`` = average precision, ``log_loss``,
    ``brier``) do not depend on the threshold; ``accuracy``, ``precision``, ``recall`` and ``f1``
    are those of the decisions ``proba >= threshold``. With no predicted positive, precision
    (and so F1) is 0.0, as with scikit-learn's ``zero_division=0``. ``prevalence`` is the share
    of positives and ``n`` the number of rows.

    Args:
        y_true: 0/1 labels, 1 for the positive class.
        proba: The predicted probability of the positive class.
        threshold: The decision threshold within [0, 1].

    Raises:
        ValueError: The inputs are malformed, or ``y_true`` holds a single class (the areas
            under the curves are then undefined).
    """
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    n = check_same_length(y_true=labels, proba=values)
    cut = check_threshold(threshold)
    predicted = values >= cut
    positive = labels == 1
    true_positives = int(np.sum(predicted & positive))
    predicted_positives = int(np.sum(predicted))
    positives = int(np.sum(positive))
    precision = true_positives / predicted_positives if predicted_positives else 0.0
    recall = true_positives / positives if positives else 0.0
    f1 = 2 * true_positives / (predicted_positives + positives)
    return {
        "n": n,
        "prevalence": positives / n,
        "roc_auc": _roc_auc(labels, values),
        "pr_auc": _average_precision(labels, values),
        "log_loss": _log_loss(labels, values),
        "brier": float(np.mean((values - labels) ** 2)),
        "accuracy": float(np.mean(predicted == positive)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def multiclass_metrics(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> dict[str, float]:
    """The standard report of a multiclass classifier; the decision is the most likely class.

    ``macro_f1`` averages the per-class F1 over the classes that occur in ``y_true`` or in the
    decisions (scikit-learn's default labels); ``roc_auc`` is the one-vs-rest area averaged
    over the classes that occur in ``y_true``; ``log_loss`` clips probabilities to
    [eps, 1 - eps]. ``n`` is the number of rows.

    Args:
        y_true: Class indexes ``0 .. k - 1``, one per row.
        proba: An ``(n, k)`` matrix of class probabilities whose rows sum to one.

    Raises:
        ValueError: The inputs are malformed, or ``y_true`` holds a single class.
    """
    matrix = as_probability_matrix(proba)
    labels = as_class_labels(y_true, matrix.shape[1])
    n = check_same_length(y_true=labels, proba=matrix)
    present = np.unique(labels)
    if present.size < 2:
        raise ValueError(
            f"y_true holds only class {int(present[0])}; the one-vs-rest ROC AUC needs at "
            "least two classes in the evaluation data"
        )
    decided = np.argmax(matrix, axis=1)
    f1_scores = [_f1(labels == label, decided == label) for label in np.union1d(present, decided)]
    areas = [_roc_auc((labels == label).astype(np.int64), matrix[:, label]) for label in present]
    true_proba = np.clip(matrix[np.arange(n), labels], _EPS, 1 - _EPS)
    return {
        "n": n,
        "accuracy": float(np.mean(decided == labels)),
        "macro_f1": float(np.mean(f1_scores)),
        "log_loss": float(-np.mean(np.log(true_proba))),
        "roc_auc": float(np.mean(areas)),
    }


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float]:
    """Root mean squared error, mean absolute error and R² of a regression, with ``n``.

    R² of a constant target is 1.0 for a perfect prediction and 0.0 otherwise (scikit-learn's
    ``force_finite`` convention) instead of a division by zero.
    """
    target = as_values(y_true, "y_true")
    predicted = as_values(y_pred, "y_pred")
    n = check_same_length(y_true=target, y_pred=predicted)
    residual_ss = float(np.sum((target - predicted) ** 2))
    total_ss = float(np.sum((target - target.mean()) ** 2))
    if total_ss == 0:  # a constant target: no variance to explain
        total_ss, residual_ss = 1.0, float(residual_ss > 0)
    r2 = 1.0 - residual_ss / total_ss
    return {
        "n": n,
        "rmse": float(np.sqrt(residual_ss / n)),
        "mae": float(np.mean(np.abs(target - predicted))),
        "r2": r2,
    }


class ReliabilityCurve(TypedDict):
    """Per-bin calibration data for a reliability diagram; empty bins hold ``None``."""

    edges: list[float]
    mean_predicted: list[float | None]
    observed_rate: list[float | None]
    count: list[int]


def expected_calibration_error(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, *, bins: int = 15
) -> float:
    """Expected calibration error (ECE) of the probability of the positive class.

    Definition: split [0, 1] into ``bins`` equal-width bins, each closed on the left and open on
    the right except the last, which is closed (bin ``j`` holds ``edges[j] <= p < edges[j+1]``
    with ``edges = numpy.linspace(0, 1, bins + 1)``, and 1.0 falls in the last bin). For each
    non-empty bin take the absolute difference between the mean predicted probability and the
    observed rate of positives in it, weighted by the share of rows in the bin; sum::

        ECE = sum over non-empty bins b of (n_b / n) * |mean(p in b) - mean(y in b)|

    0 is perfect calibration; the largest possible value is 1.

    Args:
        y_true: 0/1 labels, 1 for the positive class (a single class is allowed).
        proba: The predicted probability of the positive class.
        bins: The number of equal-width bins.
    """
    count, sum_predicted, sum_observed = _binned(y_true, proba, bins)
    filled = count > 0
    gaps = np.abs(sum_predicted[filled] - sum_observed[filled]) / count[filled]
    return float(np.sum(count[filled] * gaps) / count.sum())


def reliability_curve(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, *, bins: int = 15
) -> ReliabilityCurve:
    """The data of a reliability diagram, binned as :func:`expected_calibration_error` does.

    Returns:
        ``edges`` (``bins + 1`` bin edges) and, per bin, ``mean_predicted``, ``observed_rate``
        (``None`` for an empty bin) and ``count``; plain lists, ready for JSON.
    """
    count, sum_predicted, sum_observed = _binned(y_true, proba, bins)
    mean_predicted: list[float | None] = []
    observed_rate: list[float | None] = []
    for size, predicted, observed in zip(count, sum_predicted, sum_observed, strict=True):
        mean_predicted.append(float(predicted / size) if size else None)
        observed_rate.append(float(observed / size) if size else None)
    return {
        "edges": np.linspace(0.0, 1.0, len(count) + 1).tolist(),
        "mean_predicted": mean_predicted,
        "observed_rate": observed_rate,
        "count": [int(size) for size in count],
    }


def bin_index(proba: FloatArray, bins: int) -> IntArray:
    """The calibration bin of each probability, as :func:`expected_calibration_error` bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges, proba, side="right") - 1
    return np.clip(index, 0, bins - 1).astype(np.int64)


def _midranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _roc_auc(labels: IntArray, score: FloatArray) -> float:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(
            "y_true holds a single class; ROC AUC needs positives and negatives in the data"
        )
    rank_sum = float(_midranks(score)[labels == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def _average_precision(labels: IntArray, score: FloatArray) -> float:
    order = np.argsort(-score, kind="mergesort")
    ordered_score, ordered_labels = score[order], labels[order]
    ends = np.append(np.flatnonzero(ordered_score[1:] != ordered_score[:-1]), len(score) - 1)
    true_positives = np.cumsum(ordered_labels)[ends].astype(np.float64)
    if true_positives[-1] == 0:
        raise ValueError("y_true holds no positive; average precision needs at least one")
    precision = true_positives / (ends + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _log_loss(labels: IntArray, proba: FloatArray) -> float:
    positive = np.log(np.clip(proba, _EPS, 1 - _EPS))
    negative = np.log(np.clip(1 - proba, _EPS, 1 - _EPS))
    return float(-np.mean(np.where(labels == 1, positive, negative)))


def _f1(actual: npt.NDArray[np.bool_], decided: npt.NDArray[np.bool_]) -> float:
    true_positives = int(np.sum(actual & decided))
    denominator = int(np.sum(actual)) + int(np.sum(decided))
    return 2 * true_positives / denominator if denominator else 0.0


def _binned(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, bins: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per bin: the row count, the sum of predicted probabilities and the sum of labels."""
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    check_same_length(y_true=labels, proba=values)
    size = check_positive_int("bins", bins)
    index = bin_index(values, size)
    count = np.bincount(index, minlength=size).astype(np.int64)
    sum_predicted = np.bincount(index, weights=values, minlength=size).astype(np.float64)
    sum_observed = np.bincount(index, weights=labels, minlength=size).astype(np.float64)
    return count, sum_predicted, sum_observed
