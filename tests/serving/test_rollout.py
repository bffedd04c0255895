"""Rollouts on a live server: canary steps and rollback, shadows, A/B assignment, the CLI."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from loopline import _api, _api_models, _api_serving
from loopline._workspace import Workspace
from loopline.cli import main
from loopline.errors import RegistryError
from loopline.serving import read_predictions
from loopline.settings import load_settings
from tests.conftest import EXAMPLE
from tests.serving.conftest import Server, start_server


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = tmp_path_factory.mktemp("rollout") / "credit-default"
    shutil.copytree(EXAMPLE, project)
    path = project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["training"]["params"] = {"max_iter": 20}
    doc["gates"] = ["roc_auc >= 0.7"]
    doc["serving"]["rollout"] = {"strategy": "canary", "steps": [0.5, 1.0], "min_requests": 20}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws = Workspace(
        load_settings({"LOOPLINE_ACTOR": "tester", "LOOPLINE_AUTH": "off"}, project_dir=project)
    )
    _api.ingest_path(ws, project / "data" / "credit_default.csv.gz")
    _api_models.train_model(ws)
    _api_models.train_model(ws)
    _api_serving.deploy_model(ws, "credit-default@1", strategy="direct", reason="first")
    server = start_server(ws, reload_seconds=0.2)
    yield server
    server.stop()
    ws.close()


def _rows(server: Server) -> list[dict[str, Any]]:
    frame = _api.load("credit", project=server.ws.settings.project_dir).head(50)
    return frame.drop("ID", "default_payment_next_month").to_dicts()


def _wait_revision(server: Server, revision: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.app.state.runtime.use_cases["credit-default"].revision >= revision:
            return
        time.sleep(0.05)
    raise AssertionError(f"revision {revision} never loaded")


def test_healthy_canary_steps_up_to_champion(two_models: Server) -> None:
    info = _api_serving.deploy_model(
        two_models.ws, "credit-default@2", strategy="canary", reason="try"
    )
    assert [(a["model"], a["weight"]) for a in info["arms"]] == [
        ("credit-default@1", 0.5),
        ("credit-default@2", 0.5),
    ]
    _wait_revision(two_models, info["revision"])
    rows = _rows(two_models)
    for i in range(200):
        httpx.post(
            f"{two_models.url}/api/v1/predict/credit-default",
            json={"records": [rows[i % 50]], "unit_key": f"u{i}"},
        )
        current = _api_serving.deployment_info(two_models.ws)
        if current and current["strategy"] == "direct":
            break
    current = _api_serving.deployment_info(two_models.ws)
    assert current is not None
    assert current["strategy"] == "direct"
    assert current["arms"][0]["model"] == "credit-default@2"
    assert current["actor"] == "system:canary"


def test_canary_that_breaches_is_rolled_back(two_models: Server) -> None:
    ws = two_models.ws
    _api_models.train_model(ws)
    info = _api_serving.deploy_model(ws, "credit-default@3", strategy="canary", reason="risky")
    _wait_revision(two_models, info["revision"])
    watch = two_models.app.state.runtime.canary
    for _ in range(25):
        watch.record("credit-default", info["revision"], failed=True, latency_ms=0.0)
    rollout = ws.project.spec.serving.rollout
    assert watch.decide(ws, "credit-default", info["revision"], rollout) == "rolled_back"
    current = _api_serving.deployment_info(ws)
    assert current is not None
    assert [a["model"] for a in current["arms"]] == ["credit-default@2"]
    assert "error rate" in (current["reason"] or "")


def test_shadow_is_logged_but_never_answers(two_models: Server) -> None:
    ws = two_models.ws
    _api_models.train_model(ws)
    info = _api_serving.deploy_model(ws, "credit-default@4", strategy="shadow", reason="watch")
    _wait_revision(two_models, info["revision"])
    body = httpx.post(
        f"{two_models.url}/api/v1/predict/credit-default", json={"records": _rows(two_models)[:3]}
    ).json()
    assert {p["model_version"] for p in body["predictions"]} == {"credit-default@2"}
    deadline = time.monotonic() + 10
    shadows = 0
    while time.monotonic() < deadline and shadows < 3:
        frame = read_predictions(ws.settings.home / "predictions", "credit-default")
        mine = frame.filter(frame["request_id"] == body["request_id"])
        shadows = mine.filter(mine["shadow"]).height
        time.sleep(0.2)
    assert shadows == 3
    _api_serving.rollback_use_case(ws, "credit-default", reason="done watching")


def test_rejected_model_cannot_be_deployed(two_models: Server) -> None:
    ws = two_models.ws
    path = ws.settings.project_dir / "loopline.yaml"
    original = path.read_text()
    doc = yaml.safe_load(original)
    doc["gates"] = ["roc_auc >= 0.999"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws.__dict__.pop("project", None)
    try:
        rejected = _api_models.train_model(ws)
        assert rejected.state == "rejected"
        with pytest.raises(RegistryError, match="rejected"):
            _api_serving.deploy_model(
                ws, f"credit-default@{rejected.version}", strategy="ab", reason="no"
            )
    finally:
        path.write_text(original)
        ws.__dict__.pop("project", None)


def test_cli_deployments_and_serve_refusal(
    two_models: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    project = str(two_models.ws.settings.project_dir)
    assert main(["--project", project, "deployments", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["use_case"] == "credit-default"
    import os

    os.environ["LOOPLINE_AUTH"] = "off"
    try:
        assert main(["--project", project, "serve", "--host", "0.0.0.0", "--json"]) == 3
    finally:
        del os.environ["LOOPLINE_AUTH"]
    error = json.loads(capsys.readouterr().out)["error"]
    assert "Refusing to listen on 0.0.0.0" in error["message"]
