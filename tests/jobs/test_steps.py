"""Idempotent steps: a step's writes and its record commit together, exactly once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline.errors import JobError
from loopline.jobs import enqueue, list_steps, run_step
from loopline.store import AuditEvent, Job, JobStep, Store, record_audit


def new_job(store: Store) -> Job:
    with store.transaction() as session:
        return enqueue(session, "work", actor="tester")


def write_row(name: str, calls: list[str]) -> Any:
    def step(session: Session) -> dict[str, Any]:
        calls.append(name)
        record_audit(session, actor="step", action="test.step", target_type="t", target=name)
        return {"wrote": name}

    return step


def rows(store: Store, model: type[Any]) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_completed_step_returns_its_recorded_result_without_running(store: Store) -> None:
    job, calls = new_job(store), []
    first = run_step(store, job, "load", write_row("load", calls))
    second = run_step(store, job, "load", write_row("load", calls))
    assert first == second == {"wrote": "load"}
    assert calls == ["load"]
    assert rows(store, AuditEvent) == 1
    with store.transaction() as session:
        assert [(s.step, s.result) for s in list_steps(session, job.id)] == [
            ("load", {"wrote": "load"})
        ]


def test_a_step_that_raises_leaves_no_record_and_no_writes(store: Store) -> None:
    job = new_job(store)

    def broken(session: Session) -> dict[str, Any]:
        record_audit(session, actor="step", action="test.step", target_type="t", target="half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        run_step(store, job, "train", broken)
    assert rows(store, AuditEvent) == rows(store, JobStep) == 0
    calls: list[str] = []
    assert run_step(store, job, "train", write_row("train", calls)) == {"wrote": "train"}
    assert calls == ["train"]


def test_a_step_returning_a_non_dict_is_rolled_back(store: Store) -> None:
    job = new_job(store)

    def wrong(session: Session) -> Any:
        record_audit(session, actor="step", action="test.step", target_type="t", target="x")
        return ["not", "a", "dict"]

    with pytest.raises(JobError, match="returned list, not a dict"):
        run_step(store, job, "wrong", wrong)
    assert rows(store, AuditEvent) == rows(store, JobStep) == 0


def test_steps_are_per_job(store: Store) -> None:
    calls: list[str] = []
    run_step(store, new_job(store), "load", write_row("load", calls))
    run_step(store, new_job(store), "load", write_row("load", calls))
    assert calls == ["load", "load"]


def test_two_workers_racing_on_one_step_commit_it_once(store: Store) -> None:
    job = new_job(store)
    inside, go = threading.Event(), threading.Event()
    results: list[dict[str, Any]] = []

    def slow(session: Session) -> dict[str, Any]:
        record_audit(session, actor="first", action="test.step", target_type="t", target="s")
        inside.set()
        go.wait(30)
        return {"by": "first"}

    def fast(session: Session) -> dict[str, Any]:
        record_audit(session, actor="second", action="test.step", target_type="t", target="s")
        return {"by": "second"}

    first = threading.Thread(target=lambda: results.append(run_step(store, job, "s", slow)))
    first.start()
    inside.wait(30)
    second = threading.Thread(target=lambda: results.append(run_step(store, job, "s", fast)))
    second.start()
    time.sleep(0.5)  # let the second reach its lock wait (the outcome holds either way)
    go.set()
    first.join()
    second.join()
    assert len(results) == 2
    assert results[0] == results[1]
    assert rows(store, AuditEvent) == rows(store, JobStep) == 1
    with store.transaction() as session:
        writer = session.scalar(select(AuditEvent.actor))
    assert results[0] == {"by": writer}
