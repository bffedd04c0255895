"""Decision costs and the cost-optimal threshold agree with brute force."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from loopline.training._costs import (
    baseline_costs,
    bayes_threshold,
    cost_optimal_threshold,
    cost_per_1000,
    threshold_cost_curve,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
FP, FN = 5.0, 40.0


@pytest.fixture
def scored() -> tuple[Ints, Floats]:
    rng = np.random.default_rng(11)
    proba = np.round(rng.beta(1.5, 4, 800), 3)  # rounded: tied probabilities occur
    labels = (rng.uniform(size=800) < proba).astype(np.int64)
    return labels, proba


def _brute_cost(labels: Ints, proba: Floats, threshold: float) -> float:
    """Cost per 1,000 by counting each row's outcome in a loop."""
    total = 0.0
    for label, p in zip(labels, proba, strict=True):
        if p >= threshold and label == 0:
            total += FP
        elif p < threshold and label == 1:
            total += FN
    return 1000 * total / len(labels)


@pytest.mark.parametrize("threshold", [0.0, 0.111, 0.2, 0.5, 1.0])
def test_cost_per_1000_counts_each_error_once(
    scored: tuple[Ints, Floats], threshold: float
) -> None:
    labels, proba = scored
    ours = cost_per_1000(labels, proba, threshold=threshold, false_positive=FP, false_negative=FN)
    assert ours == pytest.approx(_brute_cost(labels, proba, threshold), abs=1e-9)


def test_optimal_threshold_cost_is_the_brute_force_minimum(scored: tuple[Ints, Floats]) -> None:
    labels, proba = scored
    _, cost = cost_optimal_threshold(labels, proba, false_positive=FP, false_negative=FN)
    candidates = [*np.unique(proba), FP / (FP + FN)]
    assert cost == pytest.approx(min(_brute_cost(labels, proba, t) for t in candidates), abs=1e-9)


def test_no_threshold_on_a_fine_grid_is_cheaper(scored: tuple[Ints, Floats]) -> None:
    labels, proba = scored
    _, cost = cost_optimal_threshold(labels, proba, false_positive=FP, false_negative=FN)
    grid = threshold_cost_curve(labels, proba, false_positive=FP, false_negative=FN, points=2001)
    assert cost <= min(grid["costs"]) + 1e-9


def test_optimal_threshold_reproduces_its_reported_cost(scored: tuple[Ints, Floats]) -> None:
    labels, proba = scored
    threshold, cost = cost_optimal_threshold(labels, proba, false_positive=FP, false_negative=FN)
    assert _brute_cost(labels, proba, threshold) == pytest.approx(cost, abs=1e-9)


def test_ties_are_broken_toward_the_bayes_threshold() -> None:
    # thresholds 0.5 (Bayes) and 0.8 both separate the classes perfectly
    threshold, cost = cost_optimal_threshold(
        [0, 1], [0.2, 0.8], false_positive=1.0, false_negative=1.0
    )
    assert (threshold, cost) == (0.5, 0.0)


def test_bayes_threshold_allows_deciding_every_row_negative() -> None:
    threshold, cost = cost_optimal_threshold(
        [0, 0, 1], [0.1, 0.3, 0.2], false_positive=10.0, false_negative=1.0
    )
    assert threshold == pytest.approx(bayes_threshold(false_positive=10.0, false_negative=1.0))
    assert cost == pytest.approx(1000 / 3)


def test_optimal_threshold_needs_a_positive_cost() -> None:
    with pytest.raises(ValueError, match="both 0"):
        cost_optimal_threshold([0, 1], [0.2, 0.8], false_positive=0, false_negative=0)


def test_negative_costs_are_refused() -> None:
    with pytest.raises(ValueError, match="false_negative must not be negative"):
        cost_per_1000([0, 1], [0.2, 0.8], threshold=0.5, false_positive=1, false_negative=-2)


def test_majority_class_baseline_decides_the_frequent_class_for_everyone() -> None:
    costs = baseline_costs([0, 0, 0, 1], false_positive=FP, false_negative=FN, review=3.0)
    assert costs == {"all_review": 3000.0, "majority_class": 1000 * FN / 4}


def test_majority_class_baseline_takes_the_cheaper_class_on_a_tie() -> None:
    costs = baseline_costs([0, 1, 0, 1], false_positive=FP, false_negative=FN, review=0.0)
    assert costs["majority_class"] == 1000 * 2 * FP / 4


def test_cost_curve_has_evenly_spaced_thresholds_and_matching_costs(
    scored: tuple[Ints, Floats],
) -> None:
    labels, proba = scored
    curve = threshold_cost_curve(labels, proba, false_positive=FP, false_negative=FN)
    assert curve["thresholds"] == pytest.approx(np.linspace(0, 1, 101).tolist())
    for threshold, cost in zip(curve["thresholds"][::25], curve["costs"][::25], strict=True):
        assert cost == pytest.approx(_brute_cost(labels, proba, threshold), abs=1e-9)
