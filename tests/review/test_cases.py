"""Cases on both stores: leases, decisions, escalation, double review, SLA breaches, feedback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loopline.errors import ReviewError
from loopline.review import (
    claim_case,
    decide_case,
    escalate_overdue,
    get_case,
    list_cases,
    open_case,
    record_feedback,
)
from loopline.store import Case, Feedback, Store, utcnow


def _open(session, prediction_id: str = "p1", priority: float = 10.0, **extra):  # type: ignore[no-untyped-def]
    return open_case(
        session,
        use_case="credit-default",
        prediction_id=prediction_id,
        request_id="r1",
        model_version="credit-default@1",
        inputs={"AGE": 30},
        recommendation={"prediction": 1, "probability": 0.6, "confidence": 0.6},
        reasons=["low_confidence"],
        out_of_range=[],
        priority=priority,
        sla_hours=24,
        **extra,
    )


def test_queue_is_ordered_by_priority(store: Store) -> None:
    with store.transaction() as session:
        for i, priority in enumerate([5.0, 50.0, 20.0]):
            _open(session, f"p{i}", priority)
    with store.transaction() as session:
        assert [c.priority for c in list_cases(session, status="open")] == [50.0, 20.0, 5.0]


def test_a_held_lease_keeps_a_second_reviewer_out(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
    with store.transaction() as session:
        claim_case(session, uid, actor="ana")
    with (
        pytest.raises(ReviewError, match="claimed by ana") as caught,
        store.transaction() as session,
    ):
        claim_case(session, uid, actor="bob")
    assert caught.value.status == 409
    with pytest.raises(ReviewError, match="not claimed"), store.transaction() as session:
        decide_case(session, uid, actor="bob", action="accept")


def test_expired_lease_can_be_claimed_again_and_not_used(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
        claim_case(session, uid, actor="ana", lease=timedelta(seconds=-1))
    with pytest.raises(ReviewError, match="lease expired"), store.transaction() as session:
        decide_case(session, uid, actor="ana", action="accept")
    with store.transaction() as session:
        assert claim_case(session, uid, actor="bob").claimed_by == "bob"


def test_override_becomes_feedback_and_cannot_be_decided_twice(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
        claim_case(session, uid, actor="ana")
        decide_case(
            session,
            uid,
            actor="ana",
            action="override",
            label="0",
            comment="paid late",
            classes=[0, 1],
        )
    with store.transaction() as session:
        [feedback] = session.scalars(select(Feedback)).all()
        assert (feedback.label, feedback.source, feedback.actor) == ({"value": 0}, "review", "ana")
        assert get_case(session, uid).status == "decided"
    with pytest.raises(ReviewError, match="already decided"), store.transaction() as session:
        decide_case(session, uid, actor="ana", action="accept")


def test_unknown_label_and_action_are_refused(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
        claim_case(session, uid, actor="ana")
    with pytest.raises(ReviewError, match="Unknown label"), store.transaction() as session:
        decide_case(session, uid, actor="ana", action="override", label="maybe", classes=[0, 1])
    with pytest.raises(ReviewError, match="Unknown action"), store.transaction() as session:
        decide_case(session, uid, actor="ana", action="approve")


def test_escalate_moves_up_a_tier_and_back_to_the_queue(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
        claim_case(session, uid, actor="ana")
        decide_case(session, uid, actor="ana", action="escalate", comment="needs a senior")
    with store.transaction() as session:
        case = get_case(session, uid)
        assert (case.tier, case.status, case.claimed_by) == (1, "open", None)


def test_double_review_needs_a_second_person(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session, double_review=True).uid
        claim_case(session, uid, actor="ana")
        decide_case(session, uid, actor="ana", action="accept", classes=[0, 1])
    with pytest.raises(ReviewError, match="second reviewer"), store.transaction() as session:
        claim_case(session, uid, actor="ana")
    with store.transaction() as session:
        claim_case(session, uid, actor="bob")
        case = decide_case(session, uid, actor="bob", action="override", label=0, classes=[0, 1])
        assert case.status == "decided"
        assert case.decision is not None
        assert (case.decision["first"]["label"], case.decision["label"]) == (1, 0)


def test_sla_breach_moves_the_case_up_a_tier(store: Store) -> None:
    with store.transaction() as session:
        uid = _open(session).uid
    with store.transaction() as session:
        breached = escalate_overdue(session, now=utcnow() + timedelta(hours=25))
        assert [c.uid for c in breached] == [uid]
        assert get_case(session, uid).tier == 1


def test_feedback_is_idempotent_and_refuses_conflicts(store: Store) -> None:
    with store.transaction() as session:
        _, first = record_feedback(session, use_case="u", prediction_id="p9", label=1, actor="a")
        _, again = record_feedback(session, use_case="u", prediction_id="p9", label=1, actor="a")
        assert (first, again) == ("created", "duplicate")
    with pytest.raises(ReviewError, match="refusing to overwrite"), store.transaction() as session:
        record_feedback(session, use_case="u", prediction_id="p9", label=0, actor="a")
    with store.transaction() as session:
        assert len(session.scalars(select(Feedback)).all()) == 1


def test_cases_opened_together_equal_cases_opened_one_by_one(store: Store) -> None:
    from loopline.review import case_history, open_cases
    from loopline.store import Case, CaseEvent

    specs = [
        {
            "use_case": "credit-default",
            "prediction_id": f"{kind}-{index}",
            "request_id": "r1",
            "model_version": "credit-default@1",
            "inputs": {"AGE": 30 + index, "NAME": "Zoë", "RATE": 0.1 * index},
            "recommendation": {"prediction": index % 2, "probability": 0.3 + index / 10},
            "reasons": [] if index == 3 else ["low_confidence", "novelty"][: 1 + index % 2],
            "out_of_range": ["AGE"] if index == 1 else [],
            "priority": 1.25 * index,
            "sla_hours": 24 if index % 2 else 4,
            "audit_sample": index == 3,
            "sampling_probability": 0.05 if index == 3 else 1.0,
            "double_review": index == 2,
        }
        for kind in ("single", "bulk")
        for index in range(5)
    ]
    with store.transaction() as session:
        for spec in specs[:5]:
            open_case(session, **spec)
        open_cases(session, specs[5:])
    with store.transaction() as session:
        cases = {case.prediction_id: case for case in session.scalars(select(Case))}
        assert session.scalars(select(CaseEvent)).all() == []  # the opening is the row itself
        compared = [
            "inputs",
            "recommendation",
            "reasons",
            "out_of_range",
            "priority",
            "tier",
            "status",
            "audit_sample",
            "sampling_probability",
            "double_review",
        ]
        for index in range(5):
            single, bulk = cases[f"single-{index}"], cases[f"bulk-{index}"]
            assert [getattr(bulk, name) for name in compared] == [
                getattr(single, name) for name in compared
            ]
            assert bulk.due_at - bulk.created_at == single.due_at - single.created_at
            (one,), (many,) = case_history(session, single), case_history(session, bulk)
            assert (many.actor, many.action, many.detail, many.at) == (
                one.actor,
                one.action,
                {"reasons": bulk.reasons, "audit_sample": index == 3},
                bulk.created_at,
            )
            assert one.detail == many.detail


def test_a_case_history_starts_with_its_opening(store: Store) -> None:
    from loopline.review import case_history, open_case
    from loopline.store import CaseEvent

    with store.transaction() as session:
        case = open_case(
            session,
            use_case="u",
            prediction_id="p-1",
            request_id="r",
            model_version="u@1",
            inputs={"a": 1},
            recommendation={"prediction": 1},
            reasons=["low_confidence"],
            out_of_range=[],
            priority=2.0,
            sla_hours=4,
        )
        case_id = case.uid
    with store.transaction() as session:
        claim_case(session, case_id, actor="ann")
    with store.transaction() as session:
        case = get_case(session, case_id)
        # an older loopline stored the opening as an event: it is read once, not twice
        session.add(
            CaseEvent(
                case_id=case.id,
                actor="system",
                action="open",
                detail={"reasons": ["low_confidence"], "audit_sample": False},
                at=case.created_at,
            )
        )
    with store.transaction() as session:
        case = get_case(session, case_id)
        history = case_history(session, case)
        assert [(e.action, e.actor) for e in history] == [("open", "system"), ("claim", "ann")]
        assert history[0].at == case.created_at
        assert history[0].detail == {"reasons": ["low_confidence"], "audit_sample": False}
        assert history[1].at >= history[0].at


def test_cases_as_columns_need_every_required_column(store: Store) -> None:
    from loopline.review import open_case_columns

    with pytest.raises(ValueError, match="recommendation"), store.transaction() as session:
        open_case_columns(session, {"use_case": ["u"], "prediction_id": ["p"]})
    with store.transaction() as session:
        open_case_columns(session, {"use_case": []})  # nothing to open
        assert session.scalars(select(Case)).all() == []
