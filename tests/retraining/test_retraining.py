"""Retraining: data assembled from the base dataset and feedback, trained, gated and deployed by
a job that survives its worker being killed (exactly one model version, the champion serving)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from loopline._api_serving import deployment_info
from loopline._workspace import Workspace
from loopline.data._datasets import load_version, parse_ref
from loopline.jobs import JobContext, Worker, claim, get_job, list_steps
from loopline.retraining import check_label_trigger, request_retraining, run_retrain_job
from loopline.review import record_feedback
from loopline.store import AuditEvent, LineageEdge, LineageNode, ModelVersion, Run, utcnow
from tests.conftest import ROOT
from tests.monitoring.test_monitor import _log
from tests.serving.conftest import deployed_project

MAIN = "import sys; from loopline.cli import main; sys.exit(main())"


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Iterator[Workspace]:
    """The deployed credit example with 400 labelled predictions from real answers (the store
    on SQLite and on PostgreSQL)."""
    ws = deployed_project(tmp_path, auth=False, database_url=database_url)
    data = load_version(ws, parse_ref("credit")).sample(400, seed=11)
    ids = _log(
        ws,
        data.drop("ID", "default_payment_next_month"),
        datetime.now(timezone.utc) - timedelta(hours=1),
    )
    with ws.store.transaction() as session:
        for prediction_id, label in zip(
            ids, data["default_payment_next_month"].to_list(), strict=True
        ):
            # half the labels disagree with the data, so they are new rows, not duplicates
            value = label if prediction_id[-1] in "01234567" else 1 - label
            record_feedback(
                session,
                use_case="credit-default",
                prediction_id=prediction_id,
                label=value,
                actor="labeller",
            )
    yield ws
    ws.close()


def _versions(ws: Workspace) -> list[tuple[int, str, dict[str, str]]]:
    with ws.store.transaction() as session:
        rows = session.execute(
            select(ModelVersion.version, ModelVersion.state, Run.params)
            .join(Run, ModelVersion.run_id == Run.id)
            .order_by(ModelVersion.version)
        ).all()
    return [(v, s, p.get("tags", {})) for v, s, p in rows]


def test_a_retraining_job_trains_on_base_plus_feedback_and_deploys_an_ab_test(
    project: Workspace,
) -> None:
    job = request_retraining(project, trigger="test")
    assert Worker(project, kinds=["retrain"], schedule=False).run_once() == 1
    with project.store.transaction() as session:
        done = get_job(session, job["id"])
        status, result = done.status, dict(done.result or {})
        steps = [s.step for s in list_steps(session, done.id)]
    assert status == "succeeded", result
    assert steps == ["assemble", "train", "tune", "deploy"]
    data = result["data"]
    assert data["base"] == "credit@1"
    assert data["feedback"] == "credit-feedback@1"
    assert 0 < data["feedback_rows"] <= 400
    assert data["rows"] == data["base_rows"] + data["feedback_rows"]
    training = load_version(project, parse_ref(data["dataset"]))
    assert training.height == data["rows"]
    assert result["model"] == "credit-default@2"
    assert _versions(project)[-1][2] == {"job": job["uid"]}
    deployed = deployment_info(project)
    assert deployed is not None
    assert deployed["strategy"] == "ab"
    assert {a["model"]: a["role"] for a in deployed["arms"]} == {
        "credit-default@1": "champion",
        "credit-default@2": "challenger",
    }
    with project.store.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        target = session.scalar(select(LineageNode.id).where(LineageNode.key == data["dataset"]))
        sources = session.scalars(
            select(LineageNode.key)
            .join(LineageEdge, LineageEdge.source_id == LineageNode.id)
            .where(LineageEdge.target_id == target)
        ).all()
    assert "retraining.deployed" in actions
    assert set(sources) >= {"credit@1", "credit-feedback@1"}


def test_labels_trigger_one_retraining(project: Workspace) -> None:
    # the example asks for 2,000 new labels; 400 arrived
    assert check_label_trigger(project) is None
    path = project.settings.project_dir / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["retraining"]["when"] = ["drift", {"new_labels": 300}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws = Workspace(project.settings)
    try:
        first = check_label_trigger(ws)
        assert first is not None
        assert first["kind"] == "retrain"
        again = check_label_trigger(ws)  # no new labels since that job: nothing more
        assert again is None
    finally:
        ws.close()


def test_a_crash_between_registering_and_recording_trains_once(project: Workspace) -> None:
    """The worker dies after training registered the model but before the step was recorded."""
    job = request_retraining(project, trigger="test")
    claimed = claim(project.store, "w1", lease_seconds=1)
    assert claimed is not None
    context = JobContext(project.store, claimed, worker_id="w1")
    real_step = context.step

    def crash_on_train(name: str, fn):  # type: ignore[no-untyped-def]
        if name == "train":
            raise KeyboardInterrupt("killed")
        return real_step(name, fn)

    context.step = crash_on_train  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_retrain_job(project, claimed, context)
    assert [v for v, _, tags in _versions(project) if tags.get("job") == job["uid"]] == [2]
    before = deployment_info(project)
    assert before is not None
    assert [a["model"] for a in before["arms"]] == ["credit-default@1"]  # still serving
    time.sleep(1.1)  # the lease expires
    assert Worker(project, kinds=["retrain"], schedule=False).run_once() == 1
    with project.store.transaction() as session:
        finished = get_job(session, job["id"])
        assert (finished.status, finished.attempts) == ("succeeded", 2)
    assert [v for v, _, tags in _versions(project) if tags.get("job") == job["uid"]] == [2]


def test_a_worker_killed_while_training_completes_the_job_exactly_once(
    project: Workspace,
) -> None:
    job = request_retraining(project, trigger="test")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOOPLINE_AUTH": "off",
        "LOOPLINE_DATABASE_URL": project.settings.database_url,
    }
    command = [
        sys.executable,
        "-c",
        MAIN,
        "--project",
        str(project.settings.project_dir),
        "worker",
        "--kind",
        "retrain",
        "--no-schedule",
        "--poll-seconds",
        "0.1",
        "--lease-seconds",
        "2",
    ]
    first = subprocess.Popen(command, cwd=ROOT, env=env)

    def training_started() -> bool:
        with project.store.transaction() as session:
            runs = session.scalars(select(Run).where(Run.status == "running")).all()
        return any((r.params.get("tags") or {}).get("job") == job["uid"] for r in runs)

    deadline = time.monotonic() + 120
    try:
        while not training_started():
            assert first.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    champion = deployment_info(project)
    assert champion is not None
    assert [a["model"] for a in champion["arms"]] == ["credit-default@1"]
    while True:  # the dead worker's lease runs out
        with project.store.transaction() as session:
            current = get_job(session, job["id"])
            expired = current.lease_expires_at is None or current.lease_expires_at < utcnow()
        if expired:
            break
        time.sleep(0.1)
    second = subprocess.run(
        [*command[:-2], "--lease-seconds", "120", "--once"], cwd=ROOT, env=env, check=False
    )
    assert second.returncode == 0
    with project.store.transaction() as session:
        finished = get_job(session, job["id"])
        assert finished.status == "succeeded", finished.error
        assert finished.attempts == 2
    mine = [v for v, _, tags in _versions(project) if tags.get("job") == job["uid"]]
    assert len(mine) == 1
    deployed = deployment_info(project)
    assert deployed is not None
    assert {a["role"] for a in deployed["arms"]} == {"champion", "challenger"}


def test_the_worker_schedules_monitor_experiment_and_periodic_retraining(
    project: Workspace,
) -> None:
    from loopline.jobs import schedules

    found = {s.kind: s.every for s in schedules(project)}
    every = project.project.spec.monitoring.every
    assert found == {"monitor": every, "experiment": every, "retrain": 7 * 86400}
