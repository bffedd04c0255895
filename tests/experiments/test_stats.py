"""Fixed-horizon A/B statistics, planning and the decision, against SciPy and statsmodels."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

import loopline.experiments as experiments
from loopline.errors import ExperimentError
from loopline.experiments import (
    Sequential,
    check_guardrail,
    compare_means,
    compare_proportions,
    compare_samples,
    decide,
    plan_sample_size,
    srm_check,
)

PROPORTION_CASES = [
    (100, 1000, 130, 1000),
    (48, 500, 31, 450),
    (0, 50, 3, 50),
    (7, 7, 5, 9),
    (1, 20_000, 9, 18_000),
    (500, 1000, 500, 1000),
]


def test_all_is_sorted_and_public() -> None:
    exported = list(experiments.__all__)
    key = [(0 if n.isupper() else 1 if n[0].isupper() else 2, n) for n in exported]
    assert key == sorted(key)
    assert all(hasattr(experiments, name) and not name.startswith("_") for name in exported)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [([5000, 5021], [0.5, 0.5]), ([900, 130], [90, 10]), ([310, 340, 290], [1, 1, 1])],
)
def test_srm_equals_scipy_chisquare(counts: list[int], weights: list[float]) -> None:
    expected = np.asarray(weights) / sum(weights) * sum(counts)
    reference = stats.chisquare(counts, f_exp=expected)
    check = srm_check(counts, weights)
    assert check.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert check.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert check.expected == pytest.approx(tuple(expected), rel=1e-12)


def test_srm_flags_only_below_threshold() -> None:
    assert srm_check([5000, 5400], [1, 1]).mismatch  # p ≈ 0.009 % for a 50/50 split
    assert not srm_check([5000, 5100], [1, 1]).mismatch  # p ≈ 32 %
    assert srm_check([5000, 5100], [1, 1], threshold=0.5).mismatch


@pytest.mark.parametrize(
    ("counts", "weights"),
    [([0, 0], [1, 1]), ([10], [1]), ([10, 12], [1, 0]), ([10, -1], [1, 1]), ([10, 2.5], [1, 1])],
)
def test_srm_refuses_bad_input(counts: list[int], weights: list[float]) -> None:
    with pytest.raises(ExperimentError):
        srm_check(counts, weights)


@pytest.mark.parametrize(("x_c", "n_c", "x_t", "n_t"), PROPORTION_CASES)
def test_proportions_equal_statsmodels(x_c: int, n_c: int, x_t: int, n_t: int) -> None:
    result = compare_proportions(x_c, n_c, x_t, n_t, alpha=0.1)
    z, p = proportions_ztest([x_t, x_c], [n_t, n_c])
    low, high = confint_proportions_2indep(
        x_t, n_t, x_c, n_c, compare="diff", method="newcomb", alpha=0.1
    )
    assert result.statistic == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert result.difference == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-15)


def test_proportions_identical_arms_have_no_difference() -> None:
    result = compare_proportions(120, 1000, 120, 1000)
    assert (result.difference, result.statistic, result.p_value) == (0.0, 0.0, 1.0)
    assert result.ci_low < 0 < result.ci_high
    assert result.relative_lift == 0.0


@pytest.mark.parametrize(("x", "n"), [(0, 400), (400, 400)])
def test_proportions_where_every_unit_agrees_are_defined(x: int, n: int) -> None:
    result = compare_proportions(x, n, x, n)
    values = [result.statistic, result.p_value, result.ci_low, result.ci_high]
    assert not any(math.isnan(value) for value in values)
    assert (result.statistic, result.p_value) == (0.0, 1.0)
    low, high = confint_proportions_2indep(x, n, x, n, compare="diff", method="newcomb")
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert result.ci_low < 0 < result.ci_high  # Newcomb does not collapse to a point


def test_relative_lift_is_none_when_control_is_zero() -> None:
    assert compare_proportions(0, 100, 4, 100).relative_lift is None
    assert compare_proportions(10, 100, 12, 100).relative_lift == pytest.approx(0.2)


@pytest.mark.parametrize(
    "args", [(1, 0, 1, 10), (5, 4, 1, 10), (True, 10, 1, 10), (1.0, 10, 1, 10), (1, 10, -1, 10)]
)
def test_proportions_refuse_impossible_counts(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ExperimentError) as caught:
        compare_proportions(*args)
    assert caught.value.code == "experiment-error"
    assert caught.value.hint


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, float("nan")])
def test_comparisons_refuse_an_alpha_outside_zero_one(alpha: float) -> None:
    with pytest.raises(ExperimentError, match="alpha"):
        compare_proportions(1, 10, 2, 10, alpha=alpha)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_equals_scipy_and_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    control = rng.lognormal(3.0, 1.0, size=300 + 50 * seed)
    treatment = rng.lognormal(3.1, 1.3, size=280)
    result = compare_samples(control, treatment, alpha=0.1)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert result.kind == "mean"
    assert result.n_control == control.size


def test_means_from_sufficient_statistics_equal_the_samples() -> None:
    rng = np.random.default_rng(7)
    control, treatment = rng.normal(10, 2, 500), rng.normal(10.4, 3, 400)
    summary = compare_means(
        control.mean(), control.var(ddof=1), 500, treatment.mean(), treatment.var(ddof=1), 400
    )
    assert summary == compare_samples(control, treatment)


def test_welch_with_one_constant_arm_equals_statsmodels() -> None:
    control, treatment = np.full(50, 3.0), np.random.default_rng(3).normal(3.2, 1, 60)
    result = compare_samples(control, treatment)
    # statsmodels rather than SciPy: SciPy warns about the constant arm (warnings are errors)
    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    t, p_value, _ = compare.ttest_ind(usevar="unequal")
    assert (result.statistic, result.p_value) == pytest.approx((t, p_value), rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx(compare.tconfint_diff(usevar="unequal"))


def test_welch_refuses_two_constant_arms() -> None:
    with pytest.raises(ExperimentError, match="variance 0 in both arms"):
        compare_samples(np.full(20, 1.0), np.full(20, 1.0))


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        ([1.0], [1.0, 2.0, 3.0]),
        ([], [1.0, 2.0]),
        ([1.0, np.nan, 2.0], [1.0, 2.0]),
        ([[1.0]], [1.0]),
        (["a", "b"], [1.0, 2.0]),
    ],
)
def test_welch_refuses_bad_samples(control: list[float], treatment: list[float]) -> None:
    with pytest.raises(ExperimentError):
        compare_samples(np.asarray(control), np.asarray(treatment))


def test_means_refuse_a_negative_variance() -> None:
    with pytest.raises(ExperimentError, match="non-negative variance"):
        compare_means(1.0, -0.5, 10, 1.0, 1.0, 10)


@pytest.mark.parametrize(
    ("baseline", "mde", "power", "ratio"),
    [
        (0.10, 0.03, 0.8, 1.0),
        (0.05, 0.005, 0.9, 1.0),
        (0.5, -0.02, 0.8, 2.0),
        (0.9, 0.05, 0.8, 0.5),
    ],
)
def test_sample_size_for_proportions_equals_statsmodels(
    baseline: float, mde: float, power: float, ratio: float
) -> None:
    effect = proportion_effectsize(baseline + mde, baseline)
    expected = NormalIndPower().solve_power(abs(effect), alpha=0.05, power=power, ratio=ratio)
    assert plan_sample_size(baseline, mde, power=power, ratio=ratio) == math.ceil(expected)


@pytest.mark.parametrize(
    ("mde", "sd", "alpha"), [(0.5, 4.0, 0.05), (2.0, 30.0, 0.01), (1.0, 1.0, 0.1)]
)
def test_sample_size_for_means_equals_statsmodels(mde: float, sd: float, alpha: float) -> None:
    expected = NormalIndPower().solve_power(mde / sd, alpha=alpha, power=0.8, ratio=1.0)
    assert plan_sample_size(20.0, mde, kind="mean", sd=sd, alpha=alpha) == math.ceil(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 0.1, "mde": 0.0},
        {"baseline": 0.95, "mde": 0.1},
        {"baseline": 0.1, "mde": 0.01, "sd": 1.0},
        {"baseline": 5.0, "mde": 1.0, "kind": "mean"},
        {"baseline": 0.1, "mde": 0.01, "power": 1.0},
        {"baseline": 0.1, "mde": 0.01, "ratio": 0.0},
    ],
)
def test_sample_size_refuses_bad_plans(kwargs: dict[str, float]) -> None:
    with pytest.raises(ExperimentError):
        plan_sample_size(**kwargs)  # type: ignore[arg-type]


def _sequential(stop: bool) -> Sequential:
    return Sequential(0.01 if stop else 0.4, 0.01, 0.05, stop, "test", 0.05, 0.1)


def test_decide_promotes_a_winner_and_stops_a_loser() -> None:
    better, worse = (
        compare_proportions(100, 2000, 160, 2000),
        compare_proportions(160, 2000, 100, 2000),
    )
    decision, reason = decide(better, _sequential(True), planned_n=5000)
    assert decision == "promote"
    assert "better" in reason
    assert decide(worse, _sequential(True), planned_n=5000)[0] == "stop_harm"
    assert decide(worse, _sequential(True), planned_n=5000, higher_is_better=False)[0] == "promote"


def test_decide_continues_then_stops_for_no_difference_at_the_planned_size() -> None:
    result = compare_proportions(100, 1000, 104, 1000)
    assert decide(result, _sequential(False), planned_n=2000)[0] == "continue"
    assert decide(result, _sequential(False), planned_n=1000)[0] == "stop_no_difference"


def test_decide_never_promotes_under_sample_ratio_mismatch() -> None:
    better = compare_proportions(100, 2000, 160, 2600)
    srm = srm_check([2000, 2600], [1, 1])
    decision, reason = decide(better, _sequential(True), planned_n=1000, srm=srm)
    assert (decision, reason.split(" (")[0]) == ("continue", "sample ratio mismatch: investigate")


def test_a_breached_guardrail_stops_for_harm_even_for_a_winner() -> None:
    better = compare_proportions(100, 2000, 160, 2000)
    latency = check_guardrail("p95_latency_ms", 120.0, 150.0, max_increase=20.0)
    errors = check_guardrail("error_rate", 0.010, 0.012, max_increase=0.005)
    assert (latency.breached, errors.breached) == (True, False)
    decision, reason = decide(
        better, _sequential(True), planned_n=5000, guardrails=[latency, errors]
    )
    assert decision == "stop_harm"
    assert "p95_latency_ms" in reason
    assert "error_rate" not in reason


@pytest.mark.parametrize("planned_n", [0, -5, 2.5, True])
def test_decide_refuses_a_bad_planned_size(planned_n: int) -> None:
    with pytest.raises(ExperimentError, match="planned_n"):
        decide(compare_proportions(1, 10, 2, 10), _sequential(False), planned_n=planned_n)


@pytest.mark.parametrize("module", ["_stats", "_planning", "_decision"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"loopline.experiments.{module}"))
    assert result.attempted > 0
    assert result.failed == 0
