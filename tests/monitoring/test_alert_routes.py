"""Alert routes end to end: a declared rule fires on a real shift and its routes act — a signed
webhook reaches a real HTTP server, the deployment is rolled back, the audit rate is raised —
once per episode, with every action recorded on the alert and in the audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
import yaml
from sqlalchemy import select

from loopline._api_models import train_model
from loopline._api_serving import deploy_model, deployment_info
from loopline._workspace import Workspace
from loopline.data._datasets import load_version, parse_ref
from loopline.monitoring import run_monitor
from loopline.registry import current_alias
from loopline.review import current_policy
from loopline.settings import load_settings
from loopline.store import Alert, AuditEvent
from tests.monitoring.test_monitor import _log
from tests.serving.conftest import deployed_project

SECRET = "s3cret"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def _project(root: Path, hook: str) -> Workspace:
    ws = deployed_project(root, auth=False)
    path = ws.settings.project_dir / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["monitoring"]["webhook_url"] = hook
    doc["monitoring"]["alerts"] = [
        {
            "name": "shift",
            "when": "drift_share >= 0.3",
            "clear": "drift_share < 0.1",
            "severity": "critical",
            "cooldown": "1h",
            "route": ["log", "webhook", "rollback", "raise_audit"],
            "message": "{drifted_features} features drifted",
        }
    ]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = load_settings(
        {"LOOPLINE_ACTOR": "tester", "LOOPLINE_AUTH": "off", "LOOPLINE_WEBHOOK_SECRET": SECRET},
        project_dir=ws.settings.project_dir,
    )
    ws.close()
    return Workspace(settings)


def test_a_firing_rule_notifies_rolls_back_and_raises_the_audit_rate(
    tmp_path: Path, hook: str
) -> None:
    ws = _project(tmp_path, hook)
    try:
        # a second model, deployed as a canary: the rollback route ends it
        train_model(ws)
        deploy_model(ws, "credit-default@2", strategy="canary", reason="test")
        rows = load_version(ws, parse_ref("credit")).drop("ID", "default_payment_next_month")
        at = datetime.now(timezone.utc) - timedelta(minutes=30)
        shifted = rows.sample(1500, seed=1).with_columns(
            (pl.col(c) * 2 + 10_000).cast(rows[c].dtype) for c in rows.columns[:12]
        )
        _log(ws, shifted, at)
        report = run_monitor(ws, now=at + timedelta(minutes=5), window=timedelta(minutes=10))
        assert [(a["rule"], a["action"]) for a in report["alerts"]] == [("shift", "fired")]
        # the webhook: one POST, signed with the secret over the exact body
        assert len(_Hook.received) == 1
        headers, body = _Hook.received[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Loopline-Signature"] == expected
        event = json.loads(body)
        assert event["event"] == "alert.fired"
        assert event["alert"]["rule"] == "shift"
        assert event["alert"]["message"].endswith("features drifted")
        # the rollback: the champion serves alone again
        deployed = deployment_info(ws)
        assert deployed is not None
        assert [a["role"] for a in deployed["arms"]] == ["champion"]
        # the raised audit rate: a new policy for the champion
        with ws.store.transaction() as session:
            champion = current_alias(session, "credit-default", "champion")
            assert champion is not None
            policy = current_policy(session, champion.id)
            alert = session.scalars(select(Alert)).one()
            actions = session.scalars(select(AuditEvent.action)).all()
        assert policy is not None
        assert policy["audit_sample_rate"] == pytest.approx(0.10)
        assert {a["route"] for a in alert.detail["actions"]} == {
            "webhook",
            "rollback",
            "raise_audit",
        }
        assert "alert.fire" in actions
        assert "policy.raise_audit" in actions
        # the same condition again within the cooldown: counted, not notified, no second action
        again = run_monitor(ws, now=at + timedelta(minutes=6), window=timedelta(minutes=10))
        assert again["alerts"] == []
        assert len(_Hook.received) == 1
        with ws.store.transaction() as session:
            assert session.scalars(select(Alert.count)).one() == 2
    finally:
        ws.close()
