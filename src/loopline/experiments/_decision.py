"""The experiment's decision: continue, promote, stop for no difference or stop for harm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from loopline.errors import ExperimentError
from loopline.experiments._sequential import Sequential
from loopline.experiments._stats import Comparison, SrmCheck

__all__ = ["Decision", "Guardrail", "check_guardrail", "decide"]

#: What to do with the experiment after this look.
Decision = Literal["continue", "promote", "stop_no_difference", "stop_harm"]


@dataclass(frozen=True)
class Guardrail:
    """A metric the treatment must not make worse (latency, error rate, escalation rate, cost).

    Attributes:
        name: The metric's name.
        control: Its value in the control arm.
        treatment: Its value in the treatment arm.
        max_increase: The largest increase ``treatment - control`` that is tolerated.
        breached: Whether the treatment is out of bounds; :func:`check_guardrail` sets it from
            the point estimates, a caller may set it from an interval instead.
    """

    name: str
    control: float
    treatment: float
    max_increase: float
    breached: bool


def check_guardrail(
    name: str, control: float, treatment: float, *, max_increase: float
) -> Guardrail:
    """A guardrail breached when ``treatment - control`` exceeds ``max_increase``.

    Raises:
        ExperimentError: A value or bound that is not a finite number, or a negative bound.

    Example:
        >>> check_guardrail("p95_latency_ms", 120.0, 150.0, max_increase=20.0).breached
        True
    """
    values = (control, treatment, max_increase)
    if not all(math.isfinite(value) for value in values) or max_increase < 0:
        raise ExperimentError(
            f"Guardrail {name!r} needs finite values and a non-negative max_increase; got "
            f"control={control!r}, treatment={treatment!r}, max_increase={max_increase!r}.",
            hint="Express the bound as the largest tolerated increase, e.g. 0.005 error rate.",
        )
    return Guardrail(name, control, treatment, max_increase, treatment - control > max_increase)


def decide(
    primary: Comparison,
    sequential: Sequential,
    *,
    planned_n: int,
    guardrails: Sequence[Guardrail] = (),
    higher_is_better: bool = True,
    srm: SrmCheck | None = None,
) -> tuple[Decision, str]:
    """Decide the experiment at this look, with a reason a person can read.

    The rules, in order: a sample-ratio mismatch means the data cannot be trusted, so the
    experiment continues and is investigated (it is never promoted); a breached guardrail stops
    it for harm; a sequential test that has stopped promotes the treatment when the primary
    difference favours it and stops for harm when it does not; both arms at the planned size
    without a sequential stop end it with no difference; otherwise it continues.

    Args:
        primary: The primary metric's comparison.
        sequential: The sequential test of the same metric at this look.
        planned_n: The planned units per arm (see :func:`plan_sample_size`).
        guardrails: The guardrail metrics, each already checked.
        higher_is_better: Whether an increase of the primary metric is an improvement.
        srm: The sample-ratio check at this look, if one was run.

    Raises:
        ExperimentError: ``planned_n`` below 1.
    """
    if isinstance(planned_n, bool) or not isinstance(planned_n, int) or planned_n < 1:
        raise ExperimentError(
            f"planned_n must be a whole number of units per arm, at least 1; got {planned_n!r}.",
            hint="Compute it with plan_sample_size(baseline, mde).",
        )
    if srm is not None and srm.mismatch:
        return "continue", (
            f"sample ratio mismatch: investigate (p = {srm.p_value:.2g}; observed "
            f"{list(srm.observed)}, expected {[round(e, 1) for e in srm.expected]})"
        )
    breached = [guardrail.name for guardrail in guardrails if guardrail.breached]
    if breached:
        return "stop_harm", f"guardrail breached: {', '.join(breached)}"
    difference = primary.difference
    favours = difference > 0 if higher_is_better else difference < 0
    where = f"{primary.metric} {primary.control:.4g} → {primary.treatment:.4g}"
    if sequential.stop and difference != 0:
        verdict: Decision = "promote" if favours else "stop_harm"
        word = "better" if favours else "worse"
        return verdict, (
            f"treatment is {word}: {where} (always-valid p = {sequential.p_value:.2g}, "
            f"interval {sequential.ci_low:.4g} to {sequential.ci_high:.4g})"
        )
    if primary.n_control >= planned_n and primary.n_treatment >= planned_n:
        return "stop_no_difference", (
            f"both arms reached the planned {planned_n} units without a significant "
            f"difference: {where}"
        )
    return "continue", (
        f"{min(primary.n_control, primary.n_treatment)} of {planned_n} planned units per arm; "
        f"no conclusion yet: {where}"
    )
