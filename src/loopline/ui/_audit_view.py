"""The audit page's data: the audit trail, filtered and paginated in the store.

:func:`loopline.store.list_audit` filters by action prefix, actor, target and a start time; the
page also filters by target type, use case and an end time and pages with an offset, so it has
its own query here (one ``SELECT … LIMIT n+1 OFFSET k`` on the indexed, append-only table: a page
costs the same on a trail of millions of events). Before/after documents are shown compactly:
the keys that changed, with the full JSON a click away.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loopline.store import AuditEvent

__all__ = ["PAGE_SIZES", "AuditFilter", "audit_context", "audit_row", "compact", "page_events"]

#: Page sizes offered; the first is the default.
PAGE_SIZES = (50, 100, 200)

#: Characters of a before/after document shown inline.
SHORT = 160


def _moment(text: str) -> datetime | None:
    """A date or date-time from a form field (UTC when no zone is given), or ``None``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditFilter:
    """What the visitor asked for; bad values fall back to "no filter" rather than an error."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    use_case: str = ""
    target: str = ""
    since: str = ""
    until: str = ""
    page: int = 1
    size: int = PAGE_SIZES[0]

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> AuditFilter:
        """Read the filter from a query string (text fields trimmed and capped at 200)."""
        text = {
            f.name: params.get(f.name, "").strip()[:200]
            for f in fields(cls)
            if f.name not in ("page", "size")
        }
        page = params.get("page", "1")
        size = params.get("size", "")
        return cls(
            **text,
            page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
            size=int(size) if size.isdigit() and int(size) in PAGE_SIZES else PAGE_SIZES[0],
        )

    @property
    def start(self) -> datetime | None:
        return _moment(self.since) if self.since else None

    @property
    def end(self) -> datetime | None:
        """The end of the range; a bare date means the end of that day."""
        if not self.until:
            return None
        moment = _moment(self.until)
        if moment is not None and len(self.until.strip()) == 10:  # YYYY-MM-DD: the whole day
            moment = moment.replace(hour=23, minute=59, second=59, microsecond=999_999)
        return moment

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with ``changes`` applied (for pager links)."""
        from urllib.parse import urlencode

        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        defaults = {"page": 1, "size": PAGE_SIZES[0]}
        return urlencode({k: v for k, v in values.items() if v and v != defaults.get(k, "")})


def _select(wanted: AuditFilter) -> Select[Any]:
    query = select(AuditEvent)
    if wanted.actor:
        query = query.where(AuditEvent.actor == wanted.actor)
    if wanted.action:
        query = query.where(AuditEvent.action.startswith(wanted.action, autoescape=True))
    if wanted.target_type:
        query = query.where(AuditEvent.target_type == wanted.target_type)
    if wanted.use_case:
        query = query.where(AuditEvent.use_case == wanted.use_case)
    if wanted.target:
        query = query.where(AuditEvent.target == wanted.target)
    if wanted.start is not None:
        query = query.where(AuditEvent.at >= wanted.start)
    if wanted.end is not None:
        query = query.where(AuditEvent.at <= wanted.end)
    return query


def page_events(session: Session, wanted: AuditFilter) -> tuple[list[AuditEvent], bool]:
    """One page of matching events, newest first, and whether another page follows."""
    rows = session.scalars(
        _select(wanted)
        .order_by(AuditEvent.id.desc())
        .limit(wanted.size + 1)
        .offset((wanted.page - 1) * wanted.size)
    ).all()
    return list(rows[: wanted.size]), len(rows) > wanted.size


def compact(document: Any, limit: int = SHORT) -> str:
    """A JSON value on one line (sorted keys, no spaces), cut at ``limit`` characters."""
    if document is None:
        return ""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """``key: old → new`` for the top-level keys whose value differs (short values only)."""
    if not before or not after:
        return []
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            out.append(f"{key}: {compact(old, 60) or 'null'} → {compact(new, 60) or 'null'}")
    return out


def audit_row(event: AuditEvent) -> dict[str, Any]:
    """One event for the page: who, what, on what, why, and the documents compact and full."""
    return {
        "id": event.id,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target": event.target,
        "use_case": event.use_case,
        "reason": event.reason,
        "before": compact(event.before),
        "after": compact(event.after),
        "changes": _changes(event.before, event.after),
        "full": json.dumps(
            {"before": event.before, "after": event.after}, indent=2, sort_keys=True, default=str
        )
        if event.before is not None or event.after is not None
        else "",
    }


def _choices(session: Session, column: Any) -> list[str]:
    return [str(v) for v in session.scalars(select(column).distinct().order_by(column)) if v]


def audit_context(session: Session, wanted: AuditFilter) -> dict[str, Any]:
    """What ``audit.html`` shows: the page of events, the filter and the choices for it."""
    events, more = page_events(session, wanted)
    return {
        "events": [audit_row(e) for e in events],
        "wanted": wanted,
        "has_next": more,
        "first": (wanted.page - 1) * wanted.size + 1 if events else 0,
        "last": (wanted.page - 1) * wanted.size + len(events),
        "page_sizes": PAGE_SIZES,
        "actions": _choices(session, AuditEvent.action),
        "target_types": _choices(session, AuditEvent.target_type),
        "use_cases": _choices(session, AuditEvent.use_case),
        "bad_range": bool(
            (wanted.since and wanted.start is None) or (wanted.until and wanted.end is None)
        ),
    }
