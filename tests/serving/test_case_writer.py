"""The case writer: cases committed on a kept connection, on both stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from loopline.review import case_columns, case_history
from loopline.serving._case_queue import CaseQueue, CaseWriter
from loopline.store import Case, CaseEvent, Store


def _case(index: int) -> dict[str, Any]:
    return {
        "use_case": "credit-default",
        "prediction_id": uuid.uuid4().hex,
        "request_id": f"request-{index // 2}",
        "model_version": "credit-default@1",
        "inputs": {"LIMIT_BAL": 1000 * index, "SEX": 2},
        "recommendation": {"prediction": 1, "probability": 0.6, "confidence": 0.6},
        "reasons": ["low_confidence"],
        "out_of_range": [],
        "priority": 3.5,
        "sla_hours": 24,
        "audit_sample": False,
        "sampling_probability": 1.0,
        "double_review": index == 0,
        "uid": str(uuid.uuid4()),
    }


def test_concurrent_requests_cases_are_committed_with_their_openings(store: Store) -> None:
    requests = [[_case(2 * i), _case(2 * i + 1)] for i in range(12)]
    writer = CaseWriter(store)

    async def run() -> CaseQueue:
        queue = CaseQueue(writer)
        await asyncio.gather(*(queue.open(case_columns(cases)) for cases in requests))
        await queue.stop()
        return queue

    queue = asyncio.run(run())
    assert queue.commits < len(requests)  # requests shared transactions
    with store.transaction() as session:
        stored = {case.uid: case for case in session.scalars(select(Case))}
        histories = {uid: case_history(session, case) for uid, case in stored.items()}
        assert session.scalars(select(CaseEvent)).all() == []
    expected = [case for cases in requests for case in cases]
    assert sorted(stored) == sorted(case["uid"] for case in expected)
    for case in expected:
        row = stored[case["uid"]]
        assert (row.inputs, row.status, row.tier, row.priority) == (case["inputs"], "open", 0, 3.5)
        assert row.double_review == case["double_review"]
    for uid, history in histories.items():
        assert [(e.action, e.detail) for e in history] == [
            ("open", {"reasons": ["low_confidence"], "audit_sample": False})
        ]
        assert history[0].at == stored[uid].created_at


def test_a_failed_write_is_retried_on_a_fresh_connection(store: Store) -> None:
    writer = CaseWriter(store)
    writer(case_columns([_case(0)]))
    assert writer._connection is not None
    writer._connection.close()  # the kept connection breaks (a restarted database)
    writer(case_columns([_case(1)]))
    writer.close()
    with store.transaction() as session:
        assert len(session.scalars(select(Case)).all()) == 2


def test_sqlite_checkpoints_run_beside_the_writer(tmp_path: Any) -> None:
    import os

    from loopline.store import open_store

    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    writer = CaseWriter(store)
    assert writer.checkpointer is not None
    writer.checkpointer.interval = 3600.0  # no checkpoint until stop()
    try:
        writer(case_columns([_case(0)]))
        assert writer._connection is not None
        dbapi = writer._connection.connection.dbapi_connection
        assert dbapi.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = os.path.getsize(path)
        for index in range(1, 200):
            writer(case_columns([_case(2 * index), _case(2 * index + 1)]))
        # the commits went to the write-ahead log only: the database file has not grown
        assert os.path.getsize(path) == before
        writer.checkpointer.stop()  # the checkpoint of what the commits left
        assert writer.checkpointer.runs == 1
        assert os.path.getsize(path) > before  # the pages were copied into the database
    finally:
        writer.close()
        store.dispose()
    reopened = open_store(f"sqlite:///{path}")
    with reopened.transaction() as session:
        assert len(session.scalars(select(Case)).all()) == 399
    reopened.dispose()


@pytest.fixture
def sqlite_writer(tmp_path: Any) -> Iterator[tuple[CaseWriter, Any, Path]]:
    """A case writer on a fresh SQLite store whose checkpointer runs only when a test asks
    (on the connection handed out with it), and the store's write-ahead log file."""
    from loopline.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    writer = CaseWriter(store)
    assert writer.checkpointer is not None
    writer.checkpointer.interval = 3600.0
    connection = store.engine.raw_connection()
    try:
        yield writer, connection, tmp_path / "store.db-wal"
    finally:
        connection.close()
        writer.close()
        store.dispose()


def test_a_log_over_its_bound_is_emptied_by_the_checkpoint(
    sqlite_writer: tuple[CaseWriter, Any, Path],
) -> None:
    import os

    writer, connection, wal = sqlite_writer
    checkpointer = writer.checkpointer
    assert checkpointer is not None
    checkpointer.max_log_bytes = 256 * 1024
    writer(case_columns([_case(0)]))
    checkpointer.checkpoint(connection)  # a small log: copied, left as it is
    assert (checkpointer.runs, checkpointer.truncations) == (1, 0)
    assert 0 < os.path.getsize(wal) <= checkpointer.max_log_bytes
    for index in range(1, 150):
        writer(case_columns([_case(2 * index), _case(2 * index + 1)]))
    assert os.path.getsize(wal) > checkpointer.max_log_bytes
    checkpointer.checkpoint(connection)
    assert (checkpointer.runs, checkpointer.truncations) == (2, 1)
    assert os.path.getsize(wal) == 0
    writer(case_columns([_case(1000)]))  # the writer goes on in the emptied log
    with writer.store.transaction() as session:
        assert len(session.scalars(select(Case)).all()) == 300


def test_a_reader_on_an_older_snapshot_defers_the_emptying_without_stopping_writers(
    sqlite_writer: tuple[CaseWriter, Any, Path],
) -> None:
    import os
    import sqlite3

    writer, connection, wal = sqlite_writer
    checkpointer = writer.checkpointer
    assert checkpointer is not None
    checkpointer.max_log_bytes = 64 * 1024
    checkpointer.retry_seconds = 0.0
    reader = sqlite3.connect(wal.with_name("store.db"), isolation_level=None)
    try:
        writer(case_columns([_case(0)]))
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM cases").fetchone()[0] == 1  # a snapshot
        for index in range(1, 60):
            writer(case_columns([_case(2 * index), _case(2 * index + 1)]))
        assert os.path.getsize(wal) > checkpointer.max_log_bytes
        checkpointer.checkpoint(connection)  # the reader's snapshot keeps the log
        assert (checkpointer.truncations, checkpointer.deferred) == (0, 1)
        writer(case_columns([_case(500)]))  # writers were not held back
        assert reader.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
        reader.execute("COMMIT")
        checkpointer.checkpoint(connection)  # the reader is gone: the log is emptied
        assert (checkpointer.truncations, checkpointer.deferred) == (1, 1)
        assert os.path.getsize(wal) == 0
    finally:
        reader.close()
