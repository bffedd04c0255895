"""Metrics per slice of the evaluation data (a region, a product line) and the gap between them.

A model that is good on average can fail one group badly; the per-slice table shows it and
:func:`slice_gap` turns it into one number a gate can bound. Within a slice a metric that is
undefined there is ``None`` rather than a made-up number: ``recall`` without positives,
``precision`` without predicted positives, ``f1`` without either, ``roc_auc`` and ``pr_auc``
with a single class. Gaps compare only defined values of slices with enough rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loopline.training._arrays import (
    FloatArray,
    IntArray,
    as_binary_labels,
    as_probabilities,
    check_positive_int,
    check_same_length,
    check_threshold,
)
from loopline.training._metrics import average_precision, brier_score, log_loss, roc_auc

__all__ = ["SLICE_METRICS", "slice_gap", "slice_metrics"]

SliceReport = dict[str, float | int | None]
_Metric = Callable[[IntArray, FloatArray, npt.NDArray[np.bool_]], float | None]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _both_classes(labels: IntArray) -> bool:
    return 0 < int(labels.sum()) < len(labels)


_METRICS: dict[str, _Metric] = {
    "accuracy": lambda y, p, d: float(np.mean(d == (y == 1))),
    "precision": lambda y, p, d: _ratio(int(np.sum(d & (y == 1))), int(np.sum(d))),
    "recall": lambda y, p, d: _ratio(int(np.sum(d & (y == 1))), int(np.sum(y))),
    "f1": lambda y, p, d: _ratio(2 * int(np.sum(d & (y == 1))), int(np.sum(d) + np.sum(y))),
    "roc_auc": lambda y, p, d: roc_auc(y, p) if _both_classes(y) else None,
    "pr_auc": lambda y, p, d: average_precision(y, p) if _both_classes(y) else None,
    "log_loss": lambda y, p, d: log_loss(y, p),
    "brier": lambda y, p, d: brier_score(y, p),
    "prevalence": lambda y, p, d: float(np.mean(y)),
}

#: The metric names :func:`slice_metrics` can compute.
SLICE_METRICS: tuple[str, ...] = tuple(sorted(_METRICS))


def slice_metrics(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    threshold: float,
    metrics: Sequence[str] = ("recall", "precision", "accuracy", "roc_auc"),
) -> dict[Hashable, SliceReport]:
    """Binary-classification metrics for each distinct value of ``groups``.

    Args:
        y_true: 0/1 labels, 1 for the positive class.
        proba: The predicted probability of the positive class.
        groups: The slice of each row, e.g. strings; NaN is one slice. Values of mixed types
            that do not sort together (None and strings) are keyed by their string form.
        threshold: Rows with ``proba >= threshold`` are decided positive.
        metrics: Names from :data:`SLICE_METRICS`.

    Returns:
        ``{slice value: {"n": rows, metric: value or None, ...}}`` in sorted slice order.

    Raises:
        ValueError: The inputs are malformed or a metric name is unknown.
    """
    unknown = [name for name in metrics if name not in _METRICS]
    if unknown:
        raise ValueError(
            f"unknown slice metric(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(SLICE_METRICS)}"
        )
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    keys = np.asarray(groups)
    check_same_length(y_true=labels, proba=values, groups=keys)
    decided = values >= check_threshold(threshold)
    report: dict[Hashable, SliceReport] = {}
    for key, rows in _group_rows(keys):
        entry: SliceReport = {"n": len(rows)}
        for name in metrics:
            entry[name] = _METRICS[name](labels[rows], values[rows], decided[rows])
        report[key] = entry
    return report


def slice_gap(
    per_slice: Mapping[Any, Mapping[str, float | int | None]],
    metric: str,
    *,
    min_size: int = 30,
) -> float | None:
    """The spread (max - min) of ``metric`` over slices with at least ``min_size`` rows.

    Slices below ``min_size`` rows stay in the report but are left out here: their metrics are
    too noisy to gate on. Slices where the metric is undefined (``None``) are left out too.

    Returns:
        The gap, or ``None`` when fewer than two slices qualify (no gap can be measured).

    Raises:
        ValueError: No slice reports ``metric``.
    """
    size = check_positive_int("min_size", min_size, minimum=0)
    if not any(metric in entry for entry in per_slice.values()):
        raise ValueError(f"no slice reports the metric {metric!r}")
    eligible = [
        float(value)
        for entry in per_slice.values()
        if (value := entry.get(metric)) is not None and int(entry.get("n") or 0) >= size
    ]
    if len(eligible) < 2:
        return None
    return max(eligible) - min(eligible)


def _group_rows(keys: npt.NDArray[Any]) -> list[tuple[Hashable, IntArray]]:
    """Each distinct key (as a plain Python value) with the indexes of its rows, sorted."""
    try:
        distinct, inverse = np.unique(keys, return_inverse=True)
    except TypeError:  # mixed types that do not sort together (e.g. None and strings)
        distinct, inverse = np.unique(keys.astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(distinct)))[:-1]
    return [
        (value.item() if isinstance(value, np.generic) else value, rows.astype(np.int64))
        for value, rows in zip(distinct, np.split(order, bounds), strict=True)
    ]
