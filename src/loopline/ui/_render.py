"""HTML rendering: the Jinja2 environment (autoescaped), display filters and response headers."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

__all__ = ["STATIC_DIR", "Renderer"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Every page: no inline script or style, no framing, forms post to this origin only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.{digits}f}%"


def _utc(moment: datetime | None, form: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if moment is None else moment.strftime(form) + " UTC"


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


def _relative(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    delta = moment - now
    return f"in {_span(delta)}" if delta.total_seconds() >= 0 else f"{_span(delta)} ago"


def _sla(moment: datetime, now: datetime) -> str:
    delta = moment - now
    return f"due in {_span(delta)}" if delta.total_seconds() >= 0 else f"overdue by {_span(delta)}"


def _value(value: Any) -> str:
    """An input value for people: thousands separators, a few significant digits."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _signed(effect: float, kind: str) -> str:
    if kind == "probability":
        return f"{effect * 100:+.1f} pp"
    return f"{effect:+,.4g}"


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


_REASONS = {
    "low_confidence": (
        "Low confidence",
        "The model's confidence is below the escalation threshold.",
    ),
    "cost_band": (
        "Cost band",
        "Here a review costs less than the expected cost of either automatic decision.",
    ),
    "ambiguous_set": (
        "Ambiguous",
        "The conformal prediction set holds more than one class.",
    ),
    "out_of_range": ("Out of range", "Inputs outside the contract's expected range or set:"),
    "novelty": ("Unusual input", "The input looks unlike the data the model was trained on."),
    "rule": ("Business rule", "A business rule of the project fired:"),
    "audit": (
        "Audit sample",
        "Decided automatically and sampled at random: an unbiased check of automatic decisions.",
    ),
}

_STATUSES = {
    "pending": "Pending",
    "open": "Open",
    "claimed": "Claimed",
    "second_review": "Second review",
    "decided": "Decided",
    "all": "All",
}

_EVENTS = {
    "open": "opened the case",
    "claim": "claimed it",
    "decide": "decided",
    "skip": "skipped it",
    "escalate": "escalated it",
    "sla_breach": "SLA breached: escalated",
}


def _reason(reason: str) -> dict[str, str]:
    """A reason as ``{kind, label, text, detail}`` for people."""
    kind, _, detail = reason.partition(":")
    label, text = _REASONS.get(kind, (kind.replace("_", " ").capitalize(), ""))
    if kind == "out_of_range":
        detail = detail.replace(",", ", ")
    return {"kind": kind, "label": label, "text": text, "detail": detail}


def _hours(value: float | None) -> str:
    """A duration given in hours, in the unit that reads best."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:,.1f} h"


def _asset_version(directory: Path) -> str:
    """A short hash of the static files, so browsers fetch them again after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


class Renderer:
    """Renders the UI's templates into responses carrying the security headers."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("loopline.ui", "templates"),
            autoescape=True,  # every template, whatever its name: values are always escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            percent=_percent,
            utc=_utc,
            relative=_relative,
            sla=_sla,
            value=_value,
            signed=_signed,
            number=_number,
            hours=_hours,
            reason=_reason,
            status=lambda status: _STATUSES.get(status, status),
            event=lambda action: _EVENTS.get(action, action),
        )
        self.env.globals["asset_version"] = _asset_version(STATIC_DIR)

    def page(self, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
        """``template`` rendered with ``context``, as an HTML response with ``status``."""
        html = self.env.get_template(template).render(context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
