"""A deployed credit example with a fresh challenger per test, and simulated A/B traffic.

Traffic is written with the serving log's own writer and labelled through
``loopline.review.record_feedback``, on SQLite and PostgreSQL. Each experiment's answers are
logged within a second of its start and analysed at ``start + 2 s``; the next experiment starts
after a model is trained (several seconds later), so experiments never see each other's traffic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopline import _api_models, _api_serving
from loopline._workspace import Workspace
from loopline.experiments import get_experiment, stop_running_experiment
from loopline.review import record_feedback
from loopline.serving import current_deployment
from loopline.serving._log import LoggedRequest, write_records
from tests.serving.conftest import deployed_project

USE_CASE = "credit-default"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """The credit example with a champion; experiments planned for at least 250 labels."""
    from tests.conftest import _postgres_schema_url

    root = tmp_path_factory.mktemp(f"experiments-{request.param}")
    urls = _postgres_schema_url() if request.param == "postgresql" else None
    ws = deployed_project(root, auth=False, database_url=next(urls) if urls else None)
    configure(ws, min_samples=250, alpha=0.05, mde=0.1)
    yield ws
    ws.close()
    if urls is not None:
        next(urls, None)  # run the generator on: it drops the schema and closes its engine


def configure(ws: Workspace, **then: Any) -> None:
    """Set ``retraining.then`` keys in the project file and reload it."""
    path = Path(ws.settings.project_dir) / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["retraining"]["then"].update(then)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws.__dict__.pop("project", None)


def train_challenger(ws: Workspace) -> str:
    """Train and register a new version; returns its reference."""
    result = _api_models.train_model(ws)
    return f"{USE_CASE}@{result.version}"


@pytest.fixture
def experiment(deployed: Workspace) -> Iterator[dict[str, Any]]:
    """A fresh challenger deployed A/B at 50 %; afterwards the champion serves alone again."""
    ref = train_challenger(deployed)
    info = _api_serving.deploy_model(deployed, ref, strategy="ab", reason="test")
    with deployed.store.transaction() as session:
        row = get_experiment(session, info["experiment"])
        started = {
            "id": row.id,
            "created_at": row.created_at,
            "champion": row.champion,
            "challenger": ref,
        }
    yield started
    with deployed.store.transaction() as session:
        stop_running_experiment(session, USE_CASE, actor="tester", reason="test over")
        current = current_deployment(session, USE_CASE)
        serving_challenger = current is not None and len(current.arms) > 1
    if serving_challenger:
        _api_serving.rollback_use_case(deployed, USE_CASE, reason="test over")


def log_arm(
    ws: Workspace,
    started: datetime,
    *,
    arm: str,
    model: str,
    answers: int,
    labelled: int = 0,
    correct: int = 0,
    reviews: int = 0,
    latency_ms: float | list[float] = 2.0,
    outcome: list[float] | None = None,
) -> list[str]:
    """Log ``answers`` for one arm (each predicts 1) and label the first ``labelled``: the
    first ``correct`` of them 1 (right), the rest 0 (wrong). The first ``reviews`` answers were
    escalated. With ``outcome``, post those values as ``outcome`` feedback instead of labels."""
    ids = [uuid.uuid4().hex for _ in range(answers)]
    latencies = latency_ms if isinstance(latency_ms, list) else [latency_ms] * answers
    records = [
        {
            "prediction_id": ids[i],
            "request_id": f"r{i}",
            "use_case": USE_CASE,
            "model_version": model,
            "arm": arm,
            "unit_key": None,
            "decision": "review" if i < reviews else "auto",
            "reasons": [],
            "prediction": 1,
            "probability": 0.9,
            "confidence": 0.9,
            "latency_ms": latencies[i],
            "shadow": False,
            "at": started + timedelta(microseconds=1 + i * 50),
            "inputs": {},
        }
        for i in range(answers)
    ]
    write_records(ws.settings.home / "predictions", LoggedRequest.from_rows(records))
    with ws.store.transaction() as session:
        if outcome is not None:
            for prediction_id, value in zip(ids, outcome, strict=False):
                record_feedback(
                    session,
                    use_case=USE_CASE,
                    prediction_id=prediction_id,
                    label=value,
                    actor="tester",
                    source="outcome",
                )
        else:
            for i in range(labelled):
                record_feedback(
                    session,
                    use_case=USE_CASE,
                    prediction_id=ids[i],
                    label=1 if i < correct else 0,
                    actor="tester",
                )
    return ids


def look_time(started: dict[str, Any]) -> datetime:
    """When the simulated experiment is analysed: after all its traffic."""
    created: datetime = started["created_at"]
    return created + timedelta(seconds=2)
