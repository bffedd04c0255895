"""Alerts: rules over a monitoring report's metrics, with severity, cooldown, de-duplication and
hysteresis, routed to the log, to signed webhooks and to policies.

A rule fires when its ``when`` expression is true on a report's flat metrics (an unknown value
never fires). While it fires, later reports with the same fingerprint (use case + rule) update
the open alert (``count``, ``last_at``) instead of adding one: de-duplication. Notifications
repeat at most once per ``cooldown``. An open alert resolves only when ``clear`` holds
(hysteresis; without ``clear``: when ``when`` is false), so a metric hovering at a bound does not
flap. Every firing and resolution is in the audit trail.

Routes: ``log`` (the ``loopline.alerts`` logger), ``webhook`` (the project's monitoring webhook,
signed like decision webhooks), ``retrain`` (enqueues a retraining job, once per alert),
``rollback`` (puts the previous deployment back) and ``raise_audit`` (raises the audit sample
rate of the champion's decision policy).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.errors import ExpressionError
from loopline.expressions import evaluate, names, parse
from loopline.spec import AlertSpec, ProjectSpec
from loopline.store import Alert, record_audit

__all__ = [
    "AlertEvent",
    "alert_dict",
    "default_rules",
    "evaluate_alerts",
    "list_alerts",
    "raise_alert",
]

_LOG = logging.getLogger("loopline.alerts")


@dataclass(frozen=True)
class AlertEvent:
    """What a report did to one rule's alert: ``fired``, ``repeated`` (cooldown over),
    ``resolved``; a suppressed repeat is not an event."""

    action: str
    rule: AlertSpec
    alert: dict[str, Any]


def default_rules(spec: ProjectSpec) -> tuple[AlertSpec, ...]:
    """The rules used when the project file declares none under ``monitoring.alerts``."""
    triggers = {t for t in spec.retraining.when if isinstance(t, str)}
    webhook = ("webhook",) if spec.monitoring.webhook_url else ()

    def retrain(trigger: str) -> tuple[str, ...]:
        return ("retrain",) if trigger in triggers else ()

    share = spec.monitoring.drift.share
    rules = [
        AlertSpec(
            name="drift",
            when="dataset_drift",
            clear=f"drift_share < {share / 2:g}",
            severity="warning",
            route=("log", *webhook, *retrain("drift")),
            message="{drifted_features} of {tested_features} features drifted",
        ),
        AlertSpec(
            name="prediction_drift",
            when="prediction_drift",
            severity="warning",
            route=("log", *webhook),
            message="the score distribution drifted",
        ),
        AlertSpec(
            name="data_quality",
            when="max_null_rate_increase > 0.1 or max_violation_rate > 0.05",
            clear="max_null_rate_increase < 0.05 and max_violation_rate < 0.02",
            severity="warning",
            route=("log", *webhook),
            message="served inputs break the contract or lose values",
        ),
        AlertSpec(
            name="success_metrics",
            when="success_missed > 0",
            severity="info",
            route=("log",),
            message="{success_missed} declared success metric(s) missed",
        ),
    ]
    performance = spec.monitoring.performance
    if performance is not None and performance.min is not None:
        metric, bound = performance.metric, performance.min
        # the whole interval past the bound: a handful of labels cannot raise it
        compare, edge = (">", "low") if metric in ("mae", "rmse") else ("<", "high")
        rules += [
            AlertSpec(
                name="performance",
                when=f"performance.{metric}_{edge} {compare} {bound:g}",
                severity="critical",
                route=("log", *webhook, *retrain("performance")),
                message=f"{metric} on labelled predictions is past {bound:g} "
                "(its whole 95% interval)",
            ),
            AlertSpec(
                name="estimated_performance",
                when=f"estimated.{metric}_{edge} {compare} {bound:g}",
                severity="warning",
                route=("log", *webhook, *retrain("estimated_performance")),
                message=f"estimated {metric} (no labels yet) is past {bound:g} "
                "(its whole 95% band)",
            ),
        ]
    return tuple(rules)


def _truth(text: str, metrics: Mapping[str, Any]) -> bool | None:
    """The value of an expression: True, False, or None when a metric it reads is unknown."""
    try:
        value = evaluate(parse(text), metrics)
    except ExpressionError:
        return None
    return None if value is None else bool(value)


def alert_dict(row: Alert) -> dict[str, Any]:
    """An alert as JSON-ready data."""
    return {
        "id": row.uid,
        "use_case": row.use_case,
        "rule": row.rule,
        "severity": row.severity,
        "status": row.status,
        "message": row.message,
        "count": row.count,
        "first_at": row.first_at,
        "last_at": row.last_at,
        "resolved_at": row.resolved_at,
        "report_id": row.report_id,
        "detail": row.detail,
    }


def _message(rule: AlertSpec, metrics: Mapping[str, Any]) -> str:
    text = rule.message or f"{rule.name}: {rule.when}"
    try:
        return text.format(**{k.replace(".", "_"): v for k, v in metrics.items()})
    except (KeyError, ValueError, IndexError):
        return text


def evaluate_alerts(
    session: Session,
    spec: ProjectSpec,
    metrics: Mapping[str, Any],
    *,
    report_id: int | None,
    now: datetime,
    actor: str,
) -> list[AlertEvent]:
    """Apply the project's alert rules to one report's metrics; returns what to notify."""
    rules = spec.monitoring.alerts if spec.monitoring.alerts is not None else default_rules(spec)
    events: list[AlertEvent] = []
    for rule in rules:
        fingerprint = f"{spec.name}:{rule.name}"
        open_alert = session.scalar(
            select(Alert)
            .where(Alert.fingerprint == fingerprint, Alert.status == "firing")
            .order_by(Alert.id.desc())
            .limit(1)
        )
        firing = _truth(rule.when, metrics)
        detail = {"when": rule.when, "values": _values(rule, metrics)}
        if firing:
            if open_alert is not None:
                open_alert.count += 1
                open_alert.last_at = now
                open_alert.report_id = report_id
                open_alert.detail = detail
                last = open_alert.notified_at or open_alert.first_at
                if (now - last).total_seconds() >= rule.cooldown:
                    open_alert.notified_at = now
                    events.append(AlertEvent("repeated", rule, alert_dict(open_alert)))
                continue
            row = Alert(
                uid=str(uuid.uuid4()),
                use_case=spec.name,
                rule=rule.name,
                severity=rule.severity,
                fingerprint=fingerprint,
                status="firing",
                message=_message(rule, metrics),
                detail=detail,
                report_id=report_id,
                first_at=now,
                last_at=now,
                notified_at=now,
            )
            session.add(row)
            session.flush()
            _audit(session, row, "alert.fire", actor)
            events.append(AlertEvent("fired", rule, alert_dict(row)))
        elif open_alert is not None:
            cleared = _truth(rule.clear, metrics) if rule.clear else firing is False
            if cleared:
                open_alert.status = "resolved"
                open_alert.resolved_at = now
                open_alert.report_id = report_id
                _audit(session, open_alert, "alert.resolve", actor)
                events.append(AlertEvent("resolved", rule, alert_dict(open_alert)))
    return events


def _values(rule: AlertSpec, metrics: Mapping[str, Any]) -> dict[str, Any]:
    read = set(names(parse(rule.when)))
    if rule.clear:
        read |= set(names(parse(rule.clear)))
    return {name: metrics.get(name) for name in sorted(read)}


def _audit(session: Session, row: Alert, action: str, actor: str) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        target_type="alert",
        target=row.uid,
        use_case=row.use_case,
        after={"rule": row.rule, "severity": row.severity, "message": row.message},
    )


def list_alerts(
    session: Session, use_case: str, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Alerts of a use case, newest first."""
    query = select(Alert).where(Alert.use_case == use_case)
    if status is not None:
        query = query.where(Alert.status == status)
    rows = session.scalars(query.order_by(Alert.id.desc()).limit(limit)).all()
    return [alert_dict(r) for r in rows]


def raise_alert(
    session: Session,
    use_case: str,
    rule: str,
    message: str,
    *,
    severity: str = "critical",
    detail: Mapping[str, Any] | None = None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Raise an alert from the system itself (a failed retraining, a rejected model).

    De-duplicated like rule alerts: while one with the same fingerprint fires, it is counted.
    Audited; logged at the severity's level.
    """
    from loopline.store import utcnow

    now = now or utcnow()
    fingerprint = f"{use_case}:{rule}"
    row = session.scalar(
        select(Alert)
        .where(Alert.fingerprint == fingerprint, Alert.status == "firing")
        .order_by(Alert.id.desc())
        .limit(1)
    )
    if row is not None:
        row.count += 1
        row.last_at = now
        row.message = message
        row.detail = dict(detail or {})
        return alert_dict(row)
    row = Alert(
        uid=str(uuid.uuid4()),
        use_case=use_case,
        rule=rule,
        severity=severity,
        fingerprint=fingerprint,
        status="firing",
        message=message,
        detail=dict(detail or {}),
        first_at=now,
        last_at=now,
        notified_at=now,
    )
    session.add(row)
    session.flush()
    _audit(session, row, "alert.fire", actor)
    _LOG.log(logging.ERROR if severity == "critical" else logging.WARNING, "%s: %s", rule, message)
    return alert_dict(row)
