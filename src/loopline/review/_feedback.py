"""Feedback: the true outcome of a prediction, posted any time after it, by prediction id.

Posting the same label twice for a prediction is a no-op (``duplicate``); a different label for
the same prediction from the same source is refused (409) rather than silently overwriting the
first. Labels from reviewers (``review``), audit samples (``audit``) and late ground truth
(``label``) are kept apart, so audit labels stay an unbiased sample.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.errors import ReviewError
from loopline.store import Feedback, record_audit

__all__ = ["SOURCES", "record_feedback"]

SOURCES = ("label", "review", "audit", "outcome")


def record_feedback(
    session: Session,
    *,
    use_case: str,
    prediction_id: str,
    label: Any,
    actor: str,
    source: str = "label",
) -> tuple[Feedback, str]:
    """Store one label; returns the row and ``created`` or ``duplicate``.

    Raises:
        ReviewError: Unknown source (400) or a conflicting label already recorded (409).
    """
    if source not in SOURCES:
        raise ReviewError(
            f"Unknown feedback source {source!r}.",
            status=400,
            hint=f"Use one of: {', '.join(SOURCES)}.",
        )
    existing = session.scalar(
        select(Feedback).where(Feedback.prediction_id == prediction_id, Feedback.source == source)
    )
    if existing is not None:
        if existing.label.get("value") == label:
            return existing, "duplicate"
        raise ReviewError(
            f"Prediction {prediction_id} already has {source} feedback "
            f"{existing.label.get('value')!r}; refusing to overwrite it with {label!r}.",
            status=409,
            hint="Feedback is append-only; post a correction under another source.",
        )
    row = Feedback(
        use_case=use_case,
        prediction_id=prediction_id,
        source=source,
        label={"value": label},
        actor=actor,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="feedback.record",
        target_type="prediction",
        target=prediction_id,
        use_case=use_case,
        after={"label": label, "source": source},
    )
    return row, "created"
