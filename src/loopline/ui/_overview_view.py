"""The overview page's data: each use case against its declared success metrics, at a glance.

Per use case: every success metric with its current value (and interval where the report has
one) from the latest monitoring report's business section, falling back to the review report
when no monitoring report exists yet; a verdict of met, at risk or missed (:func:`verdict`);
the champion and challengers being served; open alerts by severity; and the review backlog.
Everything but the fallback is a handful of indexed queries, so the page costs the same
whatever the traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.monitoring._history import latest_report
from loopline.review._report import wilson_interval
from loopline.serving import current_deployment
from loopline.spec import ProjectSpec
from loopline.spec._models import SuccessMetric
from loopline.store import Alert, Case, utcnow
from loopline.ui._metrics import _OPS, _measure

__all__ = ["AT_RISK_MARGIN", "AT_RISK_RULE", "SEVERITIES", "overview_context", "verdict"]

#: How close to its bound a met metric may be before it counts as at risk (relative).
AT_RISK_MARGIN = 0.05

#: The rule, as the page states it.
AT_RISK_RULE = (
    "At risk: the target is met, but the value is within 5% of the bound, or its 95% interval "
    "reaches past the bound. Missed: the value does not meet the target."
)

#: Alert severities, most severe first.
SEVERITIES = ("critical", "warning", "info")

#: Open case statuses (waiting for or held by a reviewer).
_OPEN = ("open", "claimed", "second_review")


def verdict(
    metric: SuccessMetric, value: float | None, interval: tuple[float, float] | None = None
) -> str:
    """``met``, ``at_risk``, ``missed`` or ``unknown`` (no value yet) for one success metric.

    At risk: met, but within :data:`AT_RISK_MARGIN` of the bound (relative to the bound; an
    absolute margin of 0.05 when the bound is 0), or the interval straddles the bound.
    """
    met = metric.met_by(value)
    if met is None or value is None:
        return "unknown"
    if not met:
        return "missed"
    bound = metric.value
    margin = AT_RISK_MARGIN * abs(bound) if bound else AT_RISK_MARGIN
    if metric.op != "==" and abs(value - bound) <= margin:
        return "at_risk"
    if interval is not None and interval[0] <= bound <= interval[1]:
        return "at_risk"
    return "met"


def _interval(
    metric: str, business: dict[str, Any], source: str | None
) -> tuple[float, float] | None:
    """The 95% interval the report holds for ``metric``, if any."""
    audited = business.get("audited") or {}
    if metric == "precision_auto" and source != "labels":
        found = audited.get("precision_interval")
    elif metric == "accuracy_auto":
        found = audited.get("accuracy_interval")
    elif metric == "automation_rate" and business.get("automation_rate") is not None:
        n = int(business.get("predictions") or 0)
        found = wilson_interval(round(business["automation_rate"] * n), n)
    else:
        found = None
    return (float(found[0]), float(found[1])) if found else None


def success_verdicts(spec: ProjectSpec, business: dict[str, Any]) -> list[dict[str, Any]]:
    """Each declared success metric with its value, interval and verdict, for people."""
    entries = {entry["metric"]: entry for entry in business.get("success") or []}
    currency = spec.objective.costs.currency
    rows = []
    for metric in spec.objective.success:
        entry = entries.get(metric.text) or {}
        value = entry.get("value")
        interval = _interval(metric.metric, business, entry.get("source"))
        rows.append(
            {
                "metric": metric.metric,
                "declared": metric.text,
                "target": f"{_OPS.get(metric.op, metric.op)} "
                + _measure(metric.metric, metric.value, currency),
                "value": value,
                "shown": _measure(metric.metric, value, currency),
                "interval": interval,
                "interval_shown": None
                if interval is None
                else f"{_measure(metric.metric, interval[0], currency)} to "
                f"{_measure(metric.metric, interval[1], currency)}",
                "verdict": verdict(metric, value, interval),
            }
        )
    return rows


def alert_counts(session: Session, use_case: str) -> dict[str, int]:
    """Firing alerts of ``use_case`` by severity (every severity present, zero when none)."""
    rows = session.execute(
        select(Alert.severity, func.count())
        .where(Alert.use_case == use_case, Alert.status == "firing")
        .group_by(Alert.severity)
    ).all()
    counts = dict.fromkeys(SEVERITIES, 0)
    counts.update({str(severity): int(n) for severity, n in rows})
    return counts


def backlog(session: Session, use_case: str, now: datetime) -> dict[str, int]:
    """Open cases of ``use_case`` and how many of them are past their SLA."""
    open_cases = (Case.use_case == use_case, Case.status.in_(_OPEN))
    total = session.scalar(select(func.count()).where(*open_cases)) or 0
    overdue = session.scalar(select(func.count()).where(*open_cases, Case.due_at < now)) or 0
    return {"open": int(total), "overdue": int(overdue)}


def serving(session: Session, use_case: str) -> dict[str, Any]:
    """The current deployment's strategy and arms (champion first), or nothing deployed."""
    deployment = current_deployment(session, use_case)
    if deployment is None:
        return {"strategy": None, "revision": None, "champion": None, "others": []}
    arms = [
        {"role": arm["role"], "model": arm["model"], "weight": float(arm.get("weight") or 0.0)}
        for arm in deployment.arms
    ]
    champion = next((arm for arm in arms if arm["role"] == "champion"), None)
    return {
        "strategy": deployment.strategy,
        "revision": deployment.revision,
        "champion": champion,
        "others": [arm for arm in arms if arm is not champion],
    }


def use_case_summary(
    ws: Workspace,
    spec: ProjectSpec,
    *,
    fallback: Callable[[], dict[str, Any]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """One use case's card: success metrics, serving, alerts and backlog.

    Args:
        ws: The workspace.
        spec: The use case.
        fallback: Builds the review report when there is no monitoring report (it reads the
            prediction log, so it is only called then).
        now: The moment overdue cases are counted at (default: now).
    """
    moment = now or utcnow()
    with ws.store.transaction() as session:
        report = latest_report(session, spec.name)
        deployed = serving(session, spec.name)
        alerts = alert_counts(session, spec.name)
        cases = backlog(session, spec.name, moment)
    if report is not None and report.get("business"):
        business = report["business"]
        source = {
            "kind": "monitoring",
            "id": report["id"],
            "window_end": report["window_end"],
            "model_version": report["model_version"],
        }
    else:
        business = fallback()
        source = {"kind": "review", "id": None, "window_end": None, "model_version": None}
    success = success_verdicts(spec, business)
    verdicts = [row["verdict"] for row in success]
    worst = next((v for v in ("missed", "at_risk", "unknown") if v in verdicts), "met")
    return {
        "name": spec.name,
        "task": spec.objective.task,
        "source": source,
        "success": success,
        "status": worst if success else "unknown",
        "counts": {v: verdicts.count(v) for v in ("met", "at_risk", "missed", "unknown")},
        "serving": deployed,
        "alerts": alerts,
        "firing": sum(alerts.values()),
        "backlog": cases,
    }


def overview_context(
    ws: Workspace, *, fallback: Callable[[], dict[str, Any]], now: datetime | None = None
) -> dict[str, Any]:
    """What ``overview.html`` shows: one summary per use case of the project."""
    specs = [ws.project.spec]  # one use case per project today; the page lays out a list
    return {
        "use_cases": [use_case_summary(ws, spec, fallback=fallback, now=now) for spec in specs],
        "rule": AT_RISK_RULE,
        "severities": SEVERITIES,
    }
