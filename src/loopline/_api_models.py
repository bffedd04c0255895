"""Model operations shared by the Python API and the CLI: train, list, show, compare, promote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline._workspace import Workspace
from loopline.registry import (
    ALIASES,
    approve,
    archive,
    current_alias,
    get_version,
    list_versions,
    load_model,
    promote,
    read_file,
    rollback,
)
from loopline.store import GateResult, ModelVersion

if TYPE_CHECKING:  # training's modules (scikit-learn) load when a model is trained or loaded
    from loopline.runs import TrainResult
    from loopline.training import TrainedModel

__all__ = [
    "approve_model",
    "archive_model",
    "compare_models",
    "list_models",
    "load_trained_model",
    "model_card",
    "promote_model",
    "rollback_champion",
    "show_model",
    "train_model",
]


def train_model(ws: Workspace, *, dataset: str | None = None, progress: Any = None) -> TrainResult:
    """Train, evaluate, gate and register a model version."""
    from loopline.runs import train

    return train(ws, dataset=dataset, progress=progress)


def _aliases(session: Any, version: ModelVersion) -> list[str]:
    return [
        a
        for a in ALIASES
        if (c := current_alias(session, version.use_case, a)) and c.id == version.id
    ]


def _summary(session: Any, version: ModelVersion) -> dict[str, Any]:
    metrics = version.metrics
    return {
        "model": f"{version.use_case}@{version.version}",
        "use_case": version.use_case,
        "version": version.version,
        "state": version.state,
        "aliases": _aliases(session, version),
        "roc_auc": metrics.get("roc_auc"),
        "ece": metrics.get("ece"),
        "cost_per_1000": metrics.get("cost_per_1000"),
        "rmse": metrics.get("rmse"),
        "created_at": version.created_at,
        "created_by": version.created_by,
    }


def list_models(ws: Workspace, use_case: str | None = None) -> list[dict[str, Any]]:
    """Every model version, newest first, with state, aliases and headline metrics."""
    with ws.store.transaction() as session:
        return [_summary(session, v) for v in list_versions(session, use_case)]


def _gates(session: Any, version: ModelVersion) -> list[dict[str, Any]]:
    rows = (
        session.query(GateResult)
        .filter(GateResult.model_version_id == version.id)
        .order_by(GateResult.id)
    )
    latest: dict[str, GateResult] = {}
    for row in rows:
        latest[row.gate] = row
    return [
        {
            "gate": r.gate,
            "verdict": r.verdict,
            "measured": r.measured,
            "bound": r.bound,
            "context": r.context,
            "detail": r.detail,
        }
        for r in latest.values()
    ]


def show_model(ws: Workspace, ref: str) -> dict[str, Any]:
    """A version's metrics, evaluation, gates, signature and card."""
    with ws.store.transaction() as session:
        version = get_version(session, ref)
        return {
            **_summary(session, version),
            "metrics": version.metrics,
            "gates": _gates(session, version),
            "signature": version.signature,
            "evaluation": version.evaluation,
            "artifact": {
                "prefix": version.artifact_prefix,
                "manifest_sha256": version.manifest_sha256,
            },
            "card": version.card,
        }


def model_card(ws: Workspace, ref: str) -> str:
    """The version's model card as Markdown (verified against its manifest)."""
    with ws.store.transaction() as session:
        version = get_version(session, ref)
        prefix, manifest = version.artifact_prefix, version.manifest_sha256
    return read_file(ws.objects, prefix, manifest, "card.md").decode()


def compare_models(ws: Workspace, left: str, right: str) -> dict[str, Any]:
    """Two versions' metrics side by side, with the difference right - left."""
    with ws.store.transaction() as session:
        a, b = get_version(session, left), get_version(session, right)
        ma, mb = a.metrics, b.metrics
        names = [k for k in ma if k in mb]
        rows = [
            {
                "metric": k,
                "left": ma[k],
                "right": mb[k],
                "difference": (mb[k] - ma[k])
                if isinstance(ma[k], int | float) and isinstance(mb[k], int | float)
                else None,
            }
            for k in names
        ]
        return {
            "left": f"{a.use_case}@{a.version}",
            "right": f"{b.use_case}@{b.version}",
            "metrics": rows,
            "states": [a.state, b.state],
        }


def promote_model(ws: Workspace, ref: str, *, to: str, reason: str | None) -> dict[str, Any]:
    """Promote a version (gates re-checked); audited."""
    with ws.store.transaction() as session:
        version = promote(session, ref, to=to, actor=ws.actor, reason=reason)
        return _summary(session, version)


def archive_model(ws: Workspace, ref: str, *, reason: str | None) -> dict[str, Any]:
    """Archive a version; audited."""
    with ws.store.transaction() as session:
        return _summary(session, archive(session, ref, actor=ws.actor, reason=reason))


def approve_model(ws: Workspace, ref: str, *, reason: str | None) -> dict[str, Any]:
    """Record an approval for a version's approval gates; audited."""
    with ws.store.transaction() as session:
        version = approve(session, ref, actor=ws.actor, reason=reason)
        return {**_summary(session, version), "gates": _gates(session, version)}


def rollback_champion(ws: Workspace, use_case: str, *, reason: str | None) -> dict[str, Any]:
    """Return the champion alias to the previous champion; audited."""
    from loopline.experiments import stop_running_experiment
    from loopline.serving import current_deployment, rollback_deployment

    with ws.store.transaction() as session:
        deployment = current_deployment(session, use_case)
        if deployment is not None:
            before = [a["version"] for a in deployment.arms if a["role"] != "shadow"]
            after = rollback_deployment(session, use_case, actor=ws.actor, reason=reason)
            stop_running_experiment(session, use_case, actor=ws.actor, reason="rolled back")
            return {
                "use_case": use_case,
                "from": max(before),
                "to": after.arms[0]["version"],
                "revision": after.revision,
            }
        previous, restored = rollback(session, use_case, actor=ws.actor, reason=reason)
        return {"use_case": use_case, "from": previous.version, "to": restored.version}


def load_trained_model(ws: Workspace, ref: str) -> TrainedModel:
    """Load a registered model, verifying its artifact (a tampered one refuses to load)."""
    with ws.store.transaction() as session:
        version = get_version(session, ref)
        prefix, manifest = version.artifact_prefix, version.manifest_sha256
    return load_model(ws.objects, prefix, manifest)
