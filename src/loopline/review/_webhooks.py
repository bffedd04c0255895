"""Signed, retried webhooks: callers learn the final decision on an escalated prediction.

When ``serving.escalation.webhook_url`` is set, every final decision is POSTed there as JSON::

    {"event": "case.decided", "case_id": ..., "prediction_id": ..., "request_id": ...,
     "decision": {"action": ..., "label": ..., "by": ..., "at": ...}}

with the header ``X-Loopline-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body under
the secret in ``LOOPLINE_WEBHOOK_SECRET`` (receivers recompute it and compare in constant time).
Delivery runs in a background thread after the decision is committed, and is retried with
exponential backoff (1 s, 2 s, 4 s …) on network errors and 5xx answers; callers can always poll
``GET /api/v1/cases/{id}`` as well.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["SIGNATURE_HEADER", "decision_event", "deliver", "notify_decision", "sign"]

SIGNATURE_HEADER = "X-Loopline-Signature"
_LOG = logging.getLogger("loopline.review")


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def decision_event(case: dict[str, Any]) -> dict[str, Any]:
    """The webhook payload for a decided case (from ``case_dict``)."""
    decision = case.get("decision") or {}
    return {
        "event": "case.decided",
        "case_id": case["id"],
        "use_case": case["use_case"],
        "prediction_id": case["prediction_id"],
        "request_id": case["request_id"],
        "decision": {k: decision.get(k) for k in ("action", "label", "by", "at", "comment")},
    }


def deliver(
    url: str,
    event: dict[str, Any],
    *,
    secret: str | None,
    attempts: int = 4,
    backoff: float = 1.0,
    timeout: float = 5.0,
) -> bool:
    """POST ``event`` to ``url`` until it is accepted (2xx) or ``attempts`` run out."""
    body = json.dumps(event, default=str, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "loopline-webhook"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                if 200 <= response.status < 300:
                    return True
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500:
                _LOG.warning("webhook %s refused the event with %s; not retrying", url, exc.code)
                return False
        except (urllib.error.URLError, OSError):
            pass
        if attempt + 1 < attempts:
            time.sleep(backoff * 2**attempt)
    _LOG.warning("webhook %s could not be reached after %d attempts", url, attempts)
    return False


def notify_decision(
    url: str | None, case: dict[str, Any], *, secret: str | None
) -> threading.Thread | None:
    """Deliver the decision of ``case`` in a background thread (``None`` without a URL)."""
    if not url or case.get("status") != "decided":
        return None
    thread = threading.Thread(
        target=deliver,
        args=(url, decision_event(case)),
        kwargs={"secret": secret},
        daemon=True,
        name="loopline-webhook",
    )
    thread.start()
    return thread
