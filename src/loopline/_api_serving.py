"""Serving operations shared by the Python API and the CLI: deploy, roll back, read the log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from loopline._workspace import Workspace, open_workspace
from loopline.experiments import create_experiment, stop_running_experiment
from loopline.review import current_policy, policy_outlook
from loopline.serving import current_deployment, deploy, read_predictions, rollback_deployment

__all__ = ["deploy_model", "deployment_info", "predictions", "rollback_use_case"]


def _info(row: Any) -> dict[str, Any]:
    return {
        "use_case": row.use_case,
        "revision": row.revision,
        "strategy": row.strategy,
        "arms": row.arms,
        "state": row.state,
        "actor": row.actor,
        "reason": row.reason,
        "created_at": row.created_at,
    }


def deploy_model(
    ws: Workspace, ref: str, *, strategy: str, reason: str | None, weight: float = 0.5
) -> dict[str, Any]:
    """Deploy a model version; running servers pick the change up within seconds.

    The answer's ``policy`` says what the decision policy serving applies (the champion's tuned
    one, else the project file's threshold) does on the version's held-out rows: automation,
    precision and cost, and whether each declared success metric is met (``None`` for a
    regression model).
    """
    with ws.store.transaction() as session:
        row = deploy(
            session,
            ref,
            strategy=strategy,
            actor=ws.actor,
            reason=reason,
            rollout=ws.project.spec.serving.rollout,
            weight=weight,
        )
        info = _info(row)
        if strategy == "ab":  # an A/B deployment is an experiment; one runs at a time
            experiment = create_experiment(
                session, row, spec=ws.project.spec, actor=ws.actor, reason=reason
            )
            info["experiment"] = experiment.id
        else:  # any other deployment replaces the experiment's arms: it ends
            stop_running_experiment(
                session,
                row.use_case,
                actor=ws.actor,
                reason=f"superseded by a {strategy} deployment (revision {row.revision})",
            )
        leader = next((a for a in row.arms if a["role"] == "champion"), None)
        tuned = current_policy(session, leader["model_version_id"]) if leader else None
    # the decisions the deployed version will make, on its held-out rows (business terms first)
    info["policy"] = policy_outlook(ws, ref, tuned)
    return info


def deployment_info(ws: Workspace, use_case: str | None = None) -> dict[str, Any] | None:
    """The current deployment of a use case (the project's by default)."""
    with ws.store.transaction() as session:
        row = current_deployment(session, use_case or ws.project.spec.name)
        return _info(row) if row is not None else None


def rollback_use_case(ws: Workspace, use_case: str, *, reason: str | None) -> dict[str, Any]:
    """End a canary/A/B/shadow, or put the previous champion back; audited."""
    with ws.store.transaction() as session:
        current = current_deployment(session, use_case)
        before = [a["model"] for a in current.arms] if current else []
        row = rollback_deployment(session, use_case, actor=ws.actor, reason=reason)
        stop_running_experiment(session, use_case, actor=ws.actor, reason="rolled back")
        return {**_info(row), "before": before}


def predictions(
    use_case: str, *, since: datetime | None = None, project: str | Path | None = None
) -> pl.DataFrame:
    """The logged predictions of a use case as a frame (optionally since a time)."""
    ws = open_workspace(project)
    return read_predictions(ws.settings.home / "predictions", use_case, since=since)
