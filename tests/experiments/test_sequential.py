"""The mixture SPRT: its formula, its error rate under peeking, its power, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate, stats

from loopline.errors import ExperimentError
from loopline.experiments import (
    DEFAULT_TAU,
    compare_proportions,
    decide,
    sequential_path,
    sequential_test,
    srm_check,
)

RUNS, LOOKS, STEP = 1000, 50, 100  # 1,000 experiments, a look every 100 units, 5,000 per arm
ALPHA = 0.05


def _simulate(
    p_control: float, p_treatment: float, seed: int, runs: int = RUNS
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Cumulative successes per arm at each look, and the units per arm at each look."""
    rng = np.random.default_rng(seed)
    x_c = rng.binomial(STEP, p_control, size=(runs, LOOKS)).cumsum(axis=1)
    x_t = rng.binomial(STEP, p_treatment, size=(runs, LOOKS)).cumsum(axis=1)
    return x_c, x_t, np.arange(1, LOOKS + 1) * STEP


def _mixture_ratio(centre: float, difference: float, variance: float, n_c: int, n_t: int) -> float:
    """The mixture likelihood ratio by numerical integration (the reference for the formula)."""
    sigma2 = variance / (1 / n_c + 1 / n_t)  # the per-unit variance the mixing scale refers to
    prior = stats.norm(0, DEFAULT_TAU * math.sqrt(sigma2))
    sd = math.sqrt(variance)
    mixed, _ = integrate.quad(
        lambda theta: stats.norm.pdf(difference, centre + theta, sd) * prior.pdf(theta),
        -20 * prior.std(),
        20 * prior.std(),
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )
    return float(mixed / stats.norm.pdf(difference, centre, sd))


def test_a_a_experiments_peeked_at_every_look_stop_at_most_alpha() -> None:
    x_c, x_t, n = _simulate(0.10, 0.10, seed=11)
    path = sequential_path(x_c, n, x_t, n, alpha=ALPHA)
    sequential_rate = path.stop[:, -1].mean()
    pooled = (x_c + x_t) / (2 * n)
    z = (x_t - x_c) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive_rate = (2 * stats.norm.sf(np.abs(z)) < ALPHA).any(axis=1).mean()
    assert sequential_rate <= ALPHA
    assert naive_rate > ALPHA  # peeking at a fixed-horizon test is what the mSPRT protects from
    assert (np.diff(path.p_value, axis=1) <= 0).all()  # running minimum: a stop is never undone


def test_a_real_lift_stops_for_the_treatment_and_is_promoted() -> None:
    x_c, x_t, n = _simulate(0.10, 0.13, seed=12, runs=300)
    path = sequential_path(x_c, n, x_t, n, alpha=ALPHA)
    stopped = path.stop[:, -1]
    assert stopped.mean() >= 0.8
    assert (path.ci_low[stopped, -1] > 0).all()
    for run in np.flatnonzero(stopped)[:50]:
        look = int(np.argmax(path.stop[run]))  # the first look at which the test stopped
        previous = None
        for k in range(look + 1):
            previous = sequential_test(x_c[run, k], n[k], x_t[run, k], n[k], previous=previous)
        assert previous is not None
        assert previous.stop
        primary = compare_proportions(int(x_c[run, look]), int(n[look]), x_t[run, look], n[look])
        assert decide(primary, previous, planned_n=5000)[0] == "promote"


def test_a_harmful_treatment_is_stopped_for_harm() -> None:
    x_c, x_t, n = _simulate(0.13, 0.10, seed=13, runs=200)
    path = sequential_path(x_c, n, x_t, n, alpha=ALPHA)
    assert path.stop[:, -1].mean() >= 0.8
    run = int(np.flatnonzero(path.stop[:, -1])[0])
    result = sequential_test(x_c[run, -1], n[-1], x_t[run, -1], n[-1])
    primary = compare_proportions(int(x_c[run, -1]), 5000, int(x_t[run, -1]), 5000)
    assert result.stop
    assert decide(primary, result, planned_n=5000)[0] == "stop_harm"


def test_a_winner_with_a_sample_ratio_mismatch_is_never_promoted() -> None:
    x_c, x_t, n = _simulate(0.10, 0.13, seed=14, runs=50)
    n_t = (n * 1.1).astype(np.int64)  # treatment gets 10 % more units than the 50/50 split says
    x_t = np.minimum(x_t, n_t)
    for run in range(50):
        result = sequential_test(x_c[run, -1], n[-1], x_t[run, -1], n_t[-1])
        primary = compare_proportions(int(x_c[run, -1]), 5000, int(x_t[run, -1]), int(n_t[-1]))
        srm = srm_check([5000, int(n_t[-1])], [0.5, 0.5])
        assert decide(primary, result, planned_n=5000, srm=srm)[0] == "continue"


def test_the_confidence_sequence_covers_the_true_lift_at_every_look() -> None:
    x_c, x_t, n = _simulate(0.10, 0.12, seed=15)
    path = sequential_path(x_c, n, x_t, n, alpha=ALPHA)
    missed = ((path.ci_low > 0.02) | (path.ci_high < 0.02)).any(axis=1)
    assert missed.mean() <= ALPHA
    assert (np.diff(path.ci_high - path.ci_low, axis=1) <= 1e-15).all()  # intersected: shrinks


def test_p_value_and_interval_equal_the_integrated_mixture_ratio() -> None:
    mean_c, var_c, n_c, mean_t, var_t, n_t = 10.0, 9.0, 800, 10.5, 12.0, 700
    result = sequential_test(
        mean_c, n_c, mean_t, n_t, kind="mean", var_control=var_c, var_treatment=var_t
    )
    difference, variance = mean_t - mean_c, var_c / n_c + var_t / n_t
    ratio = _mixture_ratio(0.0, difference, variance, n_c, n_t)
    assert result.p_value == pytest.approx(min(1.0, 1 / ratio), rel=1e-9)
    for edge in (result.ci_low, result.ci_high):  # the interval's ends are where Λ = 1/alpha
        assert _mixture_ratio(edge, difference, variance, n_c, n_t) == pytest.approx(20, rel=1e-8)


def test_one_look_at_a_time_equals_the_path() -> None:
    x_c, x_t, n = _simulate(0.10, 0.115, seed=16, runs=1)
    path = sequential_path(x_c[0], n, x_t[0], n)
    previous = None
    for k in range(LOOKS):
        previous = sequential_test(x_c[0, k], n[k], x_t[0, k], n[k], previous=previous)
        assert previous.p_value == pytest.approx(path.p_value[k], rel=1e-12)
        assert (previous.ci_low, previous.ci_high) == pytest.approx(
            (path.ci_low[k], path.ci_high[k]), rel=1e-12
        )


def test_a_larger_tau_is_more_sensitive_early() -> None:
    early = {tau: sequential_test(80, 1000, 120, 1000, tau=tau).p_value for tau in (0.05, 0.3)}
    assert early[0.3] < early[0.05]
    assert "tau=0.3" in sequential_test(80, 1000, 120, 1000, tau=0.3).method


def test_arms_where_every_unit_agrees_give_a_defined_result() -> None:
    result = sequential_test(0, 300, 0, 300)
    assert (result.p_value, result.ci_low, result.ci_high, result.stop) == (1.0, -1.0, 1.0, False)
    identical = sequential_test(30, 300, 30, 300)
    assert identical.p_value == 1.0
    assert identical.ci_low < 0 < identical.ci_high


def test_a_single_unit_per_arm_cannot_stop_the_test() -> None:
    assert not sequential_test(0, 1, 1, 1).stop  # the pooled variance guards tiny samples


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, 0, 0, 10), {}, "n_control"),
        ((5, 4, 1, 10), {}, "successes"),
        ((1.5, 10, 1, 10), {}, "successes"),
        ((1, 10, 2, 10), {"var_control": 1.0}, "kind='mean'"),
        ((1.0, 10, 2.0, 10), {"kind": "mean", "var_control": 1.0}, "var_treatment"),
        ((1.0, 10, 2.0, 10), {"kind": "mean", "var_control": 0, "var_treatment": 0}, "variance 0"),
        ((1.0, 1, 2.0, 10), {"kind": "mean", "var_control": 1, "var_treatment": 1}, "at least 2"),
        ((1, 10, 2, 10), {"tau": 0.0}, "tau"),
        ((1, 10, 2, 10), {"kind": "median"}, "kind"),
    ],
)
def test_sequential_refuses_bad_input(
    args: tuple[float, ...], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ExperimentError, match=match):
        sequential_test(*args, **kwargs)  # type: ignore[arg-type]


def test_a_previous_look_with_another_tau_is_refused() -> None:
    first = sequential_test(10, 100, 12, 100, tau=0.2)
    with pytest.raises(ExperimentError, match="fixed for the whole experiment"):
        sequential_test(20, 200, 25, 200, previous=first)
