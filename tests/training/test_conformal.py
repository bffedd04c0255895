"""Split-conformal predictors: exact quantiles, reference and MAPIE agreement, coverage.

Coverage tests (``test_*_coverage_*``) follow one protocol. A model is trained once on 1,000
rows of a synthetic problem; the remaining 5,000 rows form a pool that is split 20 times at
random (seeds 0..19) into N_CAL = 1,000 calibration rows and M_TEST = 4,000 test rows. With
exchangeable, tie-free scores the guarantee is exact *given the pool*: for a random split, the
expected coverage lies in [1 - alpha, 1 - alpha + 1 / (N_CAL + 1)] = [0.9, 0.901] at alpha = 0.1.

* Per run: the number of covered test rows of a split-conformal run follows the Beta-Binomial
  distribution BB(M_TEST, k, N_CAL + 1 - k), k = ceil((N_CAL + 1)(1 - alpha)) (coverage given
  the calibration set is Beta(k, N_CAL + 1 - k); the test count given it is Binomial). Each run
  must lie inside its central band at level 1 - 0.01 / 20 (Bonferroni), so the 20 runs together
  have a false-alarm rate below 1 % for a correct implementation.
* Pooled: the mean coverage over the 20 runs must lie in [0.9, 0.901] widened on each side by
  3 standard errors, the standard error being the Beta-Binomial standard deviation of one run's
  coverage divided by sqrt(20) (runs are independent given the pool).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import betabinom
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from loopline.training._conformal import (
    ConformalClassifier,
    ConformalQuantileRegressor,
    ConformalRegressor,
    conformal_quantile,
    conformal_rank,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
ALPHA = 0.1
N_TRAIN, N_CAL, M_TEST, RUNS = 1000, 1000, 4000, 20


# ---------------------------------------------------------------- exact quantile


@pytest.mark.parametrize(
    ("n", "alpha", "rank"), [(99, 0.1, 90), (100, 0.1, 91), (9, 0.3, 7), (19, 0.05, 19)]
)
def test_rank_is_the_exact_finite_sample_order_statistic(n: int, alpha: float, rank: int) -> None:
    assert conformal_rank(n, alpha) == rank


@pytest.mark.parametrize("n", [10, 57, 500])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_quantile_is_the_kth_smallest_score(n: int, alpha: float) -> None:
    scores = np.random.default_rng(n).exponential(size=n)
    k = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    expected = sorted(scores)[k - 1] if k <= n else math.inf
    assert conformal_quantile(scores, alpha) == expected


def test_a_class_whose_score_equals_the_quantile_is_in_the_set() -> None:
    proba = np.array([[0.7, 0.2, 0.1]] * 20)
    predictor = ConformalClassifier(alpha=ALPHA).fit(proba, np.zeros(20, dtype=np.int64))
    assert predictor.predict_sets(proba[:1]).tolist() == [[True, False, False]]


def test_too_few_calibration_rows_give_full_sets() -> None:
    proba = np.array([[0.7, 0.2, 0.1]] * 9)
    predictor = ConformalClassifier(alpha=0.05).fit(proba, np.zeros(9, dtype=np.int64))
    assert predictor.quantile_ == math.inf
    assert predictor.predict_sets(proba).all()


def test_too_few_calibration_rows_give_infinite_intervals() -> None:
    lower, upper = ConformalRegressor(alpha=0.05).fit([1.0] * 9, [2.0] * 9).predict_intervals([0.0])
    assert (lower[0], upper[0]) == (-math.inf, math.inf)


# ---------------------------------------------------------------- reference sets


@pytest.fixture
def dirichlet() -> tuple[Floats, Ints]:
    rng = np.random.default_rng(31)
    proba = rng.dirichlet(np.ones(4), 700)
    labels = np.array([rng.choice(4, p=row) for row in proba])
    return proba, labels


def _reference_aps_scores(row: Floats) -> list[float]:
    """Per class: the mass of the classes ranked at or above it (ties by column order)."""
    ranked = sorted(range(len(row)), key=lambda c: (-row[c], c))
    return [sum(row[c] for c in ranked[: ranked.index(label) + 1]) for label in range(len(row))]


def _reference_sets(proba: Floats, labels: Ints, test: Floats, score: str) -> list[list[bool]]:
    def scores(row: Floats) -> list[float]:
        return [1 - p for p in row] if score == "lac" else _reference_aps_scores(row)

    calibration = sorted(scores(row)[label] for row, label in zip(proba, labels, strict=True))
    quantile = calibration[math.ceil((len(labels) + 1) * (1 - ALPHA)) - 1]
    return [[value <= quantile for value in scores(row)] for row in test]


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_sets_agree_with_a_reference_loop(score: str, dirichlet: tuple[Floats, Ints]) -> None:
    proba, labels = dirichlet
    predictor = ConformalClassifier(alpha=ALPHA, score=score).fit(proba[:500], labels[:500])
    expected = _reference_sets(proba[:500], labels[:500], proba[500:], score)
    assert predictor.predict_sets(proba[500:]).tolist() == expected


def test_regression_intervals_agree_with_a_reference_computation() -> None:
    rng = np.random.default_rng(32)
    predicted, target = rng.normal(size=300), rng.normal(size=300)
    predictor = ConformalRegressor(alpha=ALPHA).fit(predicted, target)
    half_width = sorted(abs(t - p) for t, p in zip(target, predicted, strict=True))[270]
    lower, upper = predictor.predict_intervals([1.5])
    assert (lower[0], upper[0]) == (1.5 - half_width, 1.5 + half_width)


def test_cqr_shrinks_a_band_that_is_too_wide() -> None:
    target = np.random.default_rng(33).normal(size=300)
    predictor = ConformalQuantileRegressor(alpha=ALPHA).fit(target - 5, target + 5, target)
    lower, upper = predictor.predict_intervals([-5.0], [5.0])
    assert predictor.quantile_ == -5.0
    assert (lower[0], upper[0]) == (0.0, 0.0)


def test_sets_need_as_many_classes_as_calibrated(dirichlet: tuple[Floats, Ints]) -> None:
    proba, labels = dirichlet
    predictor = ConformalClassifier().fit(proba, labels)
    with pytest.raises(ValueError, match="3 class columns; the predictor was calibrated on 4"):
        predictor.predict_sets(proba[:, :3] / proba[:, :3].sum(axis=1, keepdims=True))


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, "0.1"])
def test_alpha_outside_the_open_unit_interval_is_refused_at_fit(alpha: object) -> None:
    predictor = ConformalRegressor(alpha=alpha)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        predictor.fit([0.0, 1.0], [0.0, 1.0])


# ---------------------------------------------------------------- MAPIE as a second oracle


class _GivenProba(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A prefit 'model' whose features are its predicted probabilities."""

    def fit(self, X: Floats, y: Ints) -> _GivenProba:
        self.classes_ = np.arange(X.shape[1])
        return self

    def predict_proba(self, X: Floats) -> Floats:
        return np.asarray(X)

    def predict(self, X: Floats) -> Ints:
        return np.asarray(np.argmax(X, axis=1))


class _GivenColumn(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A prefit 'model' that predicts one column of its features."""

    def __init__(self, column: int = 0) -> None:
        self.column = column

    def fit(self, X: Floats, y: Floats) -> _GivenColumn:
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Floats) -> Floats:
        return np.asarray(X)[:, self.column]


def _next_order_statistic(scores: Floats) -> float:
    """The conservative alternative MAPIE may pick: one rank above ours."""
    rank = conformal_rank(len(scores), ALPHA)
    return float(np.sort(scores)[rank]) if rank < len(scores) else math.inf


def test_lac_sets_agree_with_mapie(dirichlet: tuple[Floats, Ints]) -> None:
    classification = pytest.importorskip("mapie.classification")
    proba, labels = dirichlet
    mapie = classification.SplitConformalClassifier(
        estimator=_GivenProba().fit(proba, labels), confidence_level=1 - ALPHA, prefit=True
    ).conformalize(proba[:500], labels[:500])
    theirs = mapie.predict_set(proba[500:])[1][:, :, 0]
    ours = ConformalClassifier(alpha=ALPHA).fit(proba[:500], labels[:500])
    conservative = (1 - proba[500:]) <= _next_order_statistic(
        1 - proba[np.arange(500), labels[:500]]
    )
    assert np.array_equal(theirs, ours.predict_sets(proba[500:])) or np.array_equal(
        theirs, conservative
    )


def test_aps_scores_agree_with_mapie(dirichlet: tuple[Floats, Ints]) -> None:
    sets = pytest.importorskip("mapie.conformity_scores")
    proba, labels = dirichlet
    theirs, _ = sets.APSConformityScore.get_true_label_cumsum_proba(labels, proba, np.arange(4))
    ours = [_reference_aps_scores(row)[label] for row, label in zip(proba, labels, strict=True)]
    np.testing.assert_allclose(theirs[:, 0], ours, rtol=0, atol=1e-12)
    predictor = ConformalClassifier(alpha=ALPHA, score="aps").fit(proba, labels)
    assert predictor.quantile_ in (
        conformal_quantile(theirs[:, 0], ALPHA),
        _next_order_statistic(theirs[:, 0]),
    )


@pytest.fixture
def residual_problem() -> tuple[Floats, Floats]:
    rng = np.random.default_rng(34)
    predicted = rng.normal(size=700)
    return predicted, predicted + rng.standard_t(3, size=700)


def test_regression_intervals_agree_with_mapie(residual_problem: tuple[Floats, Floats]) -> None:
    regression = pytest.importorskip("mapie.regression")
    predicted, target = residual_problem
    features = predicted[:, None]
    mapie = regression.SplitConformalRegressor(
        estimator=_GivenColumn(0).fit(features, target), confidence_level=1 - ALPHA, prefit=True
    ).conformalize(features[:500], target[:500])
    theirs = mapie.predict_interval(features[500:])[1][:, :, 0]
    ours = ConformalRegressor(alpha=ALPHA).fit(predicted[:500], target[:500])
    lower, upper = ours.predict_intervals(predicted[500:])
    slack = _next_order_statistic(np.abs(target[:500] - predicted[:500])) - ours.quantile_
    assert np.allclose(theirs[:, 0], lower, rtol=0, atol=1e-12) or np.allclose(
        theirs[:, 0], lower - slack, rtol=0, atol=1e-12
    )
    assert np.allclose(theirs[:, 1] - theirs[:, 0], upper - lower, rtol=0, atol=1e-12) or (
        np.allclose(theirs[:, 1] - theirs[:, 0], upper - lower + 2 * slack, rtol=0, atol=1e-12)
    )


def test_cqr_intervals_agree_with_mapie_symmetric_correction(
    residual_problem: tuple[Floats, Floats],
) -> None:
    regression = pytest.importorskip("mapie.regression")
    predicted, target = residual_problem
    features = np.column_stack([predicted, predicted - 1.0, predicted + 1.5])
    models = [_GivenColumn(c).fit(features, target) for c in (1, 2, 0)]  # lower, upper, median
    mapie = regression.ConformalizedQuantileRegressor(
        estimator=models, confidence_level=1 - ALPHA, prefit=True
    ).conformalize(features[:500], target[:500])
    theirs = mapie.predict_interval(features[500:], symmetric_correction=True)[1][:, :, 0]
    ours = ConformalQuantileRegressor(alpha=ALPHA).fit(
        features[:500, 1], features[:500, 2], target[:500]
    )
    lower, upper = ours.predict_intervals(features[500:, 1], features[500:, 2])
    scores = np.maximum(features[:500, 1] - target[:500], target[:500] - features[:500, 2])
    slack = _next_order_statistic(scores) - ours.quantile_
    assert np.allclose(theirs[:, 0], lower, rtol=0, atol=1e-12) or np.allclose(
        theirs[:, 0], lower - slack, rtol=0, atol=1e-12
    )
    assert np.allclose(theirs[:, 1], upper, rtol=0, atol=1e-12) or np.allclose(
        theirs[:, 1], upper + slack, rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------- coverage (see module doc)


def _splits() -> list[tuple[Ints, Ints]]:
    pool = N_CAL + M_TEST
    orders = [np.random.default_rng(seed).permutation(pool) for seed in range(RUNS)]
    return [(order[:N_CAL], order[N_CAL:]) for order in orders]


def _assert_valid_coverage(run_coverage: Callable[[Ints, Ints], float]) -> None:
    rank = conformal_rank(N_CAL, ALPHA)
    law = betabinom(M_TEST, rank, N_CAL + 1 - rank)
    tail = 0.01 / RUNS / 2
    low, high = law.ppf(tail), law.ppf(1 - tail)
    coverages = [run_coverage(calibration, test) for calibration, test in _splits()]
    for coverage in coverages:
        assert low <= round(coverage * M_TEST) <= high, (coverage, low / M_TEST, high / M_TEST)
    standard_error = law.std() / M_TEST / math.sqrt(RUNS)
    assert 1 - ALPHA - 3 * standard_error <= np.mean(coverages)
    assert np.mean(coverages) <= 1 - ALPHA + 1 / (N_CAL + 1) + 3 * standard_error


@pytest.fixture(scope="module")
def classification_pool() -> tuple[Floats, Ints]:
    features, labels = make_classification(
        n_samples=N_TRAIN + N_CAL + M_TEST,
        n_features=10,
        n_informative=5,
        n_classes=3,
        flip_y=0.05,
        random_state=0,
    )
    model = LogisticRegression(max_iter=1000).fit(features[:N_TRAIN], labels[:N_TRAIN])
    return model.predict_proba(features[N_TRAIN:]), labels[N_TRAIN:]


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_classification_coverage_is_valid_over_random_splits(
    score: str, classification_pool: tuple[Floats, Ints]
) -> None:
    proba, labels = classification_pool

    def run(calibration: Ints, test: Ints) -> float:
        predictor = ConformalClassifier(alpha=ALPHA, score=score)
        sets = predictor.fit(proba[calibration], labels[calibration]).predict_sets(proba[test])
        return float(sets[np.arange(len(test)), labels[test]].mean())

    _assert_valid_coverage(run)


@pytest.fixture(scope="module")
def regression_pool() -> tuple[Floats, Floats, Floats, Floats]:
    """Point predictions, 5 % and 95 % quantile predictions and targets of the pool rows."""
    features, target = make_friedman1(n_samples=N_TRAIN + N_CAL + M_TEST, noise=1.0, random_state=0)
    target = target + features[:, 0] * np.random.default_rng(0).normal(size=len(target)) * 3
    train, pool = slice(0, N_TRAIN), slice(N_TRAIN, None)
    point = LinearRegression().fit(features[train], target[train])
    bands = [
        GradientBoostingRegressor(loss="quantile", alpha=q, n_estimators=50, random_state=0)
        .fit(features[train], target[train])
        .predict(features[pool])
        for q in (ALPHA / 2, 1 - ALPHA / 2)
    ]
    return point.predict(features[pool]), bands[0], bands[1], target[pool]


def test_regression_coverage_is_valid_over_random_splits(
    regression_pool: tuple[Floats, Floats, Floats, Floats],
) -> None:
    predicted, _, _, target = regression_pool

    def run(calibration: Ints, test: Ints) -> float:
        predictor = ConformalRegressor(alpha=ALPHA).fit(predicted[calibration], target[calibration])
        lower, upper = predictor.predict_intervals(predicted[test])
        return float(np.mean((lower <= target[test]) & (target[test] <= upper)))

    _assert_valid_coverage(run)


def test_cqr_coverage_is_valid_over_random_splits(
    regression_pool: tuple[Floats, Floats, Floats, Floats],
) -> None:
    _, low_band, high_band, target = regression_pool

    def run(calibration: Ints, test: Ints) -> float:
        predictor = ConformalQuantileRegressor(alpha=ALPHA).fit(
            low_band[calibration], high_band[calibration], target[calibration]
        )
        lower, upper = predictor.predict_intervals(low_band[test], high_band[test])
        return float(np.mean((lower <= target[test]) & (target[test] <= upper)))

    _assert_valid_coverage(run)
