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
