"""The queue as the UI shows it: filtered, counted and paged in the store, never loaded whole.

Filters come from the query string and are checked against fixed choices, so a hand-edited URL
gets the defaults rather than an error page: ``status`` (``pending`` by default), ``tier``,
``reason`` (an escalation reason kind, or ``audit`` for random audit samples), ``limit`` and
``offset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from loopline.errors import ReviewError
from loopline.review import claim_case
from loopline.store import Case, utcnow

__all__ = [
    "COUNT_CAP",
    "PAGE_SIZES",
    "REASONS",
    "STATUSES",
    "QueueFilter",
    "claim_next",
    "count_bound",
    "count_cases",
    "count_label",
    "page_cases",
    "queue_row",
]

#: Status filter choices: label -> the case statuses it selects (empty: every status).
STATUSES: dict[str, tuple[str, ...]] = {
    "pending": ("open", "claimed", "second_review"),
    "open": ("open",),
    "claimed": ("claimed",),
    "second_review": ("second_review",),
    "decided": ("decided",),
    "all": (),
}

#: Reason filter choices: kind -> how the reason is written on a case (exact, or a prefix).
REASONS: dict[str, str] = {
    "low_confidence": '"low_confidence"',
    "cost_band": '"cost_band"',
    "ambiguous_set": '"ambiguous_set"',
    "out_of_range": '"out_of_range:',
    "novelty": '"novelty"',
    "rule": '"rule:',
    "audit": "",  # random audit samples carry no reason; they are flagged instead
}

#: Page size choices.
PAGE_SIZES = (25, 50, 100)
_DEFAULT_SIZE = 25
_MAX_TIER = 100
_MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class QueueFilter:
    """What part of the queue to show.

    Attributes:
        status: A key of :data:`STATUSES`.
        tier: Only cases at this escalation tier, or every tier.
        reason: A key of :data:`REASONS`, or ``None`` for every reason.
        limit: Page size, one of :data:`PAGE_SIZES`.
        offset: Cases skipped before this page.
    """

    status: str = "pending"
    tier: int | None = None
    reason: str | None = None
    limit: int = _DEFAULT_SIZE
    offset: int = 0

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> QueueFilter:
        """The filter a query string asks for; unknown or malformed values fall back."""
        status = params.get("status", "pending")
        reason = params.get("reason") or None
        tier = _integer(params.get("tier"), low=0, high=_MAX_TIER)
        limit = _integer(params.get("limit"), low=1, high=max(PAGE_SIZES))
        offset = _integer(params.get("offset"), low=0, high=_MAX_OFFSET) or 0
        return cls(
            status=status if status in STATUSES else "pending",
            tier=tier,
            reason=reason if reason in REASONS else None,
            limit=limit if limit in PAGE_SIZES else _DEFAULT_SIZE,
            offset=offset,
        )

    def query_string(self, **changes: Any) -> str:
        """This filter (with ``changes``) as a query string, leaving out defaults."""
        wanted = replace(self, **changes)
        pairs = {
            "status": wanted.status if wanted.status != "pending" else None,
            "tier": wanted.tier,
            "reason": wanted.reason,
            "limit": wanted.limit if wanted.limit != _DEFAULT_SIZE else None,
            "offset": wanted.offset or None,
        }
        return urlencode({key: value for key, value in pairs.items() if value is not None})


def _integer(raw: str | None, *, low: int, high: int) -> int | None:
    if raw is None or not raw.strip().lstrip("-").isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _filtered(query: Select[Any], use_case: str, wanted: QueueFilter) -> Select[Any]:
    query = query.where(Case.use_case == use_case)
    statuses = STATUSES[wanted.status]
    if statuses:
        query = query.where(Case.status.in_(statuses))
    if wanted.tier is not None:
        query = query.where(Case.tier == wanted.tier)
    if wanted.reason == "audit":
        query = query.where(Case.audit_sample.is_(True))
    elif wanted.reason is not None:
        # reasons are a JSON list of strings; its text holds each reason in double quotes
        query = query.where(cast(Case.reasons, Text).like(f"%{REASONS[wanted.reason]}%"))
    return query


def page_cases(session: Session, use_case: str, wanted: QueueFilter) -> Sequence[Case]:
    """One page of the queue: highest priority (expected cost) first, then earliest due."""
    query = _filtered(select(Case), use_case, wanted)
    query = query.order_by(Case.priority.desc(), Case.due_at, Case.id)
    return session.scalars(query.limit(wanted.limit).offset(wanted.offset)).all()


#: The queue counts the cases a filter selects up to this many (or to the end of the page shown,
#: if that is further): a queue of millions is not counted whole on every page view.
COUNT_CAP = 10_000


def count_bound(wanted: QueueFilter, cap: int = COUNT_CAP) -> int:
    """The most cases :func:`count_cases` counts for ``wanted``: a count above it means more."""
    return max(cap, wanted.offset + wanted.limit)


def count_cases(session: Session, use_case: str, wanted: QueueFilter, cap: int = COUNT_CAP) -> int:
    """How many cases the filter selects over every page, counted up to :func:`count_bound` and
    one more (which says there are more than the bound; a next page is still known to exist)."""
    selected = _filtered(select(Case.id), use_case, wanted)
    bounded = selected.limit(count_bound(wanted, cap) + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(bounded)) or 0)


def count_label(total: int, wanted: QueueFilter, cap: int = COUNT_CAP) -> str:
    """The count as the queue shows it: ``1,234``, or ``10,000+`` past the bound."""
    bound = count_bound(wanted, cap)
    return f"{bound:,}+" if total > bound else f"{total:,}"


def queue_row(case: Case) -> dict[str, Any]:
    """What a queue row shows of a case (read inside the session that loaded it)."""
    return {
        "id": case.uid,
        "status": case.status,
        "priority": case.priority,
        "tier": case.tier,
        "reasons": list(case.reasons),
        "audit_sample": case.audit_sample,
        "recommendation": dict(case.recommendation),
        "due_at": case.due_at,
        "claimed_by": case.claimed_by,
        "lease_expires_at": case.lease_expires_at,
        "decided_by": case.decided_by,
        "decided_at": case.decided_at,
        "created_at": case.created_at,
    }


def claim_next(
    session: Session,
    use_case: str,
    *,
    actor: str,
    exclude: str | None = None,
    now: datetime | None = None,
    batch: int = 20,
) -> Case | None:
    """Claim the highest-priority pending case ``actor`` may take, or ``None``.

    Cases whose lease someone else holds are passed over, and so is ``exclude`` (the case the
    reviewer just left, so that skipping it does not bring it straight back); a case ``actor``
    already holds counts as available (claiming it again renews the lease).
    """
    now = now or utcnow()
    query = (
        select(Case)
        .where(
            Case.use_case == use_case,
            Case.status.in_(STATUSES["pending"]),
            or_(
                Case.claimed_by.is_(None),
                Case.claimed_by == actor,
                Case.lease_expires_at.is_(None),
                Case.lease_expires_at <= now,
            ),
        )
        .order_by(Case.priority.desc(), Case.due_at, Case.id)
        .limit(batch)
    )
    if exclude is not None:
        query = query.where(Case.uid != exclude)
    offset = 0
    while True:
        found = session.scalars(query.offset(offset)).all()
        for case in found:
            try:
                return claim_case(session, case.uid, actor=actor)
            except ReviewError:  # a second review needs someone other than the first reviewer
                continue
        if len(found) < batch:
            return None
        offset += batch
