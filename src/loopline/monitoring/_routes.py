"""Where alerts go: the log, signed webhooks, and the policies that act on them.

Policies run after the report and its alerts are committed, each in its own transaction, so a
failing action never loses the report; what an action did is recorded on the alert's
``detail["actions"]`` and in the audit trail.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from loopline._workspace import Workspace
from loopline.monitoring._alerts import AlertEvent
from loopline.registry import current_alias
from loopline.review import current_policy
from loopline.review._webhooks import deliver
from loopline.store import Alert, DecisionPolicyRecord, record_audit

__all__ = ["raise_audit_rate", "route_events"]

_LOG = logging.getLogger("loopline.alerts")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


def raise_audit_rate(
    ws: Workspace, use_case: str, *, reason: str, at_least: float = 0.10
) -> dict[str, Any] | None:
    """Double the champion's audit sample rate (at least ``at_least``, at most 1).

    Writes a new decision policy for the champion that keeps its tuned threshold; serving picks
    it up on its next reload. Returns the new policy, or ``None`` without a champion.
    """
    spec = ws.project.spec
    with ws.store.transaction() as session:
        champion = current_alias(session, use_case, "champion")
        if champion is None:
            return None
        tuned = current_policy(session, champion.id) or {}
        before = tuned.get("audit_sample_rate", spec.serving.escalation.audit_sample_rate)
        rate = min(1.0, max(at_least, 2 * before))
        policy = {k: v for k, v in tuned.items() if k not in ("id", "created_by", "created_at")} | {
            "audit_sample_rate": rate
        }
        record = DecisionPolicyRecord(
            model_version_id=champion.id, policy=policy, created_by=ws.actor
        )
        session.add(record)
        session.flush()
        record_audit(
            session,
            actor=ws.actor,
            action="policy.raise_audit",
            target_type="model_version",
            target=f"{use_case}@{champion.version}",
            use_case=use_case,
            before={"audit_sample_rate": before},
            after={"audit_sample_rate": rate, "policy_id": record.id},
            reason=reason,
        )
        return {**policy, "id": record.id}


def _retrain(ws: Workspace, event: AlertEvent) -> dict[str, Any]:
    """Enqueue a retraining, unless one is under way: a retraining job queued or running, or the
    experiment of the last one still deciding (a new challenger would cut it short)."""
    from loopline.experiments import running_experiment
    from loopline.jobs import enqueue
    from loopline.store import Job

    use_case = event.alert["use_case"]
    with ws.store.transaction() as session:
        busy = session.scalar(
            select(Job.uid).where(
                Job.kind == "retrain",
                Job.use_case == use_case,
                Job.status.in_(("queued", "running")),
            )
        )
        if busy is not None:
            return {"route": "retrain", "skipped": f"retraining job {busy} is under way"}
        experiment = running_experiment(session, use_case)
        if experiment is not None:
            return {"route": "retrain", "skipped": f"experiment {experiment.id} is still running"}
        job = enqueue(
            session,
            "retrain",
            {"use_case": event.alert["use_case"], "trigger": event.rule.name},
            use_case=event.alert["use_case"],
            idempotency_key=f"retrain:alert:{event.alert['id']}",
            actor=ws.actor,
        )
        return {"route": "retrain", "job": job.uid}


def _rollback(ws: Workspace, event: AlertEvent) -> dict[str, Any]:
    from loopline._api_serving import rollback_use_case

    done = rollback_use_case(
        ws, event.alert["use_case"], reason=f"alert {event.rule.name}: {event.alert['message']}"
    )
    return {"route": "rollback", "revision": done.get("revision")}


def _webhook(ws: Workspace, event: AlertEvent) -> dict[str, Any]:
    url = ws.project.spec.monitoring.webhook_url
    if not url:
        return {"route": "webhook", "skipped": "no monitoring.webhook_url"}
    body = {"event": f"alert.{event.action}", "alert": event.alert}
    ok = deliver(url, body, secret=ws.settings.webhook_secret, attempts=3, backoff=0.5)
    return {"route": "webhook", "delivered": ok}


def route_events(ws: Workspace, events: list[AlertEvent]) -> list[dict[str, Any]]:
    """Send each event where its rule routes it; policies act only when an alert fires."""
    done: list[dict[str, Any]] = []
    for event in events:
        alert = event.alert
        text = f"[{alert['severity']}] {alert['use_case']} {event.action}: {alert['message']}"
        actions: list[dict[str, Any]] = []
        for route in event.rule.route:
            try:
                if route == "log":
                    _LOG.log(_LEVELS.get(alert["severity"], logging.WARNING), text)
                elif route == "webhook":
                    actions.append(_webhook(ws, event))
                elif event.action != "fired":
                    continue  # policies act once per episode, not on repeats or resolution
                elif route == "retrain":
                    actions.append(_retrain(ws, event))
                elif route == "rollback":
                    actions.append(_rollback(ws, event))
                elif route == "raise_audit":
                    policy = raise_audit_rate(
                        ws, alert["use_case"], reason=f"alert {event.rule.name}"
                    )
                    actions.append({"route": "raise_audit", "policy": policy})
            except Exception as exc:  # an action failing must not lose the others
                _LOG.exception("alert %s: route %s failed", alert["id"], route)
                actions.append({"route": route, "error": str(exc)})
        if actions:
            with ws.store.transaction() as session:
                row = session.scalar(select(Alert).where(Alert.uid == alert["id"]))
                if row is not None:
                    row.detail = {
                        **row.detail,
                        "actions": [*row.detail.get("actions", []), *actions],
                    }
        done.append({"alert": alert["id"], "action": event.action, "routes": actions})
    return done
