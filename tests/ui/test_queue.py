"""The queue as the UI reads it: filters checked against fixed choices, pages cut in the store."""

from __future__ import annotations

from sqlalchemy.orm import Session

from loopline.review import claim_case, open_case
from loopline.store import Case, Store
from loopline.ui._queue import QueueFilter, claim_next, count_cases, count_label, page_cases


def test_unknown_or_malformed_filters_fall_back_to_the_defaults() -> None:
    wanted = QueueFilter.from_query(
        {"status": "bogus", "tier": "-1", "reason": "' OR 1=1", "limit": "7", "offset": "x"}
    )
    assert wanted == QueueFilter()


def test_a_filter_round_trips_through_its_query_string() -> None:
    wanted = QueueFilter(status="decided", tier=2, reason="rule", limit=50, offset=100)
    query = dict(pair.split("=") for pair in wanted.query_string().split("&"))
    assert QueueFilter.from_query(query) == wanted
    assert QueueFilter().query_string() == ""
    assert wanted.query_string(offset=0) == "status=decided&tier=2&reason=rule&limit=50"


def _open(session: Session, prediction_id: str, priority: float, reasons: list[str]) -> Case:
    return open_case(
        session,
        use_case="credit-default",
        prediction_id=prediction_id,
        request_id="r1",
        model_version="credit-default@1",
        inputs={"AGE": 30},
        recommendation={"prediction": 1, "probability": 0.6, "confidence": 0.6},
        reasons=reasons,
        out_of_range=[],
        priority=priority,
        sla_hours=24,
        audit_sample=not reasons,
    )


def test_reason_filters_match_whole_reasons_on_both_stores(store: Store) -> None:
    with store.transaction() as session:
        _open(session, "p1", 30.0, ["low_confidence", "rule:LIMIT_BAL > 800000"])
        _open(session, "p2", 20.0, ["out_of_range:AGE,EDUCATION"])
        _open(session, "p3", 10.0, [])
        found = {
            reason: [c.prediction_id for c in page_cases(session, "credit-default", wanted)]
            for reason in ("low_confidence", "rule", "out_of_range", "audit", "novelty")
            for wanted in [QueueFilter(reason=reason)]
        }
        assert count_cases(session, "credit-default", QueueFilter(reason="rule")) == 1
    assert found == {
        "low_confidence": ["p1"],
        "rule": ["p1"],
        "out_of_range": ["p2"],
        "audit": ["p3"],
        "novelty": [],
    }


def test_a_page_is_cut_in_the_store_in_priority_order(store: Store) -> None:
    with store.transaction() as session:
        for index in range(7):
            _open(session, f"p{index}", float(index), ["low_confidence"])
        page = page_cases(session, "credit-default", QueueFilter(limit=25, offset=5))
        total = count_cases(session, "credit-default", QueueFilter())
    assert [c.prediction_id for c in page] == ["p1", "p0"]
    assert total == 7


def test_next_case_passes_over_held_and_just_left_cases(store: Store) -> None:
    with store.transaction() as session:
        first, second, third = (
            _open(session, f"p{i}", 30.0 - i, ["low_confidence"]) for i in range(3)
        )
        claim_case(session, first.uid, actor="rob")
        found = claim_next(session, "credit-default", actor="rita", exclude=second.uid)
        assert found is third
        assert claim_next(session, "credit-default", actor="rita") is second


def test_a_long_queue_is_counted_to_a_bound_and_says_so(store: Store) -> None:
    with store.transaction() as session:
        for index in range(30):
            _open(session, f"p{index}", float(index), ["low_confidence"])
        first = QueueFilter(limit=25)
        last = QueueFilter(limit=25, offset=25)
        # bound: max(cap, the page's end) = 25 on the first page, so 26 means "more"
        assert count_cases(session, "credit-default", first, cap=10) == 26
        assert count_cases(session, "credit-default", last, cap=10) == 30
        assert count_cases(session, "credit-default", first) == 30  # under the default cap
    assert count_label(26, first, cap=10) == "25+"
    assert count_label(30, last, cap=10) == "30"
    assert count_label(12_345, QueueFilter()) == "10,000+"
    assert count_label(1_234, QueueFilter()) == "1,234"
