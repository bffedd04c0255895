"""Bulk inserts: rows written by the driver's executemany read back as the ORM wrote them."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loopline._ids import uuid7
from loopline.store import Case, CaseEvent, Store, insert_rows, utcnow


def _row(index: int, now: Any) -> dict[str, Any]:
    return {
        "uid": uuid7(),
        "use_case": "credit-default",
        "prediction_id": f"p{index}",
        "request_id": "r1",
        "model_version": "credit-default@1",
        "inputs": {"LIMIT_BAL": 1000 * index, "NAME": "Zoë", "RATE": 0.25, "NOTHING": None},
        "recommendation": {"prediction": 1, "probability": 0.6, "prediction_set": [0, 1]},
        "reasons": ["low_confidence"] if index % 2 else [],
        "out_of_range": [],
        "priority": 1.5 * index,
        "tier": 0,
        "status": "open",
        "audit_sample": index == 2,
        "sampling_probability": None if index == 1 else 0.5,
        "double_review": index == 0,
        "due_at": now + timedelta(hours=24),
        "created_at": now,
    }


def test_bulk_rows_read_back_like_orm_rows_with_their_ids(store: Store) -> None:
    now = utcnow()
    with store.transaction() as session:
        session.add(Case(**_row(100, now)))  # an ORM row first: the ids must continue after it
        session.flush()
        rows = [_row(i, now) for i in range(5)]
        ids = insert_rows(session, Case, rows, ids=True)
        assert insert_rows(session, Case, []) == []
        insert_rows(
            session,
            CaseEvent,
            [
                {"case_id": i, "actor": "system", "action": "open", "detail": {}, "at": now}
                for i in ids
            ],
        )
    with store.transaction() as session:
        stored = {case.uid: case for case in session.scalars(select(Case))}
        events = session.scalars(select(CaseEvent)).all()
    assert len(set(ids)) == len(ids) == 5
    for case_id, row in zip(ids, rows, strict=True):
        case = stored[row["uid"]]
        assert case.id == case_id
        for name, value in row.items():
            got = getattr(case, name)
            if isinstance(value, float):
                assert math.isclose(got, value)
            else:
                assert got == value, name
        assert case.due_at.tzinfo is not None
    assert sorted(event.case_id for event in events) == sorted(ids)
    assert all(event.at == now for event in events)


def test_rows_beyond_one_statement_go_in_several_with_contiguous_ids(
    store: Store, monkeypatch: Any
) -> None:
    from loopline.store import _bulk

    # 17 columns, at most 40 parameters per statement: two rows per statement, five statements
    monkeypatch.setattr(_bulk, "_variable_limit", lambda connection: 40)
    now = utcnow()
    rows = [_row(i, now) for i in range(9)]
    with store.transaction() as session:
        ids = insert_rows(session, Case, rows, ids=True)
    with store.transaction() as session:
        stored = {case.uid: case.id for case in session.scalars(select(Case))}
    assert ids == [stored[row["uid"]] for row in rows]
    assert ids == list(range(ids[0], ids[0] + 9))


def test_columns_of_different_lengths_are_refused(store: Store) -> None:
    import pytest

    from loopline.store import insert_columns

    with store.transaction() as session, pytest.raises(ValueError, match="different lengths"):
        insert_columns(session, CaseEvent, {"case_id": [1, 2], "actor": ["system"]})


def test_json_text_written_once_reads_back_as_the_document(store: Store) -> None:
    import orjson

    from loopline.store import RawJson

    now = utcnow()
    rows = [_row(i, now) for i in range(3)]
    documents = [row["inputs"] for row in rows]
    rows[0]["inputs"] = RawJson(orjson.dumps(documents[0]).decode())
    rows[2]["inputs"] = RawJson(orjson.dumps(documents[2]).decode())
    rows[1]["reasons"] = ["a string", "is not raw JSON"]  # plain values are still serialized
    with store.transaction() as session:
        ids = insert_rows(session, Case, rows, ids=True)
    with store.transaction() as session:
        stored = {case.id: case for case in session.scalars(select(Case))}
    assert [stored[i].inputs for i in ids] == documents
    assert stored[ids[1]].reasons == ["a string", "is not raw JSON"]
