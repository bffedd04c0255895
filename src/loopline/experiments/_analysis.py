"""Analysing a running experiment from the prediction log and the labels, and acting on it.

One look: each arm's answers and labelled answers (:mod:`loopline.experiments._traffic`); the
sample-ratio check on the answers against the deployment's weights; each arm's primary metric
with its interval (Wilson for accuracy, Student's t for means); the comparison of the arms
(two-proportion z or Welch); the sequential test carried forward from the previous look; the
guardrails; and :func:`decide`. The look is stored in the experiment's ``state`` (the last
analysis, the sequential test for the next look, and the last :data:`MAX_LOOKS` looks).

With ``act=True`` a terminal decision is carried out: ``promote`` makes the challenger the
champion and serves it alone (or, when ``retraining.then.approval`` is set, waits until a person
approves it with ``loopline models approve``); ``stop_harm`` and ``stop_no_difference`` roll the
deployment back to the champion alone. A promotion the registry refuses (a gate not passed) is
reported in the analysis and the experiment keeps running.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.errors import ExperimentError, LooplineError
from loopline.experiments._decision import Decision, Guardrail, check_guardrail, decide
from loopline.experiments._records import (
    experiment_dict,
    finish_experiment,
    get_experiment,
    running_experiment,
)
from loopline.experiments._sequential import Sequential, sequential_test
from loopline.experiments._stats import (
    Comparison,
    SrmCheck,
    _wilson,
    compare_means,
    compare_proportions,
    srm_check,
)
from loopline.experiments._traffic import ARMS, ArmTraffic, arm_traffic
from loopline.store import Approval, Experiment, record_audit, utcnow

__all__ = ["MAX_LOOKS", "analyze_experiment"]

#: Looks kept in an experiment's state, oldest dropped first.
MAX_LOOKS = 200


def _estimate(arm: ArmTraffic, kind: str, alpha: float) -> dict[str, Any]:
    n = int(arm.values.size)
    out: dict[str, Any] = {
        "model": arm.model,
        "answers": arm.answers,
        "units": arm.units,
        "labelled": n,
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "escalation_rate": arm.reviews / arm.answers if arm.answers else None,
        "latency_ms": float(arm.latency_ms.mean()) if arm.latency_ms.size else None,
        "cost": float(arm.costs.mean()) if arm.costs is not None and arm.costs.size else None,
    }
    if n == 0:
        return out
    mean = float(arm.values.mean())
    out["estimate"] = mean
    if kind == "proportion":
        out["ci_low"], out["ci_high"] = _wilson(int(arm.values.sum()), n, _crit(alpha))
    elif n >= 2:
        half = float(stats.t.isf(alpha / 2, n - 1)) * float(arm.values.std(ddof=1)) / math.sqrt(n)
        out["ci_low"], out["ci_high"] = mean - half, mean + half
    return out


def _crit(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def _compare(
    control: np.ndarray, treatment: np.ndarray, kind: str, alpha: float, metric: str
) -> Comparison:
    if kind == "proportion":
        return compare_proportions(
            int(control.sum()),
            int(control.size),
            int(treatment.sum()),
            int(treatment.size),
            alpha=alpha,
            metric=metric,
        )
    return compare_means(
        float(control.mean()),
        float(control.var(ddof=1)) if control.size > 1 else 0.0,
        int(control.size),
        float(treatment.mean()),
        float(treatment.var(ddof=1)) if treatment.size > 1 else 0.0,
        int(treatment.size),
        alpha=alpha,
        metric=metric,
    )


def _sequential(
    control: np.ndarray, treatment: np.ndarray, kind: str, config: dict[str, Any], previous: Any
) -> Sequential:
    last = Sequential(**previous) if previous else None
    if kind == "proportion":
        return sequential_test(
            int(control.sum()),
            int(control.size),
            int(treatment.sum()),
            int(treatment.size),
            alpha=config["alpha"],
            tau=config["tau"],
            previous=last,
        )
    return sequential_test(
        float(control.mean()),
        int(control.size),
        float(treatment.mean()),
        int(treatment.size),
        kind="mean",
        var_control=float(control.var(ddof=1)),
        var_treatment=float(treatment.var(ddof=1)),
        alpha=config["alpha"],
        tau=config["tau"],
        previous=last,
    )


def _guardrail(
    name: str, control: np.ndarray, treatment: np.ndarray, bound: float, alpha: float, kind: str
) -> dict[str, Any]:
    """A guardrail breached when the increase's whole interval lies above the bound.

    The point estimates alone would stop an experiment on the noise of its first answers; the
    interval waits until the increase is established. When an interval cannot be computed (both
    arms constant), the point estimates are exact and decide.
    """
    point = check_guardrail(
        name, float(control.mean()), float(treatment.mean()), max_increase=bound
    )
    low = high = None
    try:
        comparison = _compare(control, treatment, kind, alpha, name)
        low, high = comparison.ci_low, comparison.ci_high
    except ExperimentError:
        pass
    breached = point.breached and (low is None or low > bound)
    return {**dataclasses.asdict(point), "breached": breached, "ci_low": low, "ci_high": high}


def _guardrails(
    traffic: dict[str, ArmTraffic], bounds: dict[str, float], alpha: float
) -> list[dict[str, Any]]:
    control, treatment = traffic["champion"], traffic["challenger"]
    out = []
    for name, bound in sorted(bounds.items()):
        if name == "escalation_rate" and control.answers and treatment.answers:
            c = np.repeat([1.0, 0.0], [control.reviews, control.answers - control.reviews])
            t = np.repeat([1.0, 0.0], [treatment.reviews, treatment.answers - treatment.reviews])
            out.append(_guardrail(name, c, t, bound, alpha, "proportion"))
        elif name == "latency_ms" and control.latency_ms.size > 1 and treatment.latency_ms.size > 1:
            out.append(
                _guardrail(name, control.latency_ms, treatment.latency_ms, bound, alpha, "mean")
            )
        elif (
            name == "cost"
            and control.costs is not None
            and treatment.costs is not None
            and min(control.costs.size, treatment.costs.size) > 1
        ):
            out.append(_guardrail(name, control.costs, treatment.costs, bound, alpha, "mean"))
    return out


def _weights(experiment: Experiment, session: Session) -> list[float]:
    from loopline.serving import current_deployment

    deployment = current_deployment(session, experiment.use_case)
    if deployment is not None and deployment.revision == experiment.deployment_revision:
        weights = {arm["role"]: float(arm["weight"]) for arm in deployment.arms}
    else:  # the deployment moved on (the experiment ended): the weights it ran with
        weights = experiment.config["weights"]
    return [weights[role] for role in ARMS]


def _without_primary(
    traffic: dict[str, ArmTraffic],
    srm: SrmCheck | None,
    guardrails: list[Guardrail],
    minimum: int,
) -> tuple[Decision, str]:
    """The decision before both arms have enough labelled answers to compare."""
    if srm is not None and srm.mismatch:
        return "continue", (
            f"sample ratio mismatch: investigate (p = {srm.p_value:.2g}; observed "
            f"{list(srm.observed)}, expected {[round(e, 1) for e in srm.expected]})"
        )
    breached = [g.name for g in guardrails if g.breached]
    if breached:
        return "stop_harm", f"guardrail breached: {', '.join(breached)}"
    counts = ", ".join(f"{role} {traffic[role].values.size}" for role in ARMS)
    return "continue", (
        f"waiting for labels: each arm needs at least {minimum} labelled answers ({counts})"
    )


def _look(
    experiment: Experiment, session: Session, traffic: dict[str, ArmTraffic]
) -> dict[str, Any]:
    """The statistics and the decision at this look (the sequential state is not saved here)."""
    config, kind, metric = experiment.config, experiment.kind, experiment.primary_metric
    alpha = float(config["alpha"])
    control, treatment = traffic["champion"], traffic["challenger"]
    units = [control.units, treatment.units]
    srm = srm_check(units, _weights(experiment, session)) if min(units) > 0 else None
    guardrails = _guardrails(traffic, config["guardrails"], alpha)
    checked = [
        Guardrail(g["name"], g["control"], g["treatment"], g["max_increase"], g["breached"])
        for g in guardrails
    ]
    minimum = 1 if kind == "proportion" else 2
    comparison = sequential = None
    error = None
    if min(control.values.size, treatment.values.size) >= minimum:
        try:
            comparison = _compare(control.values, treatment.values, kind, alpha, metric)
            previous = (experiment.state or {}).get("sequential")
            sequential = _sequential(control.values, treatment.values, kind, config, previous)
        except ExperimentError as exc:  # e.g. every labelled value the same in both arms
            comparison, error = None, exc.to_dict()
    if comparison is not None and sequential is not None:
        decision, reason = decide(
            comparison,
            sequential,
            planned_n=int(config["planned_n"]),
            guardrails=checked,
            higher_is_better=experiment.higher_is_better,
            srm=srm,
        )
    else:
        decision, reason = _without_primary(traffic, srm, checked, minimum)
        if error is not None:
            reason = f"{reason}; {error['message']}"
    return {
        "arms": {role: _estimate(traffic[role], kind, alpha) for role in ARMS},
        "comparison": dataclasses.asdict(comparison) if comparison else None,
        "sequential": dataclasses.asdict(sequential) if sequential else None,
        "srm": dataclasses.asdict(srm) if srm else None,
        "guardrails": guardrails,
        "planned_n": int(config["planned_n"]),
        "decision": decision,
        "reason": reason,
        "error": error,
    }


def _store(session: Session, experiment: Experiment, analysis: dict[str, Any], actor: str) -> None:
    state = dict(experiment.state or {})
    previous = state.get("analysis") or {}
    if experiment.status == "running":
        if analysis["sequential"] is not None:
            state["sequential"] = analysis["sequential"]
        arms = analysis["arms"]
        comparison = analysis["comparison"] or {}
        sequential = analysis["sequential"] or {}
        look = {
            "at": analysis["at"],
            "answers": [arms[role]["answers"] for role in ARMS],
            "labelled": [arms[role]["labelled"] for role in ARMS],
            "estimate": [arms[role]["estimate"] for role in ARMS],
            "difference": comparison.get("difference"),
            "p_value": comparison.get("p_value"),
            "sequential_p": sequential.get("p_value"),
            "ci_low": sequential.get("ci_low"),
            "ci_high": sequential.get("ci_high"),
            "decision": analysis["decision"],
        }
        state["looks"] = [*state.get("looks", []), look][-MAX_LOOKS:]
    state["analysis"] = analysis
    experiment.state = state
    session.flush()
    if previous.get("decision") != analysis["decision"]:
        record_audit(
            session,
            actor=actor,
            action="experiment.analyze",
            target_type="experiment",
            target=str(experiment.id),
            use_case=experiment.use_case,
            before={"decision": previous.get("decision")},
            after={"decision": analysis["decision"]},
            reason=analysis["reason"],
        )


def _approved_since(session: Session, experiment: Experiment, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Approval.model_version_id == experiment.challenger_version_id,
                Approval.created_at >= since,
            )
        )
        or 0
    )


def _promote(ws: Workspace, experiment_id: int, reason: str) -> dict[str, Any]:
    from loopline.serving import deploy

    with ws.store.transaction() as session:
        experiment = get_experiment(session, experiment_id)
        state = dict(experiment.state or {})
        if experiment.config.get("approval"):
            since = state.get("awaiting_approval_since")
            if since is None:
                state["awaiting_approval_since"] = utcnow().isoformat()
                experiment.state = state
                record_audit(
                    session,
                    actor=ws.actor,
                    action="experiment.await_approval",
                    target_type="experiment",
                    target=str(experiment.id),
                    use_case=experiment.use_case,
                    after={"challenger": experiment.challenger},
                    reason=reason,
                )
            if since is None or not _approved_since(
                session, experiment, datetime.fromisoformat(since)
            ):
                return {
                    "taken": "awaiting_approval",
                    "message": f"waiting for approval: loopline models approve "
                    f"{experiment.challenger}",
                }
        deploy(
            session,
            experiment.challenger,
            strategy="direct",
            actor=ws.actor,
            reason=f"experiment {experiment.id}: {reason}",
        )
        finish_experiment(
            session,
            experiment,
            status="decided",
            decision="promote",
            reason=reason,
            actor=ws.actor,
        )
        return {"taken": "promoted", "message": f"{experiment.challenger} is the champion"}


def _roll_back(ws: Workspace, experiment_id: int, decision: str, reason: str) -> dict[str, Any]:
    from loopline.serving import current_deployment, rollback_deployment

    with ws.store.transaction() as session:
        experiment = get_experiment(session, experiment_id)
        deployment = current_deployment(session, experiment.use_case)
        serving = deployment is not None and any(
            arm["role"] == "challenger"
            and arm["model_version_id"] == experiment.challenger_version_id
            for arm in deployment.arms
        )
        if serving:
            rollback_deployment(
                session,
                experiment.use_case,
                actor=ws.actor,
                reason=f"experiment {experiment.id}: {reason}",
            )
        finish_experiment(
            session, experiment, status="decided", decision=decision, reason=reason, actor=ws.actor
        )
        message = f"{experiment.champion} serves alone" if serving else "deployment left as it is"
        return {"taken": "rolled_back" if serving else "decided", "message": message}


def _act(ws: Workspace, experiment_id: int, analysis: dict[str, Any]) -> dict[str, Any]:
    decision, reason = analysis["decision"], analysis["reason"]
    try:
        if decision == "promote":
            action = _promote(ws, experiment_id, reason)
        else:
            action = _roll_back(ws, experiment_id, decision, reason)
    except LooplineError as error:  # a gate refused the promotion: report it, keep running
        action = {"taken": None, "message": error.message, "error": error.to_dict()}
    with ws.store.transaction() as session:
        experiment = get_experiment(session, experiment_id)
        state = dict(experiment.state or {})
        analysis = {**state.get("analysis", {}), "action": action}
        if action["taken"] == "awaiting_approval":
            analysis["reason"] = f"{analysis['reason']}; {action['message']}"
        state["analysis"] = analysis
        experiment.state = state
        return experiment_dict(experiment)


def analyze_experiment(
    ws: Workspace,
    experiment: int | str | None = None,
    *,
    now: datetime | None = None,
    act: bool = False,
) -> dict[str, Any]:
    """Analyse an experiment at this moment, store the look, and optionally act on it.

    Args:
        ws: The workspace (its project, store and prediction log).
        experiment: The experiment's number or uid; by default the project's running one.
        now: The time of the look (default: now); answers logged after it are not counted.
        act: Carry out a terminal decision (promote, or roll back on harm or no difference).

    Returns:
        The experiment (:func:`experiment_dict`) with ``analysis``: per-arm estimates and
        intervals, the comparison, the sequential test, the sample-ratio check, the guardrails,
        the planned units, the decision and its reason, and with ``act`` the ``action`` taken.

    Raises:
        ExperimentError: No such experiment, or none running when none is named.
    """
    spec = ws.project.spec
    at = now or utcnow()
    with ws.store.transaction() as session:
        if experiment is None:
            row = running_experiment(session, spec.name)
            if row is None:
                raise ExperimentError(
                    f"No experiment is running for {spec.name}.",
                    hint="Start one with `loopline deploy MODEL --strategy ab`, or name one.",
                )
        else:
            row = get_experiment(session, experiment)
        end = min(at, row.decided_at) if row.decided_at is not None else at
        traffic = arm_traffic(ws.settings.home / "predictions", session, row, spec, end=end)
        analysis = {
            "at": at.isoformat(),
            "window": {"start": row.created_at.isoformat(), "end": end.isoformat()},
            "metric": row.primary_metric,
            "kind": row.kind,
            "higher_is_better": row.higher_is_better,
            **_look(row, session, traffic),
            "action": None,
        }
        _store(session, row, analysis, ws.actor)
        result = experiment_dict(row)
        running, experiment_id = row.status == "running", row.id
    if act and running and analysis["decision"] != "continue":
        result = _act(ws, experiment_id, analysis)
    return result
