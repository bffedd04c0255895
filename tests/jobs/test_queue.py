"""The job queue on SQLite and PostgreSQL: idempotent enqueue, leases, backoff, cancel, retry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loopline.errors import JobError
from loopline.jobs import (
    Backoff,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    get_job,
    heartbeat,
    list_jobs,
    retry,
)
from loopline.store import AuditEvent, Job, Store, list_audit, utcnow


def add(store: Store, kind: str = "work", **options: object) -> int:
    with store.transaction() as session:
        return enqueue(session, kind, {"n": 1}, actor="tester", **options).id  # type: ignore[arg-type]


def job_count(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def test_same_idempotency_key_returns_the_existing_job(store: Store) -> None:
    first = add(store, idempotency_key="k-1")
    second = add(store, idempotency_key="k-1")
    other = add(store, idempotency_key="k-2")
    assert first == second != other
    assert job_count(store) == 2


def test_concurrent_enqueues_of_one_key_make_one_job(store: Store) -> None:
    barrier = threading.Barrier(4)
    ids: list[int] = []

    def enqueue_one() -> None:
        barrier.wait()
        ids.append(add(store, idempotency_key="race"))

    threads = [threading.Thread(target=enqueue_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert job_count(store) == 1


def test_claim_takes_higher_priority_then_earlier_run_after(store: Store) -> None:
    now = utcnow()
    late = add(store, run_after=now - timedelta(seconds=10))
    early = add(store, run_after=now - timedelta(seconds=60))
    urgent = add(store, run_after=now - timedelta(seconds=1), priority=5)
    add(store, run_after=now + timedelta(seconds=60), priority=9)  # not due yet
    order = [claim(store, "w", lease_seconds=30, now=now) for _ in range(4)]
    assert [job.id if job else None for job in order] == [urgent, early, late, None]
    assert order[0] is not None
    assert order[0].status == "running"
    assert order[0].attempts == 1


def test_claim_only_takes_the_kinds_asked_for(store: Store) -> None:
    add(store, kind="monitor")
    wanted = add(store, kind="retrain")
    job = claim(store, "w", lease_seconds=30, kinds=["retrain"])
    assert job is not None
    assert job.id == wanted
    assert claim(store, "w", lease_seconds=30, kinds=["retrain"]) is None


def test_concurrent_claimers_never_share_a_job(store: Store) -> None:
    expected = {add(store) for _ in range(24)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := claim(store, name, lease_seconds=60)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(expected)


def test_expired_lease_makes_the_job_claimable_again(store: Store) -> None:
    job_id = add(store)
    now = utcnow()
    assert claim(store, "dead", lease_seconds=30, now=now) is not None
    assert claim(store, "other", lease_seconds=30, now=now + timedelta(seconds=29)) is None
    again = claim(store, "other", lease_seconds=30, now=now + timedelta(seconds=31))
    assert again is not None
    assert again.id == job_id
    assert (again.attempts, again.lease_owner) == (2, "other")


def test_heartbeat_extends_the_lease_of_its_holder_only(store: Store) -> None:
    job_id = add(store)
    now = utcnow()
    claim(store, "w", lease_seconds=30, now=now)
    with store.transaction() as session:
        assert heartbeat(
            session, job_id, worker_id="w", lease_seconds=30, now=now + timedelta(seconds=20)
        )
        assert not heartbeat(session, job_id, worker_id="intruder", lease_seconds=30)
    assert claim(store, "other", lease_seconds=30, now=now + timedelta(seconds=40)) is None


def test_expired_lease_on_the_last_attempt_fails_the_job(store: Store) -> None:
    job_id = add(store, max_attempts=1)
    now = utcnow()
    claim(store, "dead", lease_seconds=5, now=now)
    assert claim(store, "other", lease_seconds=5, now=now + timedelta(seconds=6)) is None
    with store.transaction() as session:
        job = get_job(session, job_id)
        assert job.status == "failed"
        assert job.error is not None
        assert "dead" in job.error


def test_failures_back_off_exponentially_then_fail(store: Store) -> None:
    job_id = add(store, max_attempts=3)
    backoff = Backoff(base_seconds=10, cap_seconds=15)
    now = utcnow()
    waits = []
    for _ in range(3):
        job = claim(store, "w", lease_seconds=30, now=now)
        assert job is not None
        with store.transaction() as session:
            failed = fail(session, job_id, worker_id="w", error="boom", backoff=backoff, now=now)
            assert failed is not None
            waits.append((failed.status, (failed.run_after - now).total_seconds()))
        now = failed.run_after
    assert waits[:2] == [("queued", 10.0), ("queued", 15.0)]  # 10·2^0, then 10·2^1 capped at 15
    assert waits[2][0] == "failed"
    with store.transaction() as session:
        job = get_job(session, job_id)
        assert (job.status, job.attempts, job.error) == ("failed", 3, "boom")


def test_backoff_doubles_until_the_cap() -> None:
    delays = [Backoff(base_seconds=2, cap_seconds=20).delay(n).total_seconds() for n in range(1, 6)]
    assert delays == [2, 4, 8, 16, 20]


def test_complete_records_the_result_only_for_the_lease_holder(store: Store) -> None:
    job_id = add(store)
    claim(store, "w", lease_seconds=30)
    with store.transaction() as session:
        assert complete(session, job_id, worker_id="intruder", result={"x": 1}) is None
        done = complete(session, job_id, worker_id="w", result={"x": 2})
        assert done is not None
        assert done.finished_at is not None
    with store.transaction() as session:
        job = get_job(session, job_id)
        assert (job.status, job.result, job.lease_owner) == ("succeeded", {"x": 2}, None)


def test_cancel_and_retry_are_audited(store: Store) -> None:
    job_id = add(store)
    claim(store, "w", lease_seconds=30)
    with store.transaction() as session:
        cancel(session, job_id, actor="alice", reason="wrong data")
    with store.transaction() as session:
        assert not heartbeat(session, job_id, worker_id="w", lease_seconds=30)
        retried = retry(session, str(job_id), actor="bob")
        assert (retried.status, retried.attempts) == ("queued", 0)
    with store.transaction() as session:
        events = list_audit(session, action="job.")
        assert [(e.action, e.actor) for e in events] == [
            ("job.retry", "bob"),
            ("job.cancel", "alice"),
        ]
        assert events[1].before == {"status": "running", "attempts": 1}
        assert events[1].reason == "wrong data"
        assert events[0].target == f"work#{job_id}"


def test_cancel_of_a_finished_job_and_retry_of_a_queued_one_are_refused(store: Store) -> None:
    job_id = add(store)
    with store.transaction() as session, pytest.raises(JobError, match="only failed or"):
        retry(session, job_id, actor="bob")
    claim(store, "w", lease_seconds=30)
    with store.transaction() as session:
        complete(session, job_id, worker_id="w", result={})
    with store.transaction() as session, pytest.raises(JobError, match="only queued or running"):
        cancel(session, job_id, actor="bob")
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_get_job_by_number_or_uid_and_unknown_jobs(store: Store) -> None:
    job_id = add(store)
    with store.transaction() as session:
        uid = get_job(session, job_id).uid
        assert get_job(session, uid).id == job_id
        with pytest.raises(JobError, match="No job '999'"):
            get_job(session, 999)


def test_list_jobs_filters_by_status_and_kind(store: Store) -> None:
    add(store, kind="a")
    second = add(store, kind="b")
    claim(store, "w", lease_seconds=30, kinds=["b"])
    with store.transaction() as session:
        assert [j.id for j in list_jobs(session, status="running")] == [second]
        assert [j.kind for j in list_jobs(session)] == ["b", "a"]
        assert [j.kind for j in list_jobs(session, kind="a", status="queued,running")] == ["a"]
        with pytest.raises(JobError, match="Unknown job status done"):
            list_jobs(session, status="done")


def test_enqueue_refuses_zero_attempts(store: Store) -> None:
    with store.transaction() as session, pytest.raises(JobError, match="max_attempts"):
        enqueue(session, "work", actor="tester", max_attempts=0)
