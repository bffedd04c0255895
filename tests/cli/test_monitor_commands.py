"""``loopline monitor run|show|history|alerts`` and the worker's scheduled monitor job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest

from loopline._workspace import Workspace
from loopline.cli import main
from loopline.data._datasets import load_version, parse_ref
from loopline.jobs import Worker, list_jobs
from tests.monitoring.test_monitor import _log
from tests.serving.conftest import deployed_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = deployed_project(tmp_path_factory.mktemp("monitor-cli"), auth=False)
    rows = load_version(ws, parse_ref("credit")).drop("ID", "default_payment_next_month")
    now = datetime.now(timezone.utc)
    _log(ws, rows.sample(1500, seed=7), now - timedelta(hours=2))
    shifted = rows.sample(1500, seed=8).with_columns(
        (pl.col(c) * 2 + 50_000).cast(rows[c].dtype) for c in rows.columns[:14]
    )
    _log(ws, shifted, now - timedelta(minutes=30))
    yield ws
    ws.close()


def run(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> tuple[int, Any]:
    code = main(["--project", str(ws.settings.project_dir), *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def text(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> tuple[int, str]:
    code = main(["--project", str(ws.settings.project_dir), *args])
    return code, capsys.readouterr().out


def test_monitor_run_show_history_and_alerts(
    capsys: pytest.CaptureFixture[str], project: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_AUTH", "off")
    code, report = run(capsys, project, "monitor", "run")
    assert code == 0
    assert report["rows"] == 3000
    assert report["drift"]["dataset_drift"] is True
    assert "drift" in [a["rule"] for a in report["alerts"]]
    code, out = text(capsys, project, "monitor", "show")
    assert code == 0
    assert "LIMIT_BAL" in out
    assert "dataset drift" in out
    assert "estimated" in out
    code, shown = run(capsys, project, "monitor", "show", str(report["id"]))
    assert (code, shown["id"], shown["status"]) == (0, report["id"], "drift")
    code, history = run(capsys, project, "monitor", "history")
    assert code == 0
    assert history[-1]["id"] == report["id"]
    code, alerts = run(capsys, project, "monitor", "alerts", "--status", "firing")
    assert code == 0
    assert {"drift"} <= {a["rule"] for a in alerts}
    code, out = text(capsys, project, "monitor", "alerts")
    assert code == 0
    assert "drift" in out


def test_a_missing_report_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], project: Workspace
) -> None:
    code, body = run(capsys, project, "monitor", "show", "999999")
    assert code != 0
    assert body["error"]["code"] == "monitoring-error"
    assert "monitor run" in body["error"]["hint"]


def test_the_worker_runs_the_scheduled_monitor(project: Workspace) -> None:
    ws = Workspace(project.settings)
    try:
        worker = Worker(ws, poll_seconds=0.01)
        processed = worker.run_once()
        assert processed >= 1
        with ws.store.transaction() as session:
            jobs = [j for j in list_jobs(session, kind="monitor") if j.status == "succeeded"]
        assert jobs
        assert jobs[0].result is not None
        assert jobs[0].result["status"] == "drift"
    finally:
        ws.close()
