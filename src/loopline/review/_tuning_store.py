"""Tuned policies in the store: tune a model version's threshold, keep it with the version.

``tune_policy`` reads the version's held-out answers (verified against its manifest), tunes with
:func:`loopline.review._tuning.tune_holdout`, stores the policy with an audit event and saves the
coverage-risk chart; ``current_policy`` is what serving applies.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.charts import Series, line_chart
from loopline.errors import RegistryError
from loopline.registry import current_alias, get_version, read_file, read_optional_file
from loopline.review._tuning import (
    _HOLDOUT,
    TunedPolicy,
    _arrays,
    _at,
    _success,
    coverage_risk,
    parse_target,
    tune_holdout,
)
from loopline.store import DecisionPolicyRecord, ModelVersion, record_audit

__all__ = ["current_policy", "policy_outlook", "tune_policy"]


def _coverage_risk_chart(policy: TunedPolicy) -> str:
    """The coverage-risk SVG: automation and precision (or accuracy) against the threshold."""
    binary = policy.curves["tuning"]["positive_auto"] is not None
    quality = "precision_auto" if binary else "accuracy_auto"
    series = []
    for half, dashed in (("tuning", False), ("verification", True)):
        curve = policy.curves[half]
        series += [
            Series(
                f"automation rate ({half})", curve["threshold"], curve["automation_rate"], dashed
            ),
            Series(f"{quality} ({half})", curve["threshold"], curve[quality], dashed),
        ]
    series.append(Series("chosen threshold", [policy.threshold] * 2, [0.0, 1.0], dashed=True))
    title = f"{policy.model or 'model'}: confidence_below = {policy.threshold:.3f}"
    return line_chart(
        series,
        title=title,
        x_label="confidence threshold",
        y_label="rate",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        width=560,
    )


def _resolve(session: Session, model_ref: str | None, use_case: str) -> ModelVersion:
    """The named version; by default the champion, else the latest candidate."""
    if model_ref is not None:
        return get_version(session, model_ref)
    champion = current_alias(session, use_case, "champion")
    if champion is not None:
        return champion
    latest = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.use_case == use_case, ModelVersion.state == "candidate")
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    if latest is None:
        raise RegistryError(
            f"{use_case} has no champion and no candidate version to tune.",
            hint="Train one with `loopline train`, or name a version with --model USE_CASE@N.",
        )
    return latest


def tune_policy(
    ws: Workspace,
    *,
    model_ref: str | None = None,
    target: str | tuple[str, float],
    actor: str | None = None,
    reason: str | None = None,
) -> TunedPolicy:
    """Tune the confidence threshold of a model version and store it as its decision policy.

    Reads the version's ``holdout.parquet`` (verified against its manifest), tunes on one
    half and verifies on the other (seeded by ``training.seed``), stores a
    ``DecisionPolicyRecord`` with an audit event (``policy.tune``) in one transaction, and
    saves the coverage-risk chart at ``policies/<use_case>/<version>/<policy id>.svg``.

    Args:
        ws: The workspace.
        model_ref: ``USE_CASE@VERSION`` or ``USE_CASE@champion``; default: the project's
            champion, else its latest candidate.
        target: ``"automation_rate=0.70"`` or ``(metric, value)``.
        actor: Who tunes (default: the workspace's actor).
        reason: Why, for the audit trail.

    Raises:
        RegistryError: No such version, or nothing to tune.
        IntegrityError: The artifact changed since registration.
        ReviewError: (422) The target cannot be tuned for or met on this model.
    """
    metric, value = parse_target(target) if isinstance(target, str) else target
    parse_target(f"{metric}={value}")  # the same checks for a tuple
    spec = ws.project.spec
    with ws.store.transaction() as session:
        version = _resolve(session, model_ref, spec.name)
        use_case, number, version_id = version.use_case, version.version, version.id
        prefix, manifest = version.artifact_prefix, version.manifest_sha256
    data = read_file(ws.objects, prefix, manifest, _HOLDOUT)
    tuned = tune_holdout(
        pl.read_parquet(io.BytesIO(data)),
        target=(metric, value),
        costs=spec.objective.costs,
        success=spec.objective.success,
        seed=spec.training.seed if spec.training is not None else 0,
    )
    tuned = replace(tuned, model=f"{use_case}@{number}", model_version_id=version_id)
    who = actor or ws.actor
    with ws.store.transaction() as session:
        record = DecisionPolicyRecord(
            model_version_id=version_id, policy=tuned.policy(), created_by=who
        )
        session.add(record)
        session.flush()
        key = f"policies/{use_case}/{number}/{record.id}.svg"
        tuned = replace(tuned, policy_id=record.id, chart=key)
        ws.objects.put_bytes(key, _coverage_risk_chart(tuned).encode())
        record.policy = tuned.policy()
        record_audit(
            session,
            actor=who,
            action="policy.tune",
            target_type="model_version",
            target=tuned.model,
            use_case=use_case,
            after={
                "policy_id": record.id,
                "confidence_below": tuned.threshold,
                "target": tuned.target,
                "verified_automation_rate": tuned.verified["automation_rate"],
                "verified_precision_auto": tuned.verified["precision_auto"],
            },
            reason=reason,
        )
    return tuned


def current_policy(session: Session, model_version_id: int) -> dict[str, Any] | None:
    """The latest tuned policy of a model version (with its ``id``), or ``None``.

    Serving applies ``confidence_below`` from it (``EscalationPolicy(confidence_below=...)``).
    """
    record = session.scalar(
        select(DecisionPolicyRecord)
        .where(DecisionPolicyRecord.model_version_id == model_version_id)
        .order_by(DecisionPolicyRecord.id.desc())
        .limit(1)
    )
    if record is None:
        return None
    return {
        **record.policy,
        "id": record.id,
        "created_by": record.created_by,
        "created_at": record.created_at,
    }


def policy_outlook(
    ws: Workspace, model_ref: str, tuned: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """What the confidence threshold serving will apply to a model version does on its held-out
    rows, against the project's declared success metrics (``None`` for a regression model, or
    a version registered without held-out answers).

    ``tuned`` is the policy serving applies (the champion's :func:`current_policy`), or
    ``None`` for the project file's ``serving.escalation.confidence_below``. The estimate counts
    escalations by confidence alone: out-of-distribution inputs, rules and audit samples send
    more rows to people.
    """
    spec = ws.project.spec
    with ws.store.transaction() as session:
        version = get_version(session, model_ref)
        name = f"{version.use_case}@{version.version}"
        prefix, manifest = version.artifact_prefix, version.manifest_sha256
    data = read_optional_file(ws.objects, prefix, manifest, _HOLDOUT)
    if data is None:  # a version registered before held-out answers were kept
        return None
    holdout = pl.read_parquet(io.BytesIO(data))
    if "confidence" not in holdout.columns or holdout.height == 0:
        return None
    declared = spec.serving.escalation.confidence_below
    threshold = tuned.get("confidence_below") if tuned else declared
    curve = coverage_risk(
        **_arrays(holdout), costs=spec.objective.costs, thresholds=[threshold or 0.0]
    )
    point = _at(curve, 0)
    return {
        "model": name,
        "confidence_below": threshold,
        "source": f"tuned policy {tuned['id']}" if tuned else "project file",
        **point,
        "currency": spec.objective.costs.currency,
        "success": _success(spec.objective.success, point),
    }
