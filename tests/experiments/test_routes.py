"""``GET /api/v1/experiments/…`` on a real server on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx

from loopline._workspace import Workspace
from loopline.experiments import analyze_experiment
from tests.experiments.conftest import USE_CASE, log_arm, look_time
from tests.serving.conftest import start_server


def test_experiments_are_listed_and_shown_with_their_last_analysis(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    for arm, model in (
        ("champion", experiment["champion"]),
        ("challenger", experiment["challenger"]),
    ):
        log_arm(
            deployed,
            experiment["created_at"],
            arm=arm,
            model=model,
            answers=20,
            labelled=10,
            correct=5,
        )
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    server = start_server(deployed)
    try:
        listed = httpx.get(f"{server.url}/api/v1/experiments/{USE_CASE}?status=running").json()
        assert [e["id"] for e in listed["experiments"]] == [experiment["id"]]
        one = httpx.get(f"{server.url}/api/v1/experiments/{USE_CASE}/{experiment['id']}").json()
        assert one["analysis"]["comparison"] == analysis["comparison"]
        assert one["analysis"]["decision"] == "continue"
        missing = httpx.get(f"{server.url}/api/v1/experiments/{USE_CASE}/9999")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "experiment-error"
        assert httpx.get(f"{server.url}/api/v1/experiments/other").status_code == 404
        bad = httpx.get(f"{server.url}/api/v1/experiments/{USE_CASE}?status=done")
        assert bad.status_code == 400
    finally:
        server.stop()
