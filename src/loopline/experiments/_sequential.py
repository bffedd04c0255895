"""An always-valid sequential test: the normal-mixture SPRT (mSPRT) on the difference of two arms.

A fixed-horizon test is only valid when it is read once, at the planned sample size; reading it
after every batch and stopping at the first ``p < alpha`` inflates the false-positive rate
several-fold. The mixture SPRT of Robbins (1970), as used for A/B tests by Johari et al.
("Peeking at A/B tests", KDD 2017) and as a confidence sequence by Howard et al. (Annals of
Statistics 2021), gives a p-value and an interval that are valid at *every* look at once:
``P(ever p ≤ alpha) ≤ alpha`` under no difference.

With ``d`` the observed difference, ``V`` its (plug-in) variance and ``r = tau² · n_c·n_t /
(n_c + n_t)``, the mixture likelihood ratio of "difference ~ N(0, tau²·sigma²)" against "no
difference" is ``Λ = (1 + r)^(-1/2) · exp(r / (1 + r) · d² / (2V))``. The always-valid p-value
is the running minimum of ``min(1, 1/Λ)``; the confidence sequence is every difference ``δ`` for
which the same ratio centred at ``δ`` stays below ``1/alpha``, intersected over the looks:
``d ± sqrt(V · (1 + r)/r · (2·ln(1/alpha) + ln(1 + r)))``. ``tau`` is on the scale of the
per-unit standard deviation ``sigma`` (a standardised effect), so one default fits conversion
rates and revenue alike; ``docs/experiments.md`` explains how to choose it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopline.errors import ExperimentError
from loopline.experiments._stats import Kind, _floats, _level

__all__ = ["DEFAULT_TAU", "Sequential", "SequentialPath", "sequential_path", "sequential_test"]

#: The default mixing standard deviation, in per-unit standard deviations. An effect of a tenth
#: of a standard deviation is the scale of a typical A/B lift (a conversion rate moving from
#: 10 % to 13 % is 0.095); with alpha = 0.05 the interval is narrowest near 1,650 units per arm.
DEFAULT_TAU = 0.1

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Sequential:
    """The sequential test at one look, valid however often and whenever the experiment is read.

    Attributes:
        p_value: The always-valid p-value: the smallest ``1/Λ`` seen at any look so far.
        ci_low: The lower end of the always-valid confidence sequence for the difference.
        ci_high: Its upper end (the interval is intersected over the looks).
        stop: ``p_value <= alpha``: the difference is established and the experiment may stop.
        method: A description of the test and its mixing scale, for reports.
        alpha: The error level the interval and ``stop`` use.
        tau: The mixing standard deviation in per-unit standard deviations.
    """

    p_value: float
    ci_low: float
    ci_high: float
    stop: bool
    method: str
    alpha: float
    tau: float


@dataclass(frozen=True)
class SequentialPath:
    """The sequential test over many looks (the last axis), as arrays.

    Attributes:
        p_value: The always-valid p-value at each look (a running minimum along the looks).
        ci_low: The lower end of the confidence sequence at each look.
        ci_high: Its upper end.
        stop: ``p_value <= alpha`` at each look; once true it stays true.
    """

    p_value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    stop: npt.NDArray[np.bool_]


def sequential_test(
    control: float,
    n_control: int,
    treatment: float,
    n_treatment: int,
    *,
    kind: Kind = "proportion",
    var_control: float | None = None,
    var_treatment: float | None = None,
    alpha: float = 0.05,
    tau: float | None = None,
    previous: Sequential | None = None,
) -> Sequential:
    """The mixture SPRT at the current look, carrying the running minimum over earlier looks.

    Args:
        control: The control arm's number of successes (``kind="proportion"``) or its mean
            (``kind="mean"``), over all units so far.
        n_control: Units in the control arm so far.
        treatment: The same for the treatment arm.
        n_treatment: Units in the treatment arm so far.
        kind: ``"proportion"`` or ``"mean"``.
        var_control: The control arm's sample variance (``ddof=1``); means only.
        var_treatment: The treatment arm's sample variance; means only.
        alpha: The error level, fixed for the whole experiment.
        tau: The mixing standard deviation in per-unit standard deviations (default
            :data:`DEFAULT_TAU`); fix it before the experiment starts, never change it.
        previous: The result of the previous look, if any: the p-value keeps its minimum and
            the interval its intersection, which is what makes stopping at any look safe.

    Raises:
        ExperimentError: Numbers :func:`compare_proportions` / :func:`compare_means` refuse,
            variances given for proportions or missing for means, a ``tau`` that is not
            positive, or a ``previous`` look with another ``alpha`` or ``tau``.
    """
    scale = _tau(tau)
    level = _level(alpha, "alpha")
    if previous is not None and (previous.alpha != level or previous.tau != scale):
        raise ExperimentError(
            f"The previous look used alpha={previous.alpha}, tau={previous.tau}; this one asks "
            f"for alpha={level}, tau={scale}.",
            hint="Keep alpha and tau fixed for the whole experiment; changing them voids it.",
        )
    path = sequential_path(
        np.asarray([control]), np.asarray([n_control]), np.asarray([treatment]),
        np.asarray([n_treatment]), kind=kind,
        var_control=None if var_control is None else np.asarray([var_control]),
        var_treatment=None if var_treatment is None else np.asarray([var_treatment]),
        alpha=level, tau=scale,
    )  # fmt: skip
    p_value, low, high = float(path.p_value[0]), float(path.ci_low[0]), float(path.ci_high[0])
    if previous is not None:
        p_value = min(p_value, previous.p_value)
        if max(low, previous.ci_low) <= min(high, previous.ci_high):
            low, high = max(low, previous.ci_low), min(high, previous.ci_high)
    method = f"mixture SPRT (normal mixture, tau={scale:g} sd, plug-in variance)"
    return Sequential(p_value, low, high, p_value <= level, method, level, scale)


def sequential_path(
    control: npt.ArrayLike,
    n_control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    *,
    kind: Kind = "proportion",
    var_control: npt.ArrayLike | None = None,
    var_treatment: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    tau: float | None = None,
) -> SequentialPath:
    """The mixture SPRT at every look of one or many experiments at once.

    The arguments are those of :func:`sequential_test` as arrays of cumulative totals, with the
    looks along the last axis (shape ``(looks,)`` for one experiment, ``(experiments, looks)``
    for a simulation); they broadcast against each other.

    Raises:
        ExperimentError: As :func:`sequential_test`, naming the first bad look.
    """
    scale = _tau(tau)
    level = _level(alpha, "alpha")
    n_c = _units(n_control, "n_control", 2 if kind == "mean" else 1)
    n_t = _units(n_treatment, "n_treatment", 2 if kind == "mean" else 1)
    if kind == "proportion":
        if var_control is not None or var_treatment is not None:
            raise ExperimentError(
                "Variances are only given for kind='mean'; a proportion's follows from it.",
                hint="Drop var_control and var_treatment, or pass kind='mean'.",
            )
        x_c, x_t = _within(control, n_c, "control"), _within(treatment, n_t, "treatment")
        p_c, p_t = x_c / n_c, x_t / n_t
        pooled = (x_c + x_t) / (n_c + n_t)
        unpooled = p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t
        variance = np.maximum(unpooled, pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
        difference, bound = p_t - p_c, 1.0
    elif kind == "mean":
        v_c, v_t = _variance(var_control, "var_control"), _variance(var_treatment, "var_treatment")
        if np.any((v_c == 0) & (v_t == 0)):
            raise ExperimentError(
                "The metric has variance 0 in both arms at a look: every unit has the same "
                "value, so no test of the means applies.",
                hint="Check that the metric is recorded per unit; a constant needs no test.",
            )
        difference = _finite(treatment, "treatment") - _finite(control, "control")
        variance, bound = v_c / n_c + v_t / n_t, math.inf
    else:
        raise ExperimentError(
            f"kind must be 'proportion' or 'mean'; got {kind!r}.",
            hint="Use 'proportion' for shares of units and 'mean' for per-unit values.",
        )
    difference, variance = np.broadcast_arrays(difference, variance)
    r = scale**2 * n_c * n_t / (n_c + n_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = np.where(difference == 0, 0.0, difference**2 / variance)
    log_ratio = r / (1 + r) * z2 / 2 - np.log1p(r) / 2
    p_now = np.exp(-np.maximum(log_ratio, 0.0))
    half = np.sqrt(variance * (1 + r) / r * (2 * math.log(1 / level) + np.log1p(r)))
    low, high = np.maximum(difference - half, -bound), np.minimum(difference + half, bound)
    # variance 0 happens only for proportions when every unit so far has the same outcome
    low, high = np.where(variance == 0, -bound, low), np.where(variance == 0, bound, high)
    p_value = np.minimum.accumulate(p_now, axis=-1)
    run_low, run_high = np.maximum.accumulate(low, axis=-1), np.minimum.accumulate(high, axis=-1)
    empty = run_low > run_high  # rare (probability below alpha): report the current look's
    ci_low, ci_high = np.where(empty, low, run_low), np.where(empty, high, run_high)
    return SequentialPath(p_value, ci_low, ci_high, p_value <= level)


def _tau(tau: float | None) -> float:
    value = DEFAULT_TAU if tau is None else tau
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ExperimentError(
            f"tau must be a positive number of per-unit standard deviations; got {tau!r}.",
            hint="Leave it out for the default 0.1, or pass the standardised effect you expect.",
        )
    return float(value)


def _units(values: npt.ArrayLike, name: str, minimum: int) -> FloatArray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ExperimentError(
            f"{name} must hold whole numbers of units; got values of type {array.dtype}.",
            hint="Pass counts as integers (e.g. int(series.sum())).",
        )
    if np.any(array < minimum):
        raise ExperimentError(
            f"{name} must be at least {minimum} at every look; got "
            f"{_first_bad(array, array < minimum)}.",
            hint="Wait until both arms have received traffic before testing.",
        )
    return array.astype(np.float64)


def _within(values: npt.ArrayLike, n: FloatArray, arm: str) -> FloatArray:
    array = np.asarray(values)
    bad = (array < 0) | (array > n) if array.dtype.kind in "iu" else np.ones(array.shape, bool)
    if np.any(bad):
        raise ExperimentError(
            f"The {arm} successes must be whole numbers from 0 to the arm's units at every "
            f"look; got {_first_bad(array, bad)}.",
            hint="Successes are units with the outcome: each unit counts at most once.",
        )
    return array.astype(np.float64)


def _variance(values: npt.ArrayLike | None, name: str) -> FloatArray:
    if values is None:
        raise ExperimentError(
            f"{name} is required for kind='mean'.",
            hint="Pass each arm's sample variance (ddof=1) of its per-unit values.",
        )
    array = _finite(values, name)
    if np.any(array < 0):
        raise ExperimentError(
            f"{name} must not be negative; got {_first_bad(array, array < 0)}.",
            hint="Pass the sample variance (ddof=1), not a difference of variances.",
        )
    return array


def _finite(values: npt.ArrayLike, name: str) -> FloatArray:
    array = _floats(values, name)
    if not np.isfinite(array).all():
        raise ExperimentError(
            f"{name} must be finite at every look; got {_first_bad(array, ~np.isfinite(array))}.",
            hint="Drop units without a value before summarising an arm.",
        )
    return array


def _first_bad(array: npt.NDArray[np.generic], bad: npt.ArrayLike) -> object:
    """The first offending value, to show in a message."""
    values, mask = np.broadcast_arrays(array, np.asarray(bad, dtype=bool))
    return values[mask].ravel()[0].item()
