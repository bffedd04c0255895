"""Experiment records: an A/B deployment's experiment, created, listed, stopped and decided.

``loopline deploy MODEL --strategy ab`` creates one in the deployment's transaction, with the
plan fixed before the first look: the primary metric, alpha, the minimum detectable effect and
power giving the planned units per arm, the sequential test's ``tau`` and the guardrail bounds
(all from ``retraining.then`` in the project file). At most one experiment runs per use case: a
second A/B deployment while one runs is refused, any other deployment (direct, canary, shadow)
ends it as ``stopped``, and so does a rollback. Every change is in the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.errors import ExperimentError
from loopline.experiments._planning import plan_sample_size, standardized_effect
from loopline.experiments._sequential import DEFAULT_TAU
from loopline.spec import ProjectSpec
from loopline.store import Deployment, Experiment, ModelVersion, record_audit, utcnow

__all__ = [
    "DEFAULT_BASELINE",
    "STATUSES",
    "create_experiment",
    "experiment_dict",
    "finish_experiment",
    "get_experiment",
    "list_experiments",
    "running_experiment",
    "stop_experiment",
    "stop_running_experiment",
]

#: An experiment's life: ``running`` until it is decided (by its analysis) or stopped (by hand,
#: a rollback or another deployment).
STATUSES = ("running", "decided", "stopped")

#: The champion's accuracy assumed for planning when its model version has none.
DEFAULT_BASELINE = 0.8


def running_experiment(session: Session, use_case: str) -> Experiment | None:
    """The experiment running for ``use_case``, if any."""
    return session.scalar(
        select(Experiment)
        .where(Experiment.use_case == use_case, Experiment.status == "running")
        .order_by(Experiment.id.desc())
        .limit(1)
    )


def get_experiment(session: Session, experiment: int | str) -> Experiment:
    """The experiment with this number or uid.

    Raises:
        ExperimentError: No such experiment.
    """
    text = str(experiment).strip()
    query = select(Experiment).where(Experiment.uid == text)
    if text.isdigit():
        query = select(Experiment).where(Experiment.id == int(text))
    found = session.scalar(query)
    if found is None:
        raise ExperimentError(
            f"No experiment {text!r}.",
            hint="List them with `loopline experiments list`; use the number or the uid.",
        )
    return found


def list_experiments(
    session: Session,
    use_case: str | None = None,
    *,
    status: str | None = None,
    limit: int = 100,
) -> Sequence[Experiment]:
    """Experiments, newest first, optionally of one use case and one status.

    Raises:
        ExperimentError: An unknown status.
    """
    if status is not None and status not in STATUSES:
        raise ExperimentError(
            f"Unknown experiment status {status!r}.", hint=f"Use one of: {', '.join(STATUSES)}."
        )
    query = select(Experiment).order_by(Experiment.id.desc()).limit(limit)
    if use_case is not None:
        query = query.where(Experiment.use_case == use_case)
    if status is not None:
        query = query.where(Experiment.status == status)
    return session.scalars(query).all()


def _baseline(champion: ModelVersion) -> float:
    accuracy = champion.metrics.get("accuracy")
    if isinstance(accuracy, int | float) and 0 < accuracy < 1:
        return float(accuracy)
    return DEFAULT_BASELINE


def _plan(spec: ProjectSpec, champion: ModelVersion) -> dict[str, Any]:
    then = spec.retraining.then
    plan: dict[str, Any] = {
        "alpha": then.alpha,
        "mde": then.mde,
        "power": then.power,
        "min_samples": then.min_samples,
        "guardrails": dict(then.guardrails),
        "approval": then.approval,
    }
    if then.metric != "accuracy":
        # a mean's planned size needs its per-unit spread, unknown before the first labels
        return {**plan, "baseline": None, "planned_n": then.min_samples, "tau": DEFAULT_TAU}
    baseline = _baseline(champion)
    # an improvement past 100 % cannot be planned; plan for the same effect downwards then
    mde = then.mde if baseline + then.mde < 1 else -then.mde
    try:
        planned = plan_sample_size(baseline, mde, alpha=then.alpha, power=then.power)
        tau = standardized_effect(baseline, mde)
    except ExperimentError as error:
        raise ExperimentError(
            f"The experiment for {spec.name} cannot be planned: {error.message}",
            hint="Choose retraining.then.mde so that the champion's accuracy ± mde is in (0, 1).",
        ) from error
    return {
        **plan,
        "baseline": baseline,
        "planned_n": max(planned, then.min_samples),
        "tau": tau,
    }


def _check_metric(spec: ProjectSpec) -> None:
    metric = spec.retraining.then.metric
    costs = spec.objective.costs
    if metric == "cost" and (costs.false_positive is None or costs.false_negative is None):
        raise ExperimentError(
            "retraining.then.metric is 'cost' but objective.costs has no false_positive and "
            "false_negative costs.",
            hint="Give both costs in the project file, or use metric: accuracy.",
        )


def create_experiment(
    session: Session,
    deployment: Deployment,
    *,
    spec: ProjectSpec,
    actor: str,
    reason: str | None = None,
) -> Experiment:
    """Start the experiment of an A/B deployment (in the deployment's transaction); audited.

    Args:
        session: The transaction the deployment was written in.
        deployment: The A/B deployment revision: a champion and a challenger arm.
        spec: The project, whose ``retraining.then`` fixes the plan.
        actor: Who deployed.
        reason: Why, in their words.

    Raises:
        ExperimentError: An experiment already runs for the use case, the deployment has no
            champion and challenger, or the plan cannot be made from the project file.
    """
    running = running_experiment(session, deployment.use_case)
    if running is not None:
        raise ExperimentError(
            f"Experiment {running.id} ({running.champion} vs {running.challenger}) is still "
            f"running for {deployment.use_case}; only one runs at a time.",
            hint=f"End it first: `loopline experiments stop {running.id}` or `loopline rollback "
            f"{deployment.use_case}`.",
        )
    arms = {arm["role"]: arm for arm in deployment.arms}
    if "champion" not in arms or "challenger" not in arms:
        raise ExperimentError(
            f"Deployment {deployment.use_case}#{deployment.revision} has no champion and "
            "challenger arms to compare.",
            hint="Experiments start with `loopline deploy MODEL --strategy ab`.",
        )
    _check_metric(spec)
    champion = session.get_one(ModelVersion, arms["champion"]["model_version_id"])
    config = {
        **_plan(spec, champion),
        "weights": {role: float(arms[role]["weight"]) for role in ("champion", "challenger")},
    }
    metric = spec.retraining.then.metric
    row = Experiment(
        uid=str(uuid.uuid4()),
        use_case=deployment.use_case,
        deployment_revision=deployment.revision,
        champion=arms["champion"]["model"],
        champion_version_id=arms["champion"]["model_version_id"],
        challenger=arms["challenger"]["model"],
        challenger_version_id=arms["challenger"]["model_version_id"],
        primary_metric=metric,
        kind="proportion" if metric == "accuracy" else "mean",
        higher_is_better=metric != "cost",
        config=config,
        status="running",
        state={},
        actor=actor,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="experiment.start",
        target_type="experiment",
        target=str(row.id),
        use_case=row.use_case,
        after={"champion": row.champion, "challenger": row.challenger, "config": config},
        reason=reason,
    )
    return row


def finish_experiment(
    session: Session,
    experiment: Experiment,
    *,
    status: str,
    decision: str | None,
    reason: str,
    actor: str,
) -> Experiment:
    """End a running experiment as ``decided`` or ``stopped``; audited.

    Raises:
        ExperimentError: The experiment is not running, or ``status`` is not an end state.
    """
    if status not in ("decided", "stopped"):
        raise ExperimentError(
            f"An experiment ends as 'decided' or 'stopped', not {status!r}.",
            hint="This is a bug in the caller.",
        )
    if experiment.status != "running":
        raise ExperimentError(
            f"Experiment {experiment.id} is already {experiment.status} "
            f"({experiment.reason or 'no reason given'}).",
            hint="Only a running experiment can be stopped or decided.",
        )
    before = {"status": experiment.status, "decision": experiment.decision}
    experiment.status, experiment.decision, experiment.reason = status, decision, reason
    experiment.decided_at = utcnow()
    session.flush()
    record_audit(
        session,
        actor=actor,
        action=f"experiment.{'decide' if status == 'decided' else 'stop'}",
        target_type="experiment",
        target=str(experiment.id),
        use_case=experiment.use_case,
        before=before,
        after={"status": status, "decision": decision},
        reason=reason,
    )
    return experiment


def stop_experiment(
    session: Session, experiment: int | str, *, actor: str, reason: str | None = None
) -> Experiment:
    """Stop a running experiment by hand (the deployment is left as it is); audited.

    Raises:
        ExperimentError: No such experiment, or it is not running.
    """
    row = get_experiment(session, experiment)
    return finish_experiment(
        session, row, status="stopped", decision=None, reason=reason or "stopped", actor=actor
    )


def stop_running_experiment(
    session: Session, use_case: str, *, actor: str, reason: str
) -> Experiment | None:
    """Stop the running experiment of ``use_case``, if there is one (rollbacks, redeploys)."""
    row = running_experiment(session, use_case)
    if row is None:
        return None
    return finish_experiment(
        session, row, status="stopped", decision=None, reason=reason, actor=actor
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def experiment_dict(experiment: Experiment, *, analysis: bool = True) -> dict[str, Any]:
    """A JSON-ready form: the record, its plan and (with ``analysis``) the last analysis."""
    state = experiment.state or {}
    out: dict[str, Any] = {
        "id": experiment.id,
        "uid": experiment.uid,
        "use_case": experiment.use_case,
        "deployment_revision": experiment.deployment_revision,
        "champion": experiment.champion,
        "challenger": experiment.challenger,
        "primary_metric": experiment.primary_metric,
        "kind": experiment.kind,
        "higher_is_better": experiment.higher_is_better,
        "config": experiment.config,
        "status": experiment.status,
        "decision": experiment.decision or state.get("analysis", {}).get("decision"),
        "reason": experiment.reason or state.get("analysis", {}).get("reason"),
        "actor": experiment.actor,
        "created_at": _iso(experiment.created_at),
        "decided_at": _iso(experiment.decided_at),
        "looks": len(state.get("looks", [])),
    }
    if analysis:
        out["analysis"] = state.get("analysis")
        out["series"] = state.get("looks", [])
    return out
