"""``loopline worker``, ``loopline jobs …`` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loopline.cli import main
from loopline.jobs import enqueue, get_job
from loopline.store import list_audit, open_store
from tests.conftest import ROOT

WORKER = ["worker", "--once", "--no-schedule", "--modules", "tests.jobs.kinds"]


@pytest.fixture
def project(example_project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("LOOPLINE_ACTOR", "alice")
    return example_project


def add(database_url: str, kind: str, payload: dict[str, Any] | None = None) -> int:
    store = open_store(database_url)
    with store.transaction() as session:
        job_id = enqueue(session, kind, payload, actor="tester").id
    store.dispose()
    return job_id


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, Any]:
    code = main(["--project", str(project), *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def text(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, str]:
    code = main(["--project", str(project), *args])
    return code, capsys.readouterr().out


def test_worker_once_runs_due_jobs_and_reports_them(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    ok = add(database_url, "three_steps")
    broken = add(database_url, "three_steps", {"fail_in": "c"})
    code, rows = run(capsys, project, *WORKER)
    assert code == 0
    assert [(r["id"], r["event"], r["attempts"]) for r in rows] == [
        (ok, "succeeded", 1),
        (broken, "retrying", 1),
    ]
    assert rows[1]["error"] == "RuntimeError: step c failed on attempt 1"
    code, out = text(capsys, project, *WORKER)
    assert code == 0
    assert "0 job(s) run" in out  # the failed one is backing off


def test_worker_once_prints_a_table(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    job_id = add(database_url, "three_steps")
    code, out = text(capsys, project, *WORKER)
    assert code == 0
    assert "1 job(s) run" in out
    assert f"│ {job_id} " in out
    assert "succeeded" in out


def test_jobs_list_filters_and_prints(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    done = add(database_url, "three_steps")
    text(capsys, project, *WORKER)
    waiting = add(database_url, "wait_for_stop")
    code, rows = run(capsys, project, "jobs", "list")
    assert code == 0
    assert [(r["id"], r["status"]) for r in rows] == [(waiting, "queued"), (done, "succeeded")]
    code, rows = run(capsys, project, "jobs", "list", "--status", "succeeded")
    assert [r["id"] for r in rows] == [done]
    code, rows = run(capsys, project, "jobs", "list", "--kind", "wait_for_stop")
    assert [r["id"] for r in rows] == [waiting]
    code, out = text(capsys, project, "jobs", "list", "--status", "queued")
    assert "wait_for_stop" in out
    assert "three_steps" not in out


def test_jobs_show_includes_the_steps(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    job_id = add(database_url, "three_steps")
    text(capsys, project, *WORKER)
    code, info = run(capsys, project, "jobs", "show", str(job_id))
    assert code == 0
    assert (info["status"], info["attempts"]) == ("succeeded", 1)
    assert [s["step"] for s in info["steps"]] == ["a", "b", "c"]
    assert info["steps"][0]["result"] == {"step": "a", "attempt": 1}
    code, out = text(capsys, project, "jobs", "show", str(job_id))
    assert f"Job {job_id} (three_steps) — succeeded" in out
    assert "│ b " in out


def test_jobs_cancel_and_retry_are_audited(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    job_id = add(database_url, "three_steps")
    code, info = run(capsys, project, "jobs", "cancel", str(job_id), "--reason", "not now")
    assert (code, info["status"]) == (0, "cancelled")
    code, rows = run(capsys, project, *WORKER)
    assert rows == []  # a cancelled job does not run
    code, out = text(capsys, project, "jobs", "retry", str(job_id))
    assert (code, out.strip()) == (0, f"Job {job_id} (three_steps) queued again.")
    code, rows = run(capsys, project, *WORKER)
    assert [r["event"] for r in rows] == ["succeeded"]
    store = open_store(database_url)
    with store.transaction() as session:
        events = [(e.action, e.actor, e.reason) for e in list_audit(session, action="job.")]
    store.dispose()
    assert events == [("job.retry", "alice", None), ("job.cancel", "alice", "not now")]


def test_refused_and_unknown_jobs_exit_3_with_the_error(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    job_id = add(database_url, "three_steps")
    code, out = run(capsys, project, "jobs", "retry", str(job_id))
    assert code == 3
    assert out["error"]["code"] == "job-error"
    assert "only failed or cancelled jobs can be retried" in out["error"]["message"]
    code, out = run(capsys, project, "jobs", "show", "12345")
    assert (code, out["error"]["message"]) == (3, "No job '12345'.")
    code, out = run(capsys, project, "worker", "--once", "--modules", "no_such_plugin")
    assert code == 3
    assert "Cannot import the job module 'no_such_plugin'" in out["error"]["message"]


def test_up_serves_and_runs_jobs_then_stops_on_sigterm(example_project: Path) -> None:
    url = f"sqlite:///{example_project / '.loopline' / 'loopline.db'}"
    job_id = add(url, "three_steps")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOOPLINE_JOB_MODULES": "tests.jobs.kinds",
        "LOOPLINE_AUTH": "off",
    }
    env.pop("LOOPLINE_DATABASE_URL", None)
    command = [sys.executable, "-c", "import sys; from loopline.cli import main; sys.exit(main())"]
    up = subprocess.Popen(
        [*command, "--project", str(example_project), "up", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = open_store(url)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert up.poll() is None, up.communicate()[1]
            assert time.monotonic() < deadline, "up did not serve and run the job in 60 s"
            with store.transaction() as session:
                status = get_job(session, job_id).status
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    healthy = json.load(response) == {"status": "ok"}
            except OSError:
                healthy = False
            if healthy and status == "succeeded":
                break
            time.sleep(0.1)
    finally:
        up.send_signal(signal.SIGTERM)
        _, err = up.communicate(timeout=60)
        store.dispose()
    assert up.returncode == 0, err
    assert f"job {job_id} (three_steps) succeeded" in err
