"""What a model's decisions cost the business, and the threshold that makes them cheapest.

A decision is *positive* when the probability of the positive class is at least the threshold.
A false positive costs ``false_positive`` and a false negative ``false_negative`` (in the
project's currency); correct decisions cost nothing. Costs are reported per 1,000 decisions so
that evaluation sets of different sizes compare.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt

from loopline.training._arrays import (
    FloatArray,
    IntArray,
    as_binary_labels,
    as_probabilities,
    check_cost,
    check_positive_int,
    check_same_length,
    check_threshold,
)

__all__ = [
    "CostCurve",
    "baseline_costs",
    "bayes_threshold",
    "cost_optimal_threshold",
    "cost_per_1000",
    "threshold_cost_curve",
]

#: Costs closer than this (relative to the largest unit cost) count as a tie.
_TIE_TOLERANCE = 1e-9


class CostCurve(TypedDict):
    """Cost per 1,000 decisions at evenly spaced thresholds, for a plot."""

    thresholds: list[float]
    costs: list[float]


def cost_per_1000(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    *,
    threshold: float,
    false_positive: float,
    false_negative: float,
) -> float:
    """The cost of deciding ``proba >= threshold`` on these rows, per 1,000 decisions.

    Args:
        y_true: 0/1 labels, 1 for the positive class.
        proba: The predicted probability of the positive class.
        threshold: The decision threshold within [0, 1].
        false_positive: The cost of one false positive (non-negative).
        false_negative: The cost of one false negative (non-negative).
    """
    labels, values = _inputs(y_true, proba)
    unit_fp, unit_fn = _unit_costs(false_positive, false_negative, allow_zero=True)
    costs = _costs_at(labels, values, np.array([check_threshold(threshold)]), unit_fp, unit_fn)
    return float(costs[0])


def bayes_threshold(*, false_positive: float, false_negative: float) -> float:
    """``c_FP / (c_FP + c_FN)``: the cost-optimal threshold for perfectly calibrated probabilities.

    Raises:
        ValueError: Both costs are zero, so every threshold is equally good.
    """
    unit_fp, unit_fn = _unit_costs(false_positive, false_negative)
    return unit_fp / (unit_fp + unit_fn)


def cost_optimal_threshold(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    *,
    false_positive: float,
    false_negative: float,
) -> tuple[float, float]:
    """The threshold with the lowest cost on these rows, and that cost per 1,000 decisions.

    The candidates are every distinct predicted probability (each yields a different set of
    positive decisions) and the Bayes threshold ``c_FP / (c_FP + c_FN)``. Among candidates whose
    costs tie, the one closest to the Bayes threshold wins, so that with flat costs the choice
    stays where a calibrated model would put it. The all-negative decision is reachable only
    when the Bayes threshold exceeds every probability.

    Fit this on calibration rows and report its cost on test rows: the minimum on the data it
    was chosen on is optimistic.

    Returns:
        ``(threshold, cost_per_1000)``.

    Raises:
        ValueError: The inputs are malformed, or both costs are zero.
    """
    labels, values = _inputs(y_true, proba)
    unit_fp, unit_fn = _unit_costs(false_positive, false_negative)
    bayes = unit_fp / (unit_fp + unit_fn)
    candidates = np.append(np.unique(values), bayes)
    costs = _costs_at(labels, values, candidates, unit_fp, unit_fn)
    tolerance = _TIE_TOLERANCE * 1000 * max(unit_fp, unit_fn)
    tied = np.flatnonzero(costs <= costs.min() + tolerance)
    best = tied[np.argmin(np.abs(candidates[tied] - bayes))]
    return float(candidates[best]), float(costs[best])


def baseline_costs(
    y_true: npt.ArrayLike,
    *,
    false_positive: float,
    false_negative: float,
    review: float,
) -> dict[str, float]:
    """What the business would pay per 1,000 decisions without the model.

    Returns:
        ``all_review``: every case goes to a person at ``review`` each; ``majority_class``:
        every case gets the label most frequent in ``y_true`` (on an exact tie, the cheaper of
        the two).
    """
    labels = as_binary_labels(y_true)
    unit_fp, unit_fn = _unit_costs(false_positive, false_negative, allow_zero=True)
    unit_review = check_cost("review", review)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    all_positive = 1000 * negatives * unit_fp / len(labels)
    all_negative = 1000 * positives * unit_fn / len(labels)
    if positives > negatives:
        majority = all_positive
    elif negatives > positives:
        majority = all_negative
    else:
        majority = min(all_positive, all_negative)
    return {"all_review": 1000 * unit_review, "majority_class": majority}


def threshold_cost_curve(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    *,
    false_positive: float,
    false_negative: float,
    points: int = 101,
) -> CostCurve:
    """Cost per 1,000 decisions at ``points`` evenly spaced thresholds from 0 to 1."""
    labels, values = _inputs(y_true, proba)
    unit_fp, unit_fn = _unit_costs(false_positive, false_negative, allow_zero=True)
    thresholds = np.linspace(0.0, 1.0, check_positive_int("points", points, minimum=2))
    costs = _costs_at(labels, values, thresholds, unit_fp, unit_fn)
    return {"thresholds": thresholds.tolist(), "costs": costs.tolist()}


def _inputs(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    labels = as_binary_labels(y_true)
    values = as_probabilities(proba)
    check_same_length(y_true=labels, proba=values)
    return labels, values


def _unit_costs(
    false_positive: float, false_negative: float, *, allow_zero: bool = False
) -> tuple[float, float]:
    unit_fp = check_cost("false_positive", false_positive)
    unit_fn = check_cost("false_negative", false_negative)
    if not allow_zero and unit_fp + unit_fn == 0:
        raise ValueError(
            "false_positive and false_negative are both 0, so every threshold costs the same; "
            "declare at least one positive cost"
        )
    return unit_fp, unit_fn


def _costs_at(
    labels: IntArray, proba: FloatArray, thresholds: FloatArray, unit_fp: float, unit_fn: float
) -> FloatArray:
    """Cost per 1,000 decisions at each threshold, for all thresholds at once.

    With the rows sorted by probability, the decisions at threshold ``t`` are positive for the
    rows from ``searchsorted(t)`` on, so false positives and false negatives are differences of
    cumulative label counts.
    """
    order = np.argsort(proba, kind="mergesort")
    ordered = proba[order]
    # positives_below[i]: positives among the i rows with the lowest probabilities
    positives_below = np.concatenate(([0], np.cumsum(labels[order])))
    first_positive = np.searchsorted(ordered, thresholds, side="left")
    positives = positives_below[-1]
    false_negatives = positives_below[first_positive]
    decided_positive = len(proba) - first_positive
    false_positives = decided_positive - (positives - false_negatives)
    total = unit_fp * false_positives + unit_fn * false_negatives
    return np.asarray(1000.0 * total / len(proba), dtype=np.float64)
