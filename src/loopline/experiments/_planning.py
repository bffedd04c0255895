"""Planning an experiment: the units each arm needs to detect a minimum effect.

The sample size is that of a two-sided two-sample z-test, solved exactly as ``statsmodels``
``NormalIndPower().solve_power`` solves it (both tails of the power function counted), with the
effect standardised as Cohen's h for proportions (``proportion_effectsize``) or Cohen's d for
means, and rounded up to whole units.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

from loopline.errors import ExperimentError
from loopline.experiments._stats import Kind, _level

__all__ = ["plan_sample_size", "standardized_effect"]


def standardized_effect(
    baseline: float, mde: float, *, kind: Kind = "proportion", sd: float | None = None
) -> float:
    """The minimum detectable effect in standard-deviation units (always positive).

    For proportions this is Cohen's h, ``|2·asin(√(baseline + mde)) - 2·asin(√baseline)|``;
    for means it is Cohen's d, ``|mde| / sd``. Passed as ``tau`` to the sequential test, it
    tunes the test to the effect the experiment was planned for.

    Raises:
        ExperimentError: ``mde`` of 0, a proportion outside (0, 1) before or after the effect,
            or, for means, a missing or non-positive ``sd``.
    """
    if not math.isfinite(mde) or mde == 0:
        raise ExperimentError(
            f"mde must be a non-zero, finite difference; got {mde!r}.",
            hint="Give the smallest change worth detecting, e.g. 0.01 for one point.",
        )
    if kind == "proportion":
        if sd is not None:
            raise ExperimentError(
                "sd is only given for kind='mean'; a proportion's follows from the baseline.",
                hint="Drop sd, or pass kind='mean'.",
            )
        if not (0 < baseline < 1 and 0 < baseline + mde < 1):
            raise ExperimentError(
                f"A proportion's baseline and baseline + mde must lie strictly between 0 and 1; "
                f"got baseline={baseline!r}, mde={mde!r}.",
                hint="Give rates as fractions (0.10 for 10 %) and the lift as a difference.",
            )
        return abs(2 * math.asin(math.sqrt(baseline + mde)) - 2 * math.asin(math.sqrt(baseline)))
    if kind == "mean":
        if sd is None or not math.isfinite(sd) or sd <= 0:
            raise ExperimentError(
                f"kind='mean' needs the per-unit standard deviation sd > 0; got {sd!r}.",
                hint="Estimate sd from historical per-unit values of the metric.",
            )
        return abs(mde) / sd
    raise ExperimentError(
        f"kind must be 'proportion' or 'mean'; got {kind!r}.",
        hint="Use 'proportion' for shares of units and 'mean' for per-unit values.",
    )


def plan_sample_size(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: Kind = "proportion",
    sd: float | None = None,
    ratio: float = 1.0,
) -> int:
    """Units the control arm needs (the treatment arm needs ``ratio`` times as many).

    Args:
        baseline: The control arm's expected rate (proportions) or mean (means).
        mde: The minimum detectable effect, as a difference ``treatment - control``.
        alpha: The two-sided error level.
        power: The probability of detecting an effect of size ``mde``.
        kind: ``"proportion"`` or ``"mean"``.
        sd: The per-unit standard deviation (means only).
        ratio: Treatment units per control unit (1 for an even split).

    Raises:
        ExperimentError: As :func:`standardized_effect`, or ``alpha``, ``power`` outside
            (0, 1), or a ``ratio`` that is not positive.

    Example:
        >>> plan_sample_size(0.10, 0.03)
        1769
    """
    effect = standardized_effect(baseline, mde, kind=kind, sd=sd)
    level, target = _level(alpha, "alpha"), _level(power, "power")
    if not (math.isfinite(ratio) and ratio > 0):
        raise ExperimentError(
            f"ratio must be a positive number of treatment units per control unit; got {ratio!r}.",
            hint="Use 1 for an even split, 9 for a 10/90 split.",
        )
    crit = float(stats.norm.isf(level / 2))

    def shortfall(n: float) -> float:
        shift = effect * math.sqrt(n * ratio / (1 + ratio))
        return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift)) - target

    if shortfall(1.0) >= 0:  # an effect so large that one unit per arm already has the power
        return 1
    high = 2.0
    while shortfall(high) < 0:
        high *= 2
    n = float(optimize.brentq(shortfall, high / 2, high, xtol=1e-10, rtol=1e-14))
    return math.ceil(n)
