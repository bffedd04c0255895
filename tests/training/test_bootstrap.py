"""The paired bootstrap agrees with a reference loop, is seeded, and skips undefined resamples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from sklearn import metrics as skm

from loopline.training._bootstrap import paired_bootstrap
from loopline.training._metrics import roc_auc

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@pytest.fixture
def two_models() -> tuple[Ints, Floats, Floats]:
    """Labels, a weak model's scores and a stronger model's scores on the same rows."""
    rng = np.random.default_rng(51)
    labels = rng.integers(0, 2, 300)
    weak = labels * 0.3 + rng.normal(size=300)
    strong = labels * 1.5 + rng.normal(size=300)
    return labels, weak, strong


def _accuracy(y: Ints, score: Floats) -> float:
    return float(np.mean((score > 0.5) == (y == 1)))


def _reference(
    labels: Ints,
    first: Floats,
    second: Floats,
    metric: Callable[[Ints, Floats], float],
    n_resamples: int,
    seed: int,
) -> tuple[float, float, int]:
    """A plain loop: one index draw per resample, skipping resamples the metric rejects."""
    rng = np.random.default_rng(seed)
    kept = []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(labels), len(labels))
        try:
            kept.append(metric(labels[rows], second[rows]) - metric(labels[rows], first[rows]))
        except ValueError:
            continue
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(low), float(high), len(kept)


def test_interval_agrees_with_a_reference_loop(two_models: tuple[Ints, Floats, Floats]) -> None:
    labels, weak, strong = two_models
    result = paired_bootstrap(labels, weak, strong, roc_auc, n_resamples=300, seed=3)
    low, high, _ = _reference(labels, weak, strong, roc_auc, 300, 3)
    assert result["difference"] == pytest.approx(roc_auc(labels, strong) - roc_auc(labels, weak))
    assert (result["low"], result["high"]) == pytest.approx((low, high), abs=1e-12)


def test_the_same_seed_gives_the_same_interval(two_models: tuple[Ints, Floats, Floats]) -> None:
    labels, weak, strong = two_models
    first = paired_bootstrap(labels, weak, strong, _accuracy, n_resamples=200, seed=7)
    again = paired_bootstrap(labels, weak, strong, _accuracy, n_resamples=200, seed=7)
    other = paired_bootstrap(labels, weak, strong, _accuracy, n_resamples=200, seed=8)
    assert first == again
    assert (first["low"], first["high"]) != (other["low"], other["high"])


def test_a_clearly_better_model_has_an_interval_above_zero(
    two_models: tuple[Ints, Floats, Floats],
) -> None:
    labels, weak, strong = two_models
    result = paired_bootstrap(labels, weak, strong, roc_auc, n_resamples=300)
    assert 0 < result["low"] <= result["difference"] <= result["high"]


def test_identical_models_have_a_zero_width_interval(
    two_models: tuple[Ints, Floats, Floats],
) -> None:
    labels, weak, _ = two_models
    result = paired_bootstrap(labels, weak, weak.copy(), roc_auc, n_resamples=100)
    assert (result["difference"], result["low"], result["high"]) == (0.0, 0.0, 0.0)


def test_one_class_resamples_are_skipped_for_roc_auc() -> None:
    labels = np.array([1, 1] + [0] * 10)
    rng = np.random.default_rng(52)
    first, second = rng.normal(size=12), labels + rng.normal(size=12)
    result = paired_bootstrap(labels, first, second, roc_auc, n_resamples=400, seed=1)
    low, high, kept = _reference(labels, first, second, roc_auc, 400, 1)
    assert kept < 400
    assert result["resamples"] == kept
    assert (result["low"], result["high"]) == pytest.approx((low, high), abs=1e-12)


def test_too_few_usable_resamples_is_an_error() -> None:
    def distinct_rows_only(y: Ints, score: Floats) -> float:
        if len(np.unique(score)) < len(score):  # true of nearly every resample
            raise ValueError("repeated rows")
        return 0.0

    scores = np.arange(10.0)
    with pytest.raises(ValueError, match=r"only \d+ of 200 resamples"):
        paired_bootstrap(np.ones(10), scores, scores, distinct_rows_only, n_resamples=200)


def test_an_error_of_the_metric_on_the_full_data_propagates() -> None:
    with pytest.raises(ValueError, match="single class"):
        paired_bootstrap(np.ones(20), np.zeros(20), np.zeros(20), roc_auc, n_resamples=50)


def test_scores_must_have_one_row_per_label() -> None:
    with pytest.raises(ValueError, match="score_b has 9"):
        paired_bootstrap(np.ones(10), np.zeros(10), np.zeros(9), _accuracy)


def test_sklearn_roc_auc_with_its_nan_and_warning_on_one_class_resamples_works() -> None:
    labels = np.array([1, 1] + [0] * 10)
    rng = np.random.default_rng(53)
    first, second = rng.normal(size=12), labels + rng.normal(size=12)
    theirs = paired_bootstrap(labels, first, second, skm.roc_auc_score, n_resamples=200)
    ours = paired_bootstrap(labels, first, second, roc_auc, n_resamples=200)
    assert theirs == pytest.approx(ours, abs=1e-12)
