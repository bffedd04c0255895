"""The audit trail: one function every state-changing operation calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.store._tables import AuditEvent, utcnow

__all__ = ["list_audit", "record_audit"]


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target: str,
    use_case: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction.

    Because it shares the transaction of the change it records, the event exists if and only if
    the change was committed.

    Args:
        session: The transaction the change is made in.
        actor: Who acted (a user name, a token's owner, ``system:worker``).
        action: What they did, as ``noun.verb`` (``dataset.ingest``, ``model.promote``).
        target_type: The kind of thing acted on (``dataset_version``, ``model_version``…).
        target: Its identifier (``credit@3``).
        use_case: The use case it belongs to, when there is one.
        before: The relevant state before the change.
        after: The relevant state after the change.
        reason: Why, in the actor's words.
    """
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        target_type=target_type,
        target=target,
        use_case=use_case,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    session.flush()
    return event


def list_audit(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Audit events, newest first, filtered by any of action prefix, actor, target and time."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if target:
        query = query.where(AuditEvent.target == target)
    if since:
        query = query.where(AuditEvent.at >= since)
    return session.scalars(query).all()
