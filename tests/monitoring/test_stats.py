"""Every drift statistic against its reference implementation (SciPy, statsmodels, NumPy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon as scipy_jensenshannon
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

from loopline.monitoring import benjamini_hochberg
from loopline.monitoring._stats import bin_counts, chi2_test, compare_sorted, jensenshannon, psi

SIZES = [(5, 7), (300, 200), (10_000, 800), (30_000, 1_000), (50_000, 20_000), (200_000, 150_000)]


@pytest.mark.parametrize(("n1", "n2"), SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_ks_and_wasserstein_equal_scipy(n1: int, n2: int, ties: bool) -> None:
    rng = np.random.default_rng(n1 + n2)
    reference = rng.normal(size=n1)
    current = rng.normal(0.05, 1.1, size=n2)
    if ties:  # few distinct values: every point is a tie
        reference, current = np.round(reference * 3), np.round(current * 3)
    expected = stats.ks_2samp(reference, current)
    ks, ks_p, wasserstein = compare_sorted(np.sort(reference), np.sort(current))
    assert ks == pytest.approx(expected.statistic, abs=1e-9)
    assert ks_p == pytest.approx(expected.pvalue, abs=1e-9)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(reference, current), abs=1e-9)


def test_ks_p_value_of_a_large_shift_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=60_000), rng.normal(0.1, size=40_000)
    expected = stats.ks_2samp(reference, current)
    assert expected.pvalue < 1e-10  # the Kolmogorov-limit shortcut is taken
    _, ks_p, _ = compare_sorted(np.sort(reference), np.sort(current))
    assert ks_p == pytest.approx(expected.pvalue, abs=1e-9)
    assert ks_p == pytest.approx(expected.pvalue, rel=0.05)


def test_identical_samples_have_no_distance() -> None:
    values = np.sort(np.random.default_rng(1).integers(0, 5, 40).astype(float))
    ks, ks_p, wasserstein = compare_sorted(values, values.copy())
    assert (ks, ks_p, wasserstein) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([50, 30, 20], [40, 35, 25]),
        ([50, 30, 20, 0], [40, 35, 20, 9]),  # a category unseen in the reference
        ([500, 300], [220, 180]),  # one degree of freedom: Yates' correction
        ([5000, 3000, 0, 2000], [400, 300, 0, 300]),  # empty in both: dropped
    ],
)
def test_chi2_equals_chi2_contingency(reference: list[int], current: list[int]) -> None:
    table = np.array([reference, current])
    expected = stats.chi2_contingency(table[:, table.sum(axis=0) > 0])
    statistic, p_value = chi2_test(np.array(reference), np.array(current))
    assert statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert p_value > 0.0


def test_chi2_of_a_single_category_is_not_significant() -> None:
    assert chi2_test(np.array([10]), np.array([3])) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("p", "q"), [([1, 2, 3], [3, 2, 1]), ([0.9, 0.1, 0.0], [0.8, 0.1, 0.1]), ([5, 0], [0, 5])]
)
def test_jensenshannon_equals_scipy_base_2(p: list[float], q: list[float]) -> None:
    expected = scipy_jensenshannon(np.array(p), np.array(q), base=2)
    assert jensenshannon(np.array(p, float), np.array(q, float)) == pytest.approx(
        expected, abs=1e-9
    )


def test_a_category_share_doubling_has_a_jensenshannon_distance_near_012() -> None:
    distance = jensenshannon(np.array([0.1, 0.9]), np.array([0.2, 0.8]))
    assert 0.1 < distance < 0.13


def test_psi_equals_the_numpy_formula_with_floored_empty_bins() -> None:
    rng = np.random.default_rng(7)
    reference, current = np.sort(rng.normal(size=5_000)), np.sort(rng.normal(0.3, size=2_000))
    edges = np.unique(np.quantile(reference, np.linspace(0.1, 0.9, 9)))
    bounds = np.concatenate(([-np.inf], edges, [np.inf]))
    # np.histogram's bins are [a, b) except the last, closed: no value sits on +inf
    r = np.histogram(reference, bounds)[0] / reference.size
    c = np.histogram(current, bounds)[0] / current.size
    assert (bin_counts(current, edges) / current.size == c).all()
    r, c = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
    expected = np.sum((c - r) * np.log(c / r))
    assert psi(bin_counts(reference, edges) / 5_000, c) == pytest.approx(expected, abs=1e-12)


def test_psi_floors_an_empty_bin_at_1e_4() -> None:
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.0, 0.5]))
    expected = (1e-4 - 0.5) * np.log(1e-4 / 0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4)
    assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("size", [1, 5, 40])
def test_benjamini_hochberg_equals_statsmodels(size: int) -> None:
    p = np.random.default_rng(size).uniform(0, 0.2, size)
    p[: size // 3] /= 1000
    assert np.allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], atol=1e-12)


def test_benjamini_hochberg_of_nothing_is_empty() -> None:
    assert benjamini_hochberg([]).size == 0
