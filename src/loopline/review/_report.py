"""Human-in-the-loop metrics, reported against the use case's declared success metrics.

- automation rate: share of (non-shadow) answers decided automatically;
- override rate: share of decided cases where the person changed the recommendation;
- audited precision / accuracy of automatic decisions: on the random audit sample only, so the
  estimate is unbiased, with a Wilson 95 % interval;
- backlog, time to decision (median and 95th percentile, hours) and SLA compliance;
- inter-reviewer agreement: Cohen's kappa on double-reviewed cases;
- cost per 1,000 decisions against the all-manual baseline (every case reviewed).
"""

from __future__ import annotations

import math
from datetime import datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.spec import ProjectSpec
from loopline.store import Case

__all__ = ["review_report", "wilson_interval"]


def wilson_interval(
    successes: int, n: int, z: float = NormalDist().inv_cdf(0.975)
) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (``None`` without observations)."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def review_report(
    session: Session, spec: ProjectSpec, predictions: pl.DataFrame, *, since: datetime | None = None
) -> dict[str, Any]:
    """The metrics above for one use case, and each declared success metric met or missed."""
    query = select(Case).where(Case.use_case == spec.name)
    if since is not None:
        query = query.where(Case.created_at >= since)
    cases = session.scalars(query).all()
    served = predictions.filter(~pl.col("shadow")) if predictions.height else predictions
    total = served.height
    automatic = served.filter(pl.col("decision") == "auto").height if total else 0
    decided = [c for c in cases if c.status == "decided" and c.decision]
    reviewed = [c for c in decided if not c.audit_sample]
    overrides = sum(1 for c in reviewed if c.decision and c.decision.get("action") == "override")
    audited = [c for c in decided if c.audit_sample]
    correct = sum(1 for c in audited if _label(c) == c.recommendation.get("prediction"))
    positive = spec.objective.positive_class
    audited_positive = [c for c in audited if c.recommendation.get("prediction") == positive]
    true_positive = sum(1 for c in audited_positive if _label(c) == positive)
    hours = [(c.decided_at - c.created_at).total_seconds() / 3600 for c in decided if c.decided_at]
    on_time = sum(1 for c in decided if c.decided_at and c.decided_at <= c.due_at)
    doubles = [c for c in decided if c.decision and c.decision.get("first")]
    kappa = None
    if len(doubles) >= 2:
        first = [str(c.decision["first"]["label"]) for c in doubles if c.decision]
        second = [str(c.decision["label"]) for c in doubles if c.decision]
        from sklearn.metrics import cohen_kappa_score  # loads with a report, not the CLI

        kappa = float(cohen_kappa_score(first, second)) if len(set(first + second)) > 1 else 1.0
    automation_rate = automatic / total if total else None
    precision_auto = true_positive / len(audited_positive) if audited_positive else None
    accuracy_auto = correct / len(audited) if audited else None
    costs = spec.objective.costs
    cost = _cost_per_1000(spec, automation_rate, audited, positive)
    values: dict[str, float | None] = {
        "automation_rate": automation_rate,
        "precision_auto": precision_auto,
        "accuracy_auto": accuracy_auto,
        "override_rate": overrides / len(reviewed) if reviewed else None,
        "review_sla_hours": float(np.percentile(hours, 95)) if hours else None,
        "cost_per_1000": cost,
    }
    return {
        "use_case": spec.name,
        "predictions": total,
        "automation_rate": automation_rate,
        "override_rate": values["override_rate"],
        "audited": {
            "cases": len(audited),
            "accuracy_auto": accuracy_auto,
            "accuracy_interval": wilson_interval(correct, len(audited)),
            "precision_auto": precision_auto,
            "precision_interval": wilson_interval(true_positive, len(audited_positive)),
        },
        "backlog": sum(1 for c in cases if c.status in ("open", "claimed", "second_review")),
        "decided": len(decided),
        "hours_to_decision": {
            "median": float(np.median(hours)) if hours else None,
            "p95": values["review_sla_hours"],
        },
        "sla_compliance": on_time / len(decided) if decided else None,
        "agreement_kappa": kappa,
        "double_reviewed": len(doubles),
        "cost_per_1000": cost,
        "cost_all_manual_per_1000": costs.review * 1000,
        "success": [
            {"metric": m.text, "value": values.get(m.metric), "met": m.met_by(values.get(m.metric))}
            for m in spec.objective.success
        ],
    }


def _label(case: Case) -> Any:
    return (case.decision or {}).get("label")


def _cost_per_1000(
    spec: ProjectSpec, automation: float | None, audited: list[Case], positive: Any
) -> float | None:
    """Reviews at their cost, plus automatic decisions at the audited error costs."""
    if automation is None or not audited:
        return None
    costs = spec.objective.costs
    fp = sum(
        1
        for c in audited
        if c.recommendation.get("prediction") == positive and _label(c) != positive
    )
    fn = sum(
        1
        for c in audited
        if c.recommendation.get("prediction") != positive and _label(c) == positive
    )
    error_cost = (fp * (costs.false_positive or 0) + fn * (costs.false_negative or 0)) / len(
        audited
    )
    return 1000 * ((1 - automation) * costs.review + automation * error_cost)
