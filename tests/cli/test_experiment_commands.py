"""``loopline experiments list|show|analyze|stop`` on a real A/B experiment (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loopline._workspace import Workspace
from loopline.cli import main
from loopline.experiments import compare_proportions
from tests.experiments import conftest as shared
from tests.experiments.conftest import log_arm

# the deployed credit example and a fresh A/B experiment per test, as fixtures of this module
deployed = shared.deployed
experiment = shared.experiment


@pytest.fixture
def project(deployed: Workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPLINE_DATABASE_URL", deployed.settings.database_url)
    monkeypatch.setenv("LOOPLINE_ACTOR", "alice")
    return Path(deployed.settings.project_dir)


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, Any]:
    code = main(["--project", str(project), "experiments", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def text(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, str]:
    code = main(["--project", str(project), "experiments", *args])
    return code, capsys.readouterr().out


def _better_challenger(ws: Workspace, started: dict[str, Any]) -> None:
    for arm, model, correct in (
        ("champion", started["champion"], 60),
        ("challenger", started["challenger"], 90),
    ):
        log_arm(
            ws,
            started["created_at"],
            arm=arm,
            model=model,
            answers=100,
            labelled=100,
            correct=correct,
        )


def test_list_shows_the_running_experiment(
    capsys: pytest.CaptureFixture[str], project: Path, experiment: dict[str, Any]
) -> None:
    code, rows = run(capsys, project, "list", "--status", "running")
    assert code == 0
    assert [(r["id"], r["status"], r["challenger"]) for r in rows] == [
        (experiment["id"], "running", experiment["challenger"])
    ]
    code, out = text(capsys, project, "list")
    assert code == 0
    assert experiment["challenger"] in out
    assert "running" in out


def test_analyze_prints_the_arms_the_comparison_and_the_decision(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    deployed: Workspace,
    experiment: dict[str, Any],
) -> None:
    _better_challenger(deployed, experiment)
    code, info = run(capsys, project, "analyze")
    assert code == 0
    analysis = info["analysis"]
    expected = compare_proportions(60, 100, 90, 100, metric="accuracy")
    assert analysis["comparison"]["p_value"] == expected.p_value
    assert (analysis["decision"], info["status"]) == ("promote", "running")
    code, out = text(capsys, project, "show", str(experiment["id"]))
    assert code == 0
    assert "Decision: promote" in out
    assert "always-valid p" in out
    assert "0.9" in out  # the challenger's accuracy


def test_analyze_with_act_promotes(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    deployed: Workspace,
    experiment: dict[str, Any],
) -> None:
    _better_challenger(deployed, experiment)
    code, out = text(capsys, project, "analyze", str(experiment["id"]), "--act")
    assert code == 0
    assert "Action: promoted" in out
    code, info = run(capsys, project, "show", str(experiment["id"]))
    assert (info["status"], info["decision"]) == ("decided", "promote")


def test_stop_ends_it_once_and_says_so(
    capsys: pytest.CaptureFixture[str], project: Path, experiment: dict[str, Any]
) -> None:
    code, info = run(capsys, project, "stop", str(experiment["id"]), "--reason", "bad split")
    assert code == 0
    assert (info["status"], info["reason"]) == ("stopped", "bad split")
    code = main(["--project", str(project), "experiments", "stop", str(experiment["id"])])
    assert code == 3
    assert "already stopped" in capsys.readouterr().err
    code, error = run(capsys, project, "stop", str(experiment["id"]))
    assert error["error"]["code"] == "experiment-error"
    assert "already stopped" in error["error"]["message"]


def test_analyze_without_a_running_experiment_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], project: Path, experiment: dict[str, Any]
) -> None:
    run(capsys, project, "stop", str(experiment["id"]))
    code, error = run(capsys, project, "analyze")
    assert code == 3
    assert error["error"]["message"] == "No experiment is running for credit-default."
