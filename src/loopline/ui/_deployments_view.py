"""The deployments page's data: what serves now, canary progress, shadow agreement, history.

Canary progress and shadow agreement come from the prediction log, scanned lazily with polars:
only the days since the current revision began are opened, only the few columns needed are
read, and only counts come back, so the page stays fast with millions of logged answers. The
actions run the same operations as the CLI (:func:`loopline._api_serving.rollback_use_case`,
:func:`loopline._api_serving.deploy_model`) with the signed-in user recorded as the actor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import func, select

from loopline._api_serving import deploy_model, rollback_use_case
from loopline._workspace import Workspace
from loopline.errors import RegistryError
from loopline.serving import current_deployment
from loopline.store import Deployment

__all__ = [
    "HISTORY_SIZE",
    "MAX_REASON",
    "acting_as",
    "canary_progress",
    "deployment_page",
    "promote_arm",
    "required_reason",
    "roll_back",
    "shadow_agreement",
]

HISTORY_SIZE = 20
MAX_REASON = 2000


def acting_as(ws: Workspace, actor: str) -> Workspace:
    """``ws`` with ``actor`` recorded in the audit trail, sharing its opened store and objects.

    Do not close the result: the store belongs to ``ws``.
    """
    acting = Workspace(replace(ws.settings, actor=actor))
    # cached properties read the instance dictionary first: share what ws already opened
    acting.__dict__.update(project=ws.project, store=ws.store, objects=ws.objects)
    return acting


def required_reason(text: str | None) -> str:
    """The reason a form gave for a change, stripped.

    Raises:
        RegistryError: It is empty or longer than :data:`MAX_REASON` characters.
    """
    reason = (text or "").strip()
    if not reason:
        raise RegistryError(
            "A reason is required for this change.",
            hint="Say why in the reason field; it is kept in the audit trail.",
        )
    if len(reason) > MAX_REASON:
        raise RegistryError(
            f"The reason has {len(reason):,} characters; at most {MAX_REASON:,} fit.",
            hint="Shorten it.",
        )
    return reason


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _scan(root: Path, use_case: str, since: datetime) -> pl.LazyFrame | None:
    """The log's files from the day of ``since`` on, lazily (``None`` when there are none)."""
    day = f"date={_aware(since).date().isoformat()}"
    files = [
        str(path)
        for folder in sorted((root / use_case).glob("date=*"))
        if folder.name >= day
        for path in sorted(folder.glob("*.parquet"))
    ]
    if not files:
        return None
    return pl.scan_parquet(files, hive_partitioning=False).filter(pl.col("at") >= _aware(since))


def canary_progress(root: Path, use_case: str, deployment: dict[str, Any]) -> dict[str, Any] | None:
    """Where a canary stands: step ``i`` of ``n`` and the requests it answered at this revision.

    The watch in each replica steps the canary once it answered ``min_requests`` requests at
    the current revision; the count here is read from the prediction log since the revision
    began, so it covers every replica.

    Args:
        root: The prediction log's folder (``<home>/predictions``).
        use_case: Whose log to read.
        deployment: The revision as the deployments page holds it (``arms``, ``state``,
            ``strategy``, ``created_at``).

    Returns:
        Step, steps, weights, requests seen and ``min_requests``; ``None`` when not a canary.
    """
    canary = next((a for a in deployment["arms"] if a["role"] == "canary"), None)
    if deployment["strategy"] != "canary" or canary is None:
        return None
    state = deployment["state"] or {}
    steps = [float(s) for s in state.get("steps", [])]
    step = int(state.get("step", 0))
    seen = 0
    frame = _scan(root, use_case, deployment["created_at"])
    if frame is not None:
        seen = int(
            frame.filter((pl.col("model_version") == canary["model"]) & ~pl.col("shadow"))
            .select(pl.len())
            .collect()
            .item()
        )
    needed = int(state.get("min_requests", 0))
    return {
        "model": canary["model"],
        "step": step + 1,
        "steps": len(steps),
        "weights": steps,
        "weight": canary["weight"],
        "requests": seen,
        "min_requests": needed,
        "share": min(seen / needed, 1.0) if needed else 1.0,
    }


def shadow_agreement(root: Path, use_case: str, model: str, since: datetime) -> dict[str, Any]:
    """How often the shadow ``model`` agreed with what callers were served, since ``since``.

    A shadow answer is paired with the served answer to the same request and the same inputs
    (the shadow is logged with ``shadow=True`` and the request's ``request_id``).

    Returns:
        ``{"shadow_rows", "pairs", "agree", "rate"}``; ``rate`` is ``None`` without pairs.
    """
    frame = _scan(root, use_case, since)
    if frame is None:
        return {"shadow_rows": 0, "pairs": 0, "agree": 0, "rate": None}
    frame = frame.select(
        "request_id",
        pl.col("inputs").hash().alias("inputs_hash"),
        "model_version",
        "shadow",
        "prediction",
    )
    shadow = frame.filter(pl.col("shadow") & (pl.col("model_version") == model)).select(
        "request_id", "inputs_hash", pl.col("prediction").alias("shadow_prediction")
    )
    served = (
        frame.filter(~pl.col("shadow"))
        .select("request_id", "inputs_hash", "prediction")
        .unique(subset=["request_id", "inputs_hash"], keep="any")
    )
    counts = pl.concat(
        [
            shadow.select(pl.len().alias("n")),
            shadow.join(served, on=["request_id", "inputs_hash"], how="inner").select(
                pl.len().alias("n")
            ),
            shadow.join(served, on=["request_id", "inputs_hash"], how="inner")
            .filter(pl.col("shadow_prediction") == pl.col("prediction"))
            .select(pl.len().alias("n")),
        ]
    ).collect()["n"]
    rows, pairs, agree = (int(n) for n in counts)
    return {
        "shadow_rows": rows,
        "pairs": pairs,
        "agree": agree,
        "rate": agree / pairs if pairs else None,
    }


def _revision(row: Deployment) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "strategy": row.strategy,
        "arms": row.arms,
        "state": row.state,
        "actor": row.actor,
        "reason": row.reason,
        "created_at": row.created_at,
    }


def deployment_page(
    ws: Workspace, use_case: str, *, page: int = 1, size: int = HISTORY_SIZE
) -> dict[str, Any]:
    """What serves now, its canary or shadow figures, and one page of the revision history."""
    root = ws.settings.home / "predictions"
    with ws.store.transaction() as session:
        current = current_deployment(session, use_case)
        total = int(
            session.scalar(
                select(func.count()).select_from(Deployment).where(Deployment.use_case == use_case)
            )
            or 0
        )
        pages = max((total + size - 1) // size, 1)
        page = min(max(page, 1), pages)
        history = [
            _revision(row)
            for row in session.scalars(
                select(Deployment)
                .where(Deployment.use_case == use_case)
                .order_by(Deployment.revision.desc())
                .limit(size)
                .offset((page - 1) * size)
            )
        ]
        now = _revision(current) if current is not None else None
    canary, shadows = None, []
    if now is not None:
        canary = canary_progress(root, use_case, now)
        shadows = [
            {
                "model": arm["model"],
                **shadow_agreement(root, use_case, arm["model"], now["created_at"]),
            }
            for arm in now["arms"]
            if arm["role"] == "shadow"
        ]
    return {
        "current": now,
        "canary": canary,
        "shadows": shadows,
        "promotable": [a for a in (now or {}).get("arms", []) if a["role"] != "champion"],
        "history": history,
        "total": total,
        "page": page,
        "pages": pages,
    }


def roll_back(ws: Workspace, use_case: str, *, actor: str, reason: str) -> dict[str, Any]:
    """End a canary, A/B test or shadow, or put the previous champion back; audited as ``actor``.

    Raises:
        RegistryError: There is nothing to roll back.
    """
    return rollback_use_case(acting_as(ws, actor), use_case, reason=reason)


def promote_arm(
    ws: Workspace, use_case: str, model: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """Make a challenger, canary or shadow of the current deployment the champion (direct).

    Raises:
        RegistryError: ``model`` is not a non-champion arm of the current deployment.
        GateFailedError: Its gates do not allow the promotion.
    """
    with ws.store.transaction() as session:
        current = current_deployment(session, use_case)
        arms = [a["model"] for a in current.arms if a["role"] != "champion"] if current else []
    if model not in arms:
        raise RegistryError(
            f"{model} is not a challenger, canary or shadow of {use_case}'s current deployment.",
            hint="Reload the deployments page: the deployment may have changed meanwhile.",
        )
    return deploy_model(acting_as(ws, actor), model, strategy="direct", reason=reason)
