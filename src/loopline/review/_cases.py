"""Cases: escalated predictions that people claim, decide, escalate or skip.

A case is claimed with a lease (15 minutes by default): while the lease holds, nobody else can
claim or decide it; when it expires, anyone may claim it again. Deciding needs the lease.
Actions:

- ``accept``: the model's recommendation is right; it becomes the label.
- ``override``: the person's ``label`` (one of the model's classes) replaces it.
- ``escalate``: up one tier, back to the queue, lease released.
- ``skip``: back to the queue for someone else, lease released.

Decisions (accept, override) become feedback (``source = review``, or ``audit`` for audit
samples). A declared share of cases is double-reviewed: after the first decision the case waits
for a second reviewer, and both decisions are kept for the agreement statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline._ids import dashed, uuid7, uuid7_hex
from loopline.errors import ReviewError
from loopline.store import (
    Case,
    CaseEvent,
    Feedback,
    insert_columns,
    record_audit,
    utcnow,
)

__all__ = [
    "ACTIONS",
    "LEASE",
    "case_columns",
    "case_dict",
    "case_history",
    "claim_case",
    "decide_case",
    "escalate_overdue",
    "get_case",
    "list_cases",
    "open_case",
    "open_case_columns",
    "open_cases",
]

ACTIONS = ("accept", "override", "escalate", "skip")
LEASE = timedelta(minutes=15)


def open_case(
    session: Session,
    *,
    use_case: str,
    prediction_id: str,
    request_id: str,
    model_version: str,
    inputs: dict[str, Any],
    recommendation: dict[str, Any],
    reasons: list[str],
    out_of_range: list[str],
    priority: float | None,
    sla_hours: float,
    audit_sample: bool = False,
    sampling_probability: float | None = None,
    double_review: bool = False,
    uid: str | None = None,
) -> Case:
    """Open a case for an escalated (or audit-sampled) prediction."""
    now = utcnow()
    case = Case(
        uid=uid or uuid7(),
        use_case=use_case,
        prediction_id=prediction_id,
        request_id=request_id,
        model_version=model_version,
        inputs=inputs,
        recommendation=recommendation,
        reasons=reasons,
        out_of_range=out_of_range,
        priority=priority or 0.0,
        tier=0,
        status="open",
        audit_sample=audit_sample,
        sampling_probability=sampling_probability,
        double_review=double_review,
        due_at=now + timedelta(hours=sla_hours),
        created_at=now,
    )
    session.add(case)
    session.flush()
    return case


#: What a case is opened with, beside its ``uid`` (made when missing): the keys of
#: :func:`open_case`'s arguments. The optional ones and their defaults.
_OPTIONAL = {"priority": 0.0, "audit_sample": False, "sampling_probability": None}
_REQUIRED = (
    "use_case",
    "prediction_id",
    "request_id",
    "model_version",
    "inputs",
    "recommendation",
    "reasons",
    "out_of_range",
    "sla_hours",
)


def case_columns(cases: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Cases given as dicts (the keyword arguments of :func:`open_case`, and optionally
    ``uid``) as the columns :func:`open_case_columns` takes."""
    columns: dict[str, list[Any]] = {name: [case[name] for case in cases] for name in _REQUIRED}
    for name, default in _OPTIONAL.items():
        columns[name] = [case.get(name, default) for case in cases]
    columns["double_review"] = [case.get("double_review", False) for case in cases]
    columns["uid"] = [case.get("uid") for case in cases]
    return columns


def open_cases(session: Session, cases: Sequence[dict[str, Any]]) -> None:
    """Open many cases given as dicts (see :func:`case_columns`) together."""
    if cases:
        open_case_columns(session, case_columns(cases))


def open_case_columns(session: Session, columns: Mapping[str, Sequence[Any]]) -> None:
    """Open many cases given as columns, with one statement (the serving path opens a
    request's cases together), inserted column by column.

    ``columns`` maps :func:`open_case`'s argument names (the required ones, any of
    ``priority``, ``audit_sample``, ``sampling_probability``, ``double_review``, and ``uid``)
    to one value per case. A case whose ``uid`` is missing or empty gets a time-ordered one.
    """
    count = len(next(iter(columns.values()), ()))
    if count == 0:
        return
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise ValueError(f"cases without {missing}: every case needs {list(_REQUIRED)}")
    now = utcnow()
    sla = columns["sla_hours"]
    due = {hours: now + timedelta(hours=hours) for hours in set(sla)}
    uids = list(columns.get("uid") or [None] * count)
    if not all(uids):
        fresh = iter(uuid7_hex(sum(1 for uid in uids if not uid)))
        uids = [uid or dashed(next(fresh)) for uid in uids]
    priority = columns.get("priority")
    values: dict[str, Sequence[Any]] = {
        "uid": uids,
        **{name: columns[name] for name in _REQUIRED if name != "sla_hours"},
        "priority": [0.0] * count if priority is None else [p or 0.0 for p in priority],
        "tier": [0] * count,
        "status": ["open"] * count,
        "audit_sample": columns.get("audit_sample") or [False] * count,
        "sampling_probability": columns.get("sampling_probability") or [None] * count,
        "double_review": columns.get("double_review") or [False] * count,
        "due_at": [due[hours] for hours in sla],
        "created_at": [now] * count,
    }
    insert_columns(session, Case, values)


def get_case(session: Session, uid: str, *, lock: bool = False) -> Case:
    """The case with id ``uid`` (``lock``: row-locked until the transaction ends).

    Raises:
        ReviewError: No such case (404).
    """
    query = select(Case).where(Case.uid == uid)
    case = session.scalar(query.with_for_update() if lock else query)
    if case is None:
        raise ReviewError(
            f"No case {uid!r}.", status=404, hint="List cases with GET /api/v1/cases."
        )
    return case


def list_cases(
    session: Session,
    *,
    use_case: str | None = None,
    status: str | None = None,
    tier: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Case]:
    """Cases by priority (highest expected cost first), then by due time."""
    query = select(Case).order_by(Case.priority.desc(), Case.due_at, Case.id)
    if use_case:
        query = query.where(Case.use_case == use_case)
    if status:
        query = query.where(Case.status.in_(status.split(",")))
    if tier is not None:
        query = query.where(Case.tier == tier)
    return session.scalars(query.limit(limit).offset(offset)).all()


def _lease_held(case: Case, now: datetime) -> bool:
    return (
        case.claimed_by is not None
        and case.lease_expires_at is not None
        and case.lease_expires_at > now
    )


def claim_case(session: Session, uid: str, *, actor: str, lease: timedelta = LEASE) -> Case:
    """Claim a case for ``lease``; refused (409) while someone else's lease holds."""
    case = get_case(session, uid, lock=True)  # two reviewers racing: one waits, then sees the lease
    now = utcnow()
    if case.status == "decided":
        raise ReviewError(f"Case {uid} is already decided.", status=409)
    if _lease_held(case, now) and case.claimed_by != actor:
        raise ReviewError(
            f"Case {uid} is claimed by {case.claimed_by} until "
            f"{case.lease_expires_at:%H:%M:%S} UTC.",
            status=409,
            hint="Pick another case; the lease expires if they do not decide.",
        )
    if case.status == "second_review" and (case.decision or {}).get("by") == actor:
        raise ReviewError(f"Case {uid} needs a second reviewer other than {actor}.", status=409)
    case.claimed_by = actor
    case.lease_expires_at = now + lease
    if case.status == "open":
        case.status = "claimed"
    session.add(
        CaseEvent(
            case_id=case.id,
            actor=actor,
            action="claim",
            detail={"lease_expires_at": case.lease_expires_at.isoformat()},
            at=now,
        )
    )
    return case


def decide_case(
    session: Session,
    uid: str,
    *,
    actor: str,
    action: str,
    label: Any = None,
    comment: str | None = None,
    classes: Sequence[Any] = (),
) -> Case:
    """Record a person's decision on a case they hold the lease of.

    Raises:
        ReviewError: Unknown action or label (400), no lease or an expired one, or an already
            decided case (409).
    """
    if action not in ACTIONS:
        raise ReviewError(
            f"Unknown action {action!r}.", status=400, hint=f"Use one of: {', '.join(ACTIONS)}."
        )
    case = get_case(session, uid, lock=True)
    now = utcnow()
    if case.status == "decided":
        raise ReviewError(f"Case {uid} was already decided by {case.decided_by}.", status=409)
    if case.claimed_by != actor or not _lease_held(case, now):
        why = "its lease expired" if case.claimed_by == actor else "you have not claimed it"
        raise ReviewError(
            f"Cannot decide case {uid}: {why}.",
            status=409,
            hint="Claim it first: POST /api/v1/cases/{id}/claim.",
        )
    case.claimed_by, case.lease_expires_at = None, None
    if action in ("escalate", "skip"):
        if action == "escalate":
            case.tier += 1
        case.status = "open" if case.status != "second_review" else "second_review"
        session.add(
            CaseEvent(
                case_id=case.id,
                actor=actor,
                action=action,
                detail={"comment": comment, "tier": case.tier},
                at=now,
            )
        )
        return case
    recommended = case.recommendation.get("prediction")
    if action == "accept":
        label = recommended
    elif label is None:
        raise ReviewError(
            "An override needs a label.", status=400, hint=f"Send one of: {list(classes)}."
        )
    if classes and label not in classes:
        coerced = next((c for c in classes if str(c) == str(label)), None)
        if coerced is None:
            raise ReviewError(
                f"Unknown label {label!r}.",
                status=400,
                hint=f"The model's classes are: {', '.join(map(str, classes))}.",
            )
        label = coerced
    if hasattr(label, "item"):  # a numpy scalar from the model's classes
        label = label.item()
    decision = {
        "action": action,
        "label": label,
        "comment": comment,
        "by": actor,
        "at": now.isoformat(),
    }
    session.add(CaseEvent(case_id=case.id, actor=actor, action="decide", detail=decision, at=now))
    if case.double_review and case.status != "second_review":
        case.status = "second_review"
        case.decision = {**decision, "first": decision}
        return case
    first = (case.decision or {}).get("first")
    case.decision = {**decision, "first": first} if first else decision
    case.status, case.decided_by, case.decided_at = "decided", actor, now
    _feedback(session, case, label, actor)
    record_audit(
        session,
        actor=actor,
        action="case.decide",
        target_type="case",
        target=case.uid,
        use_case=case.use_case,
        after={"action": action, "label": label},
        reason=comment,
    )
    return case


def _feedback(session: Session, case: Case, label: Any, actor: str) -> None:
    source = "audit" if case.audit_sample else "review"
    existing = session.scalar(
        select(Feedback).where(
            Feedback.prediction_id == case.prediction_id, Feedback.source == source
        )
    )
    if existing is None:
        session.add(
            Feedback(
                use_case=case.use_case,
                prediction_id=case.prediction_id,
                source=source,
                label={"value": label},
                case_id=case.id,
                actor=actor,
            )
        )


def escalate_overdue(session: Session, *, now: datetime | None = None) -> list[Case]:
    """Move every undecided case past its SLA up one tier, with a new due time and an event."""
    now = now or utcnow()
    overdue = session.scalars(
        select(Case).where(Case.status.in_(("open", "claimed", "second_review")), Case.due_at < now)
    ).all()
    for case in overdue:
        case.tier += 1
        window = case.due_at - case.created_at
        case.due_at = now + window
        session.add(
            CaseEvent(
                case_id=case.id,
                actor="system:sla",
                action="sla_breach",
                detail={"tier": case.tier},
                at=now,
            )
        )
        record_audit(
            session,
            actor="system:sla",
            action="case.sla_breach",
            target_type="case",
            target=case.uid,
            use_case=case.use_case,
            after={"tier": case.tier},
        )
    return list(overdue)


def case_history(session: Session, case: Case) -> list[CaseEvent]:
    """What happened to ``case``, oldest first: its opening, then every stored event.

    The opening is not stored as an event: the case row holds all it says (when, the reasons,
    whether it is an audit sample; none of them ever changes), and serving opens hundreds of
    cases per request, for which an event row each was a quarter of the commit. It is made
    here from the row; an ``open`` event stored by an older loopline is the same and skipped.
    """
    stored = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    opening = CaseEvent(
        case_id=case.id,
        actor="system",
        action="open",
        detail={"reasons": case.reasons, "audit_sample": case.audit_sample},
        at=case.created_at,
    )
    return [opening, *(event for event in stored if event.action != "open")]


def case_dict(case: Case, events: Sequence[CaseEvent] = ()) -> dict[str, Any]:
    """A JSON-ready case for the API, CLI and UI."""
    return {
        "id": case.uid,
        "use_case": case.use_case,
        "prediction_id": case.prediction_id,
        "request_id": case.request_id,
        "model_version": case.model_version,
        "status": case.status,
        "priority": case.priority,
        "tier": case.tier,
        "reasons": case.reasons,
        "out_of_range": case.out_of_range,
        "recommendation": case.recommendation,
        "inputs": case.inputs,
        "audit_sample": case.audit_sample,
        "sampling_probability": case.sampling_probability,
        "due_at": case.due_at,
        "claimed_by": case.claimed_by,
        "lease_expires_at": case.lease_expires_at,
        "decision": case.decision,
        "decided_by": case.decided_by,
        "decided_at": case.decided_at,
        "created_at": case.created_at,
        "history": [
            {"at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail} for e in events
        ],
    }
