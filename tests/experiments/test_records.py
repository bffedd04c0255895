"""Experiment records: created by A/B deploys, one at a time, stopped by rollbacks and redeploys."""

from __future__ import annotations

from typing import Any

import pytest

from loopline import _api_models, _api_serving
from loopline._workspace import Workspace
from loopline.errors import ExperimentError
from loopline.experiments import (
    experiment_dict,
    get_experiment,
    list_experiments,
    running_experiment,
    stop_experiment,
)
from loopline.serving import current_deployment
from loopline.store import list_audit
from tests.experiments.conftest import USE_CASE, train_challenger


def _row(ws: Workspace, experiment_id: int) -> dict[str, Any]:
    with ws.store.transaction() as session:
        return experiment_dict(get_experiment(session, experiment_id))


def test_an_ab_deploy_starts_a_running_experiment_and_audits_it(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    row = _row(deployed, experiment["id"])
    assert (row["status"], row["primary_metric"], row["kind"]) == (
        "running",
        "accuracy",
        "proportion",
    )
    assert (row["champion"], row["challenger"]) == (
        experiment["champion"],
        experiment["challenger"],
    )
    with deployed.store.transaction() as session:
        assert running_experiment(session, USE_CASE).id == experiment["id"]  # type: ignore[union-attr]
        assert row["deployment_revision"] == current_deployment(session, USE_CASE).revision  # type: ignore[union-attr]
        event = list_audit(session, action="experiment.start")[0]
        assert (event.target, event.actor, event.reason) == (
            str(experiment["id"]),
            "tester",
            "test",
        )
        by_uid = get_experiment(session, row["uid"])
        assert by_uid.id == experiment["id"]


def test_a_second_ab_deploy_while_one_runs_is_refused_and_changes_nothing(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    other = train_challenger(deployed)
    with deployed.store.transaction() as session:
        revision = current_deployment(session, USE_CASE).revision  # type: ignore[union-attr]
    with pytest.raises(ExperimentError, match="still running") as caught:
        _api_serving.deploy_model(deployed, other, strategy="ab", reason="again")
    assert f"experiments stop {experiment['id']}" in (caught.value.hint or "")
    with deployed.store.transaction() as session:
        assert current_deployment(session, USE_CASE).revision == revision  # type: ignore[union-attr]
        assert len(list_experiments(session, USE_CASE, status="running")) == 1


def test_a_rollback_stops_the_running_experiment(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _api_serving.rollback_use_case(deployed, USE_CASE, reason="enough")
    row = _row(deployed, experiment["id"])
    assert (row["status"], row["reason"], row["decision"]) == ("stopped", "rolled back", None)
    assert row["decided_at"] is not None
    with deployed.store.transaction() as session:
        assert list_audit(session, action="experiment.stop")[0].target == str(experiment["id"])


def test_the_rollback_command_stops_it_too(deployed: Workspace, experiment: dict[str, Any]) -> None:
    _api_models.rollback_champion(deployed, USE_CASE, reason="enough")
    assert _row(deployed, experiment["id"])["status"] == "stopped"


def test_another_kind_of_deploy_supersedes_the_experiment(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _api_serving.deploy_model(deployed, experiment["champion"], strategy="direct", reason="x")
    row = _row(deployed, experiment["id"])
    assert row["status"] == "stopped"
    assert row["reason"].startswith("superseded by a direct deployment")


def test_stopping_by_hand_is_audited_and_only_once(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    with deployed.store.transaction() as session:
        stop_experiment(session, experiment["id"], actor="alice", reason="wrong split")
    with deployed.store.transaction() as session:
        assert list_audit(session, action="experiment.stop")[0].actor == "alice"
        with pytest.raises(ExperimentError, match="already stopped"):
            stop_experiment(session, experiment["id"], actor="alice")
        stopped = list_experiments(session, USE_CASE, status="stopped")
        assert stopped[0].id == experiment["id"]


def test_unknown_experiments_and_statuses_are_clear_errors(deployed: Workspace) -> None:
    with deployed.store.transaction() as session:
        with pytest.raises(ExperimentError, match="No experiment '9999'"):
            get_experiment(session, 9999)
        with pytest.raises(ExperimentError, match="Unknown experiment status 'done'"):
            list_experiments(session, status="done")
