"""Fixed-horizon A/B statistics: the sample-ratio check and the two-arm comparisons.

- :func:`srm_check`: a chi-square goodness-of-fit test of the units each arm received against
  the traffic split (``scipy.stats.chisquare`` with expected counts from the weights);
- :func:`compare_proportions`: the pooled two-proportion z-test (``statsmodels``
  ``proportions_ztest``) with a Newcomb hybrid-score interval for the difference
  (``confint_proportions_2indep(..., method="newcomb")``);
- :func:`compare_means`: Welch's t-test from sufficient statistics (``ttest_ind(equal_var=False)``)
  with a Welch-Satterthwaite interval (``CompareMeans.tconfint_diff(usevar="unequal")``).

Every difference is *treatment - control*. Bad numbers raise
:class:`~loopline.errors.ExperimentError`; no result is ever NaN. The formulas are in
``docs/experiments.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from loopline.errors import ExperimentError

__all__ = [
    "Comparison",
    "Kind",
    "SrmCheck",
    "compare_means",
    "compare_proportions",
    "compare_samples",
    "srm_check",
]

#: The kind of metric: a share of units with an outcome, or the mean of a per-unit value.
Kind = Literal["proportion", "mean"]


@dataclass(frozen=True)
class SrmCheck:
    """The sample-ratio-mismatch check: did each arm get the share of units it was meant to?

    Attributes:
        statistic: The chi-square statistic, ``Σ (observed - expected)² / expected``.
        p_value: Its upper tail with ``arms - 1`` degrees of freedom.
        mismatch: ``p_value < threshold``: the assignment is broken and no result can be trusted.
        observed: The units per arm, as given.
        expected: The units per arm the weights predict for the same total.
    """

    statistic: float
    p_value: float
    mismatch: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]


@dataclass(frozen=True)
class Comparison:
    """One metric compared between the control and the treatment arm.

    Attributes:
        metric: The metric's name, for reports.
        kind: ``"proportion"`` or ``"mean"``.
        control: The control arm's estimate (a share or a mean).
        treatment: The treatment arm's estimate.
        difference: ``treatment - control``.
        ci_low: The lower end of the ``1 - alpha`` interval for the difference.
        ci_high: Its upper end.
        p_value: The two-sided p-value of "no difference".
        statistic: The z (proportions) or Welch t (means) statistic.
        std_error: The unpooled standard error of the difference,
            ``sqrt(var_c / n_c + var_t / n_t)``; the sequential test uses it.
        relative_lift: ``difference / control``; ``None`` when the control estimate is 0.
        n_control: Units in the control arm.
        n_treatment: Units in the treatment arm.
    """

    metric: str
    kind: Kind
    control: float
    treatment: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    std_error: float
    relative_lift: float | None
    n_control: int
    n_treatment: int


def srm_check(
    counts: Sequence[int], weights: Sequence[float], *, threshold: float = 0.001
) -> SrmCheck:
    """Test the units each arm received against the intended traffic split.

    Args:
        counts: Units assigned to each arm, in the order of ``weights``.
        weights: The intended split (any positive numbers; they are normalised).
        threshold: Flag a mismatch below this p-value (0.001 by convention: the check runs
            on every look, so it must rarely cry wolf).

    Raises:
        ExperimentError: Fewer than two arms, lengths that differ, a negative count, a weight
            that is not positive, no units at all, or a threshold outside (0, 1).

    Example:
        >>> srm_check([5_000, 5_400], [0.5, 0.5]).mismatch
        True
    """
    observed = tuple(_count(value, f"counts[{i}]") for i, value in enumerate(counts))
    if len(observed) < 2 or len(observed) != len(weights):
        raise ExperimentError(
            f"srm_check needs one count per weight and at least two arms; got "
            f"{len(observed)} count(s) and {len(weights)} weight(s).",
            hint="Pass the units of every arm and the split, e.g. ([5000, 5021], [0.5, 0.5]).",
        )
    split = [float(weight) for weight in weights]
    if not all(math.isfinite(weight) and weight > 0 for weight in split):
        raise ExperimentError(
            f"srm_check weights must be positive numbers; got {list(weights)}.",
            hint="Give every arm its share of traffic, e.g. [0.5, 0.5] or [90, 10].",
        )
    _level(threshold, "threshold")
    total = sum(observed)
    if total == 0:
        raise ExperimentError(
            "srm_check got no units in any arm.",
            hint="Run the check once the experiment has assigned traffic.",
        )
    expected = tuple(total * weight / sum(split) for weight in split)
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p_value = float(stats.chi2.sf(statistic, len(observed) - 1))
    return SrmCheck(statistic, p_value, p_value < threshold, observed, expected)


def compare_proportions(
    successes_control: int,
    n_control: int,
    successes_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    metric: str = "conversion",
) -> Comparison:
    """Compare the share of units with an outcome (a conversion, an error) between two arms.

    The test is the two-proportion z-test with the pooled variance (as ``statsmodels``
    ``proportions_ztest``); the interval is Newcomb's hybrid score interval (as
    ``confint_proportions_2indep(method="newcomb")``), which keeps its coverage for small
    counts and rates near 0 or 1 where the Wald interval collapses. When every unit of both
    arms has the same outcome, the difference is 0 with z = 0 and p = 1.

    Raises:
        ExperimentError: An arm without units, a negative count, more successes than units,
            or ``alpha`` outside (0, 1).

    Example:
        >>> result = compare_proportions(100, 1000, 130, 1000)
        >>> round(result.difference, 3), result.p_value < 0.05
        (0.03, True)
    """
    x_c, n_c = _successes(successes_control, n_control, "control")
    x_t, n_t = _successes(successes_treatment, n_treatment, "treatment")
    _level(alpha, "alpha")
    p_c, p_t = x_c / n_c, x_t / n_t
    difference = p_t - p_c
    pooled = (x_c + x_t) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    z = difference / se_pooled if se_pooled > 0 else 0.0
    p_value = float(2 * stats.norm.sf(abs(z)))
    crit = float(stats.norm.isf(alpha / 2))
    low_c, high_c = _wilson(x_c, n_c, crit)
    low_t, high_t = _wilson(x_t, n_t, crit)
    ci_low = difference - math.hypot(p_t - low_t, high_c - p_c)
    ci_high = difference + math.hypot(p_c - low_c, high_t - p_t)
    std_error = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    return Comparison(
        metric, "proportion", p_c, p_t, difference, ci_low, ci_high, p_value, z, std_error,
        _lift(difference, p_c), n_c, n_t,
    )  # fmt: skip


def compare_means(
    mean_control: float,
    var_control: float,
    n_control: int,
    mean_treatment: float,
    var_treatment: float,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    metric: str = "value",
) -> Comparison:
    """Compare the mean of a per-unit value between two arms with Welch's t-test.

    Works from sufficient statistics, so a running experiment never needs its raw values:
    each arm's mean, its sample variance (``ddof=1``) and its number of units. The statistic
    and p-value equal ``scipy.stats.ttest_ind(equal_var=False)`` on the raw values; the
    interval uses the Welch-Satterthwaite degrees of freedom. One arm may have variance 0.

    Raises:
        ExperimentError: An arm with fewer than two units, a negative or non-finite variance,
            a non-finite mean, both variances 0 (nothing varies, so no test applies), or
            ``alpha`` outside (0, 1).
    """
    m_c, v_c, n_c = _arm(mean_control, var_control, n_control, "control")
    m_t, v_t, n_t = _arm(mean_treatment, var_treatment, n_treatment, "treatment")
    _level(alpha, "alpha")
    if v_c == 0 and v_t == 0:
        raise ExperimentError(
            f"Metric {metric!r} has variance 0 in both arms: every unit has the same value "
            f"({m_c!r} in control, {m_t!r} in treatment), so Welch's t-test is undefined.",
            hint="Check that the metric is recorded per unit; a constant needs no test.",
        )
    s_c, s_t = v_c / n_c, v_t / n_t
    std_error = math.sqrt(s_c + s_t)
    df = (s_c + s_t) ** 2 / (s_c**2 / (n_c - 1) + s_t**2 / (n_t - 1))
    difference = m_t - m_c
    t = difference / std_error
    p_value = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.isf(alpha / 2, df)) * std_error
    return Comparison(
        metric, "mean", m_c, m_t, difference, difference - half, difference + half, p_value, t,
        std_error, _lift(difference, m_c), n_c, n_t,
    )  # fmt: skip


def compare_samples(
    control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    metric: str = "value",
) -> Comparison:
    """:func:`compare_means` on raw per-unit values (one-dimensional, finite).

    Raises:
        ExperimentError: A sample that is not one-dimensional or holds NaN or infinity, and
            everything :func:`compare_means` refuses.
    """
    arms = []
    for name, values in (("control", control), ("treatment", treatment)):
        array = _floats(values, f"The {name} sample of {metric!r}")
        if array.ndim != 1 or not np.isfinite(array).all():
            raise ExperimentError(
                f"The {name} sample of {metric!r} must be a one-dimensional array of finite "
                f"numbers; got shape {array.shape}"
                f"{'' if np.isfinite(array).all() else ' with NaN or infinite values'}.",
                hint="Drop units without a value before comparing, or impute them explicitly.",
            )
        variance = float(array.var(ddof=1)) if array.size > 1 else 0.0
        arms.append((float(array.mean()) if array.size else 0.0, variance, int(array.size)))
    (m_c, v_c, n_c), (m_t, v_t, n_t) = arms
    return compare_means(m_c, v_c, n_c, m_t, v_t, n_t, alpha=alpha, metric=metric)


def _floats(values: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    """``values`` as a float array; values that are not numbers raise ExperimentError."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ExperimentError(
            f"{what} must hold numbers; {exc}.",
            hint="Convert the values to numbers (and drop units without one) before comparing.",
        ) from exc


def _wilson(successes: int, n: int, crit: float) -> tuple[float, float]:
    """The Wilson score interval, clipped to [0, 1] as statsmodels clips it."""
    p = successes / n
    denominator = 1 + crit**2 / n
    centre = (p + crit**2 / (2 * n)) / denominator
    half = crit * math.sqrt(p * (1 - p) / n + crit**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _lift(difference: float, control: float) -> float | None:
    return difference / control if control != 0 else None


def _count(value: object, name: str) -> int:
    """A non-negative whole number (NumPy integers included, booleans and floats refused)."""
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        count = None
    if count is None or isinstance(value, bool) or count < 0:
        raise ExperimentError(
            f"{name} must be a non-negative whole number of units; got {value!r}.",
            hint="Pass counts as integers (e.g. int(series.sum())).",
        )
    return int(count)


def _units(n: object, arm: str, minimum: int = 1) -> int:
    count = _count(n, f"n_{arm}")
    if count < minimum:
        raise ExperimentError(
            f"The {arm} arm has {count} unit(s); this comparison needs at least {minimum}.",
            hint="Wait until both arms have received traffic before comparing them.",
        )
    return count


def _successes(successes: object, n: object, arm: str) -> tuple[int, int]:
    units = _units(n, arm)
    count = _count(successes, f"successes_{arm}")
    if count > units:
        raise ExperimentError(
            f"The {arm} arm has {count} successes out of only {units} units.",
            hint="Count each unit at most once: successes are units with the outcome.",
        )
    return count, units


def _arm(mean: float, variance: float, n: object, arm: str) -> tuple[float, float, int]:
    units = _units(n, arm, minimum=2)
    m, v = float(mean), float(variance)
    if not math.isfinite(m) or not math.isfinite(v) or v < 0:
        raise ExperimentError(
            f"The {arm} arm needs a finite mean and a finite, non-negative variance; got "
            f"mean={mean!r}, variance={variance!r}.",
            hint="Use the sample variance with ddof=1 of the arm's per-unit values.",
        )
    return m, v, units


def _level(value: float, name: str) -> float:
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ExperimentError(
            f"{name} must be a number strictly between 0 and 1; got {value!r}.",
            hint=f"Pass {name} as a probability, e.g. 0.05.",
        )
    return float(value)
