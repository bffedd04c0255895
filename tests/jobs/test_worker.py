"""The worker on SQLite and PostgreSQL: runs, retries, schedules, stops and gives jobs back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

import tests.jobs.kinds  # noqa: F401  (registers the test kinds)
from loopline._workspace import Workspace
from loopline.jobs import (
    Backoff,
    JobContext,
    Worker,
    _handlers,
    cancel,
    enqueue,
    get_job,
    list_steps,
    register,
)
from loopline.store import AuditEvent, Job, utcnow


def add(ws: Workspace, kind: str, payload: dict[str, Any] | None = None, **options: Any) -> int:
    with ws.store.transaction() as session:
        return enqueue(session, kind, payload, actor="tester", **options).id


def job(ws: Workspace, job_id: int) -> Job:
    with ws.store.transaction() as session:
        return get_job(session, job_id)


def step_rows(ws: Workspace) -> list[str]:
    with ws.store.transaction() as session:
        return list(
            session.scalars(select(AuditEvent.target).where(AuditEvent.action == "test.step"))
        )


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in 30 s"
        time.sleep(0.02)


def test_run_once_runs_a_job_and_records_its_steps(workspace: Workspace) -> None:
    job_id = add(workspace, "three_steps")
    worker = Worker(workspace, schedule=False)
    assert worker.run_once() == 1
    done = job(workspace, job_id)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert done.result == {"attempts_of_steps": {"a": 1, "b": 1, "c": 1}}
    with workspace.store.transaction() as session:
        assert [s.step for s in list_steps(session, job_id)] == ["a", "b", "c"]
    assert worker.processed[0]["event"] == "succeeded"


def test_a_retried_job_skips_the_steps_it_completed(workspace: Workspace) -> None:
    job_id = add(workspace, "three_steps", {"fail_in": "b"})
    worker = Worker(workspace, schedule=False, backoff=Backoff(base_seconds=60))
    worker.run_once()
    failed = job(workspace, job_id)
    assert (failed.status, failed.attempts) == ("queued", 1)
    assert failed.error == "RuntimeError: step b failed on attempt 1"
    assert worker.run_once() == 0  # backing off
    assert worker.run_once(now=utcnow() + timedelta(seconds=61)) == 1
    done = job(workspace, job_id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert done.result == {"attempts_of_steps": {"a": 1, "b": 2, "c": 2}}
    assert sorted(step_rows(workspace)) == ["a", "b", "c"]


def test_a_job_fails_for_good_after_max_attempts(workspace: Workspace) -> None:
    job_id = add(workspace, "three_steps", {"fail_in": "a", "fail_times": 9}, max_attempts=2)
    worker = Worker(workspace, schedule=False, backoff=Backoff(base_seconds=1))
    later = utcnow() + timedelta(hours=1)
    worker.run_once()
    worker.run_once(now=later)
    failed = job(workspace, job_id)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert [p["event"] for p in worker.processed] == ["retrying", "failed"]


def test_unknown_kinds_fail_the_job_not_the_worker(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_handlers._BUILTIN, "ghost", "loopline.no_such_module:run")
    unknown = add(workspace, "never_registered")
    ghost = add(workspace, "ghost")
    fine = add(workspace, "three_steps")
    assert Worker(workspace, schedule=False).run_once() == 3
    assert job(workspace, unknown).status == job(workspace, ghost).status == "failed"
    assert job(workspace, unknown).attempts == 1  # no retries: retrying cannot help
    assert "No handler is registered for job kind 'never_registered'" in (
        job(workspace, unknown).error or ""
    )
    assert "loopline.no_such_module:run" in (job(workspace, ghost).error or "")
    assert job(workspace, fine).status == "succeeded"


def test_a_handler_returning_a_non_dict_fails_the_job(workspace: Workspace) -> None:
    register("returns_list")(lambda ws, job, context: [1])  # type: ignore[arg-type, return-value]
    job_id = add(workspace, "returns_list", max_attempts=1)
    Worker(workspace, schedule=False).run_once()
    assert "returned list, not a dict" in (job(workspace, job_id).error or "")


def test_scheduler_enqueues_one_monitor_job_per_slot(workspace: Workspace) -> None:
    every = workspace.project.spec.monitoring.every
    slot_start = datetime.fromtimestamp((time.time() // every) * every, tz=timezone.utc)

    def monitors() -> list[Job]:
        with workspace.store.transaction() as session:
            return list(session.scalars(select(Job).where(Job.kind == "monitor").order_by(Job.id)))

    for moment in (slot_start + timedelta(seconds=5), slot_start + timedelta(seconds=every - 5)):
        Worker(workspace, kinds=["nothing"]).run_once(now=moment)  # a new worker each time
    assert len(monitors()) == 1
    Worker(workspace, kinds=["nothing"]).run_once(now=slot_start + timedelta(seconds=every))
    jobs = monitors()
    slot = int(slot_start.timestamp()) // every
    assert [j.idempotency_key for j in jobs] == [
        f"monitor:credit-default:{slot}",
        f"monitor:credit-default:{slot + 1}",
    ]
    assert jobs[0].payload["use_case"] == "credit-default"
    assert (jobs[0].use_case, jobs[0].actor) == ("credit-default", "system:scheduler")


def test_concurrency_runs_jobs_side_by_side(workspace: Workspace) -> None:
    barrier = threading.Barrier(2, timeout=30)

    @register("meet")
    def meet(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
        barrier.wait()  # passes only when both jobs run at once
        return {}

    ids = [add(workspace, "meet"), add(workspace, "meet")]
    assert Worker(workspace, schedule=False, concurrency=2).run_once() == 2
    assert [job(workspace, i).status for i in ids] == ["succeeded", "succeeded"]


def test_stopping_gives_the_running_job_back_uncounted(workspace: Workspace) -> None:
    job_id = add(workspace, "wait_for_stop")
    worker = Worker(workspace, schedule=False, poll_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    wait_until(lambda: job(workspace, job_id).status == "running")
    stop.set()
    thread.join()
    released = job(workspace, job_id)
    assert (released.status, released.attempts, released.lease_owner) == ("queued", 0, None)
    assert [p["event"] for p in worker.processed] == ["released"]


def test_cancelling_a_running_job_stops_its_handler(workspace: Workspace) -> None:
    job_id = add(workspace, "wait_for_stop")
    worker = Worker(workspace, schedule=False, lease_seconds=0.3)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    wait_until(lambda: job(workspace, job_id).status == "running")
    with workspace.store.transaction() as session:
        cancel(session, job_id, actor="tester")
    thread.join()
    assert job(workspace, job_id).status == "cancelled"
    assert [p["event"] for p in worker.processed] == ["lost"]


def test_worker_refuses_a_zero_concurrency(workspace: Workspace) -> None:
    from loopline.errors import JobError

    with pytest.raises(JobError, match="concurrency must be positive"):
        Worker(workspace, concurrency=0)


def test_one_worker_enqueues_each_slot_once_across_runs(workspace: Workspace) -> None:
    every = workspace.project.spec.monitoring.every
    start = datetime.fromtimestamp((time.time() // every) * every, tz=timezone.utc)
    worker = Worker(workspace, kinds=["nothing"])
    for offset in (1, 2, every + 1, every + 2, 2 * every + 1):
        worker.run_once(now=start + timedelta(seconds=offset))
    with workspace.store.transaction() as session:
        keys = list(
            session.scalars(
                select(Job.idempotency_key).where(Job.kind == "monitor").order_by(Job.id)
            )
        )
    slot = int(start.timestamp()) // every
    assert keys == [f"monitor:credit-default:{slot + n}" for n in range(3)]
