"""The issue's "done when": a worker killed mid-job, a new worker started, the job done once.

The ``crash`` kind (tests/jobs/kinds.py) hangs on its first attempt inside its second step's
transaction, after writing that step's row; the worker process is then killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from loopline.jobs import enqueue, get_job, list_steps
from loopline.store import AuditEvent, open_store, utcnow
from tests.conftest import ROOT

MAIN = "import sys; from loopline.cli import main; sys.exit(main())"


def worker(project: Path, database_url: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        MAIN,
        "--project",
        str(project),
        "worker",
        "--kind",
        "crash",
        "--modules",
        "tests.jobs.kinds",
        "--no-schedule",
        "--poll-seconds",
        "0.1",
        *args,
    ]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process is None or process.poll() is None, "the worker exited early"
        assert time.monotonic() < deadline, "not reached within 60 s"
        time.sleep(0.05)


def test_a_killed_worker_s_job_completes_exactly_once_on_restart(
    example_project: Path, database_url: str, tmp_path: Path
) -> None:
    store = open_store(database_url)
    marker = tmp_path / "inside-second-step"
    with store.transaction() as session:
        job_id = enqueue(session, "crash", {"marker": str(marker)}, actor="tester").id
    env = {**os.environ, "LOOPLINE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}

    first = subprocess.Popen(
        worker(example_project, database_url, "--lease-seconds", "1"), cwd=ROOT, env=env
    )
    try:
        wait_for(marker.exists, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    def lease_expired() -> bool:
        with store.transaction() as session:
            job = get_job(session, job_id)
        return job.lease_expires_at is not None and job.lease_expires_at < utcnow()

    wait_for(lease_expired)
    second = subprocess.run(
        worker(example_project, database_url, "--once", "--lease-seconds", "30", "--json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert [(r["id"], r["event"]) for r in json.loads(second.stdout)] == [(job_id, "succeeded")]
    with store.transaction() as session:
        job = get_job(session, job_id)
        steps = {s.step: s.result["attempt"] for s in list_steps(session, job_id)}
        effects = sorted(session.scalars(select(AuditEvent.target)))
    store.dispose()
    assert (job.status, job.attempts, job.result) == ("succeeded", 2, {"finished_on_attempt": 2})
    assert steps == {"first": 1, "second": 2, "third": 2}  # first kept; second rolled back, redone
    assert effects == ["first", "second", "third"]  # every step's effect exactly once


def test_sigterm_stops_the_worker_and_gives_its_job_back(
    example_project: Path, database_url: str
) -> None:
    store = open_store(database_url)
    with store.transaction() as session:
        job_id = enqueue(session, "wait_for_stop", actor="tester").id
    env = {**os.environ, "LOOPLINE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    command = worker(example_project, database_url)
    command[command.index("crash")] = "wait_for_stop"
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)

    def running() -> bool:
        with store.transaction() as session:
            return get_job(session, job_id).status == "running"

    try:
        wait_for(running, process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    with store.transaction() as session:
        job = get_job(session, job_id)
    store.dispose()
    assert process.returncode == 0, err
    assert (job.status, job.attempts, job.lease_owner) == ("queued", 0, None)
    assert f"job {job_id} (wait_for_stop) released" in err
