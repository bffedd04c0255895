"""The retraining job: assemble data → train → gates against the champion → deploy as configured.

Each stage is an idempotent step of the job (see :mod:`loopline.jobs`): a worker killed in the
middle resumes after the last completed stage. Stages whose effects commit in their own
transactions (training registers a model; deploying writes a revision) are also found again by
lookup — the run is tagged with the job's id, the deployment names the model — so a crash
between an effect and its step record never trains or deploys twice. The experiment that an A/B
deployment starts is then analysed by the ``experiment`` job until it promotes or rolls back.
A failure leaves the champion serving, and its last attempt raises an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from loopline._workspace import Workspace
from loopline.errors import LooplineError
from loopline.jobs import JobContext, JobInterrupted, list_steps
from loopline.monitoring._alerts import raise_alert
from loopline.retraining._assemble import assemble_training_data
from loopline.store import Job, ModelVersion, Run, record_audit

__all__ = ["run_experiment_job", "run_retrain_job"]

_LOG = logging.getLogger("loopline.retraining")


def _once(context: JobContext, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A step whose work commits on its own: skipped when recorded, else computed and recorded."""
    with context.store.transaction() as session:
        for step in list_steps(session, context.job.id):
            if step.step == name:
                return dict(step.result)
    value = compute()
    return context.step(name, lambda _session: value)


def _trained_by(ws: Workspace, job: Job) -> dict[str, Any] | None:
    """The model version a previous attempt of this job registered, if any."""
    with ws.store.transaction() as session:
        rows = session.execute(
            select(Run.params, ModelVersion.version, ModelVersion.state)
            .join(ModelVersion, ModelVersion.run_id == Run.id)
            .where(Run.use_case == (job.use_case or ws.project.spec.name))
            .where(Run.created_at >= job.created_at)
        ).all()
    for params, version, state in rows:
        if (params.get("tags") or {}).get("job") == job.uid:
            return {"version": version, "state": state}
    return None


def _train(ws: Workspace, job: Job, dataset: str) -> dict[str, Any]:
    from loopline.runs import train

    use_case = job.use_case or ws.project.spec.name
    found = _trained_by(ws, job)
    if found is None:
        result = train(ws, dataset=dataset, tags={"job": job.uid})
        found = {"version": result.version, "state": result.state, "metrics": result.metrics}
    return {**found, "model": f"{use_case}@{found['version']}"}


def _deploy(ws: Workspace, job: Job, model: str) -> dict[str, Any]:
    from loopline._api_serving import deploy_model, deployment_info

    then = ws.project.spec.retraining.then
    current = deployment_info(ws) or {}
    if any(arm.get("model") == model for arm in current.get("arms", [])):
        return {
            "model": model,
            "strategy": current.get("strategy"),
            "revision": current.get("revision"),
        }
    row = deploy_model(ws, model, strategy=then.strategy, reason=f"retraining job {job.uid[:8]}")
    return {"model": model, "strategy": then.strategy, "revision": row.get("revision")}


def _tune_like_champion(ws: Workspace, model: str) -> dict[str, Any]:
    """Give the new model a decision policy tuned to the champion's target, if it has one.

    A challenger served with the project file's threshold while the champion runs a tuned one
    would be compared on different automation rates, not on the models.
    """
    from loopline.registry import current_alias, get_version
    from loopline.review import current_policy, tune_policy

    use_case = ws.project.spec.name
    with ws.store.transaction() as session:
        champion = current_alias(session, use_case, "champion")
        policy = current_policy(session, champion.id) if champion is not None else None
        mine = current_policy(session, get_version(session, model).id)
    target = (policy or {}).get("target") or {}
    if mine is not None or "metric" not in target:
        return {"tuned": False}
    tuned = tune_policy(
        ws,
        model_ref=model,
        target=(str(target["metric"]), float(target["value"])),
        reason="retraining: the champion's target",
    )
    return {"tuned": True, "confidence_below": tuned.threshold, "target": target}


def run_retrain_job(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
    """The ``retrain`` job kind (payload: ``use_case``, ``trigger``)."""
    use_case = job.use_case or ws.project.spec.name
    trigger = (job.payload or {}).get("trigger", "manual")
    try:
        data = _once(context, "assemble", lambda: assemble_training_data(ws))
        trained = _once(context, "train", lambda: _train(ws, job, data["dataset"]))
        if trained["state"] == "rejected":

            def reject(session: Any) -> dict[str, Any]:
                alert = raise_alert(
                    session,
                    use_case,
                    "retraining_rejected",
                    f"retrained model {trained['model']} failed its gates; "
                    "the champion keeps serving",
                    severity="warning",
                    detail={"job": job.uid, "trigger": trigger, "model": trained["model"]},
                    actor=ws.actor,
                )
                return {"alert": alert["id"]}

            context.step("reject", reject)
            outcome: dict[str, Any] = {"outcome": "rejected"}
        else:
            _once(context, "tune", lambda: _tune_like_champion(ws, trained["model"]))
            deployed = _once(context, "deploy", lambda: _deploy(ws, job, trained["model"]))
            outcome = {"outcome": "deployed", "deployment": deployed}
    except JobInterrupted:
        raise
    except Exception as exc:
        if job.attempts >= job.max_attempts or isinstance(exc, LooplineError):
            with ws.store.transaction() as session:
                raise_alert(
                    session,
                    use_case,
                    "retraining_failed",
                    f"retraining failed ({trigger}): {exc}; the champion keeps serving",
                    detail={"job": job.uid, "attempt": job.attempts},
                    actor=ws.actor,
                )
        raise
    result = {"trigger": trigger, "data": data, "model": trained["model"], **outcome}
    with ws.store.transaction() as session:
        record_audit(
            session,
            actor=ws.actor,
            action=f"retraining.{outcome['outcome']}",
            target_type="model_version",
            target=trained["model"],
            use_case=use_case,
            after={"job": job.uid, "trigger": trigger, "dataset": data["dataset"]},
        )
    _LOG.info("retraining %s: %s %s", job.uid[:8], trained["model"], outcome["outcome"])
    return result


def run_experiment_job(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
    """The ``experiment`` job kind: analyse the running experiment and act on its decision."""
    from loopline.experiments import analyze_experiment, running_experiment

    with ws.store.transaction() as session:
        running = running_experiment(session, job.use_case or ws.project.spec.name)
        uid = running.uid if running is not None else None
    if uid is None:
        return {"experiment": None}
    analysis = analyze_experiment(ws, uid, act=True)
    return {
        "experiment": uid,
        "decision": analysis.get("decision"),
        "reason": analysis.get("reason"),
    }
