"""One monitoring run: a window of the prediction log against the champion's reference.

The report has five sections — drift (per feature and of the score), data quality, performance
on the labels that have arrived, label-free estimated performance, and business metrics against
the declared success metrics — and flat ``metrics`` that alert rules read. It is stored as a
``MonitorReport`` row (a time series) in the same transaction as the alerts it raises; alert
routes (webhooks, retraining, rollback) run after the commit.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.data import Contract, load_contract
from loopline.monitoring._alerts import evaluate_alerts
from loopline.monitoring._drift import DriftReport, drift_report
from loopline.monitoring._estimated import estimated_performance
from loopline.monitoring._performance import MetricValue, compare, realised_performance
from loopline.monitoring._quality import data_quality
from loopline.monitoring._reference import ReferenceProfile
from loopline.monitoring._routes import route_events
from loopline.monitoring._window import Window, read_window
from loopline.registry import current_alias, read_file, read_optional_file
from loopline.review._report import review_report
from loopline.spec import ProjectSpec
from loopline.store import Feedback, ModelVersion, MonitorReport
from loopline.training import Signature

__all__ = ["REFERENCE_FILE", "report_dict", "run_monitor", "run_monitor_job"]

REFERENCE_FILE = "reference.parquet"
_HOLDOUT = "holdout.parquet"
_CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _reference(ws: Workspace, version: ModelVersion) -> tuple[ReferenceProfile | None, Any]:
    """The version's reference profile and its held-out scores (``None`` if it has none)."""
    data = read_optional_file(
        ws.objects, version.artifact_prefix, version.manifest_sha256, REFERENCE_FILE
    )
    if data is None:  # a version registered before reference profiles existed
        return None, None
    profile = ReferenceProfile.from_bytes(data)
    scores = None
    holdout = pl.read_parquet(
        io.BytesIO(
            read_file(ws.objects, version.artifact_prefix, version.manifest_sha256, _HOLDOUT)
        )
    )
    if "probability" in holdout.columns:
        scores = holdout["probability"].to_numpy()
    elif "prediction" in holdout.columns and holdout["prediction"].dtype.is_numeric():
        scores = holdout["prediction"].to_numpy()
    return profile, scores


def _persist(
    session: Session, spec: ProjectSpec, drift: dict[str, Any], persistence: int
) -> dict[str, Any]:
    """Keep a feature's alarm only if it also alarmed in the ``persistence - 1`` reports before."""
    for feature in drift["features"]:
        feature["raw_alarm"] = feature["alarm"]
    if persistence <= 1:
        return drift
    previous = session.scalars(
        select(MonitorReport.report)
        .where(MonitorReport.use_case == spec.name)
        .order_by(MonitorReport.id.desc())
        .limit(persistence - 1)
    ).all()
    history = [
        {
            f["column"]: f.get("raw_alarm", f["alarm"])
            for f in r.get("drift", {}).get("features", [])
        }
        for r in previous
    ]
    for feature in drift["features"]:
        if feature["alarm"] and (
            len(history) < persistence - 1 or not all(h.get(feature["column"]) for h in history)
        ):
            feature["alarm"] = False
            feature["status"] = "pending"
    tested = [f for f in drift["features"] if f["p_value"] is not None]
    alarmed = sum(1 for f in tested if f["alarm"])
    drift["drift_share"] = alarmed / len(tested) if tested else None
    drift["dataset_drift"] = bool(tested) and alarmed / len(tested) >= drift["share_threshold"]
    return drift


_SOURCE_RANK = {"audit": 1, "label": 2, "outcome": 2}


def _labels(session: Session, use_case: str, window: Window) -> pl.DataFrame:
    """The label of each prediction of the window that has one, whenever it arrived.

    Reviewers' decisions are left out: people see only the cases the model was unsure of, so
    their labels are a biased sample of the traffic (the review report covers them). Observed
    outcomes (``label``, ``outcome``) beat the random audit; then the latest wins.
    """
    ids = window.answers["prediction_id"].to_list()
    rows: list[Any] = []
    for start in range(0, len(ids), 5000):
        rows += session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.id, Feedback.source).where(
                Feedback.use_case == use_case,
                Feedback.prediction_id.in_(ids[start : start + 5000]),
            )
        ).all()
    rows = [r for r in rows if r[3] in _SOURCE_RANK]
    if not rows:
        return pl.DataFrame(schema={"prediction_id": pl.String, "label": pl.String})
    rows.sort(key=lambda r: (_SOURCE_RANK.get(r[3], 0), r[2]))
    frame = pl.DataFrame(
        {
            "prediction_id": [r[0] for r in rows],
            "label": [str((r[1] or {}).get("value")) for r in rows],
        }
    )
    return frame.unique("prediction_id", keep="last", maintain_order=True)


def _metric_dict(values: dict[str, MetricValue]) -> dict[str, Any]:
    return {name: value.to_dict() for name, value in values.items()}


def _performance(
    session: Session,
    spec: ProjectSpec,
    window: Window,
    champion: str,
    threshold: float | None,
) -> dict[str, Any]:
    """Realised performance on the labels that arrived, and the label-free estimate."""
    task = spec.objective.task
    served = window.answers.filter(pl.col("model_version") == champion)
    section: dict[str, Any] = {"model_version": champion, "rows": served.height}
    labels = _labels(session, spec.name, window)
    joined = served.join(labels, on="prediction_id", how="inner")
    section["labelled"] = joined.height
    positive = str(spec.objective.positive_class)
    if joined.height:
        predicted = [str(json.loads(p)) for p in joined["prediction"]]
        if task == "regression":
            truth: Any = joined["label"].cast(pl.Float64, strict=False).to_numpy()
            metrics: tuple[str, ...] = ("mae", "rmse")
            predicted_values: Any = np.asarray(predicted, dtype=float)
        else:
            truth = joined["label"].to_list()
            metrics = _CLASSIFICATION_METRICS if task == "binary_classification" else ("accuracy",)
            predicted_values = predicted
        probability = joined["probability"].to_numpy() if task == "binary_classification" else None
        realised = realised_performance(
            truth,
            probability=probability,
            prediction=predicted_values,
            positive=positive,
            task=task,
            metrics=metrics,
        )
        section["realised"] = _metric_dict(realised)
    else:
        realised = {}
        section["realised"] = {}
    if task == "binary_classification" and threshold is not None and served.height:
        scores = served["probability"].drop_nulls().to_numpy()
        estimated = estimated_performance(scores, threshold=threshold, seed=0)
        section["estimated"] = _metric_dict(estimated)
        if realised:
            section["comparison"] = compare(estimated, realised)
    else:
        section["estimated"] = {}
    return section


def _labelled_auto(spec: ProjectSpec, window: Window, labels: pl.DataFrame) -> dict[str, Any]:
    """Precision of automatic decisions and cost per 1,000 decisions, from the labels.

    Cost: reviews at their cost, automatic decisions at the cost of their errors. Binary
    classification only; ``None`` values without labelled automatic decisions.
    """
    empty: dict[str, Any] = {"precision_auto": None, "cost_per_1000": None, "labelled_auto": 0}
    if spec.objective.task != "binary_classification" or window.rows == 0:
        return empty
    costs = spec.objective.costs
    served = window.answers
    automatic = served.filter(pl.col("decision") == "auto").join(labels, on="prediction_id")
    if automatic.height == 0:
        return empty
    positive = str(spec.objective.positive_class)
    predicted = automatic["prediction"].map_elements(
        lambda text: str(json.loads(text)), return_dtype=pl.String
    )
    truth = automatic["label"]
    flagged = int((predicted == positive).sum())
    tp = int(((predicted == positive) & (truth == positive)).sum())
    fp = flagged - tp
    fn = int(((predicted != positive) & (truth == positive)).sum())
    error_cost = (fp * (costs.false_positive or 0) + fn * (costs.false_negative or 0)) / (
        automatic.height
    )
    automation = served.filter(pl.col("decision") == "auto").height / served.height
    return {
        "precision_auto": tp / flagged if flagged else None,
        "cost_per_1000": 1000 * ((1 - automation) * costs.review + automation * error_cost),
        "labelled_auto": automatic.height,
    }


def _business(
    session: Session, spec: ProjectSpec, window: Window, performance: dict[str, Any]
) -> dict[str, Any]:
    """The review report of the window; where the audit sample says nothing yet, precision of
    automatic decisions and cost come from the labels that arrived."""
    report = review_report(session, spec, window.answers, since=window.start)
    labelled = _labelled_auto(spec, window, _labels(session, spec.name, window))
    report["labelled"] = labelled
    if report.get("cost_per_1000") is None:
        report["cost_per_1000"] = labelled["cost_per_1000"]
    by_name = {m.text: m for m in spec.objective.success}
    for entry in report["success"]:
        metric = by_name.get(entry["metric"])
        if metric is None or entry["value"] is not None:
            continue
        if labelled.get(metric.metric) is not None:
            entry.update(value=labelled[metric.metric], source="labels")
            entry["met"] = metric.met_by(entry["value"])
    report["success_missed"] = sum(1 for entry in report["success"] if entry["met"] is False)
    return report


def _flat(
    drift: dict[str, Any],
    quality: dict[str, Any],
    performance: dict[str, Any],
    business: dict[str, Any],
) -> dict[str, Any]:
    """The names alert rules and success metrics read."""
    prediction = drift.get("prediction") or {}
    tested = [f for f in drift["features"] if f["p_value"] is not None]
    metrics: dict[str, Any] = {
        "rows": drift["rows_current"],
        "drift_share": drift["drift_share"],
        "dataset_drift": drift["dataset_drift"],
        "drifted_features": sum(1 for f in drift["features"] if f["alarm"]),
        "tested_features": len(tested),
        "prediction_drift": bool(prediction.get("alarm")),
        "max_null_rate_increase": quality["max_null_rate_increase"],
        "max_out_of_range_rate": quality["max_out_of_range_rate"],
        "max_violation_rate": quality["max_violation_rate"],
        "labelled": performance.get("labelled", 0),
        "automation_rate": business.get("automation_rate"),
        "precision_auto": business["audited"]["precision_auto"]
        if business["audited"]["precision_auto"] is not None
        else business["labelled"]["precision_auto"],
        "cost_per_1000": business.get("cost_per_1000"),
        "review_sla_hours": business["hours_to_decision"]["p95"],
        "backlog": business.get("backlog"),
        "success_missed": business.get("success_missed", 0),
    }
    for kind in ("realised", "estimated"):
        prefix = "performance" if kind == "realised" else "estimated"
        for name, value in performance.get(kind, {}).items():
            metrics[f"{prefix}.{name}"] = value.get("value")
            metrics[f"{prefix}.{name}_low"] = value.get("low")
            metrics[f"{prefix}.{name}_high"] = value.get("high")
    return metrics


def _drift_dict(report: DriftReport) -> dict[str, Any]:
    return report.to_dict()


def _empty_drift() -> dict[str, Any]:
    return {
        "features": [],
        "prediction": None,
        "drift_share": None,
        "dataset_drift": False,
        "rows_current": 0,
        "share_threshold": 0.5,
        "status": "empty",
    }


def run_monitor(
    ws: Workspace,
    use_case: str | None = None,
    *,
    now: datetime | None = None,
    window: timedelta | None = None,
    route: bool = True,
    actor: str | None = None,
) -> dict[str, Any]:
    """Monitor a use case over its window ending ``now``; store the report, raise alerts.

    Args:
        ws: The workspace.
        use_case: Default: the project's.
        now: The window's end (default: the current time).
        window: Its length (default: ``monitoring.window``).
        route: Send alert events to their routes (off for dry runs).
        actor: Who runs it, for the audit trail (default: the workspace's actor).

    Returns:
        The stored report as :func:`report_dict` gives it, with ``alerts`` (the events).
    """
    spec = ws.project.spec
    use_case = use_case or spec.name
    end = now or datetime.now(timezone.utc)
    start = end - (window or timedelta(seconds=spec.monitoring.window))
    drift_spec = spec.monitoring.drift
    with ws.store.transaction() as session:
        champion = current_alias(session, use_case, "champion")
        version = (
            (champion.version, champion.signature, champion.metrics.get("threshold"))
            if champion is not None
            else None
        )
        profile, scores = _reference(ws, champion) if champion is not None else (None, None)
    body: dict[str, Any] = {"use_case": use_case, "window": {"start": start, "end": end}}
    status = "ok"
    drift, quality, performance, business = _empty_drift(), {}, {}, {}
    if version is None:
        status = "no_model"
        window_data = None
    else:
        number, signature_data, _ = version
        signature = Signature.from_dict(signature_data)
        champion_ref = f"{use_case}@{number}"
        window_data = read_window(
            ws.settings.home / "predictions", use_case, signature, start=start, end=end
        )
        body["model_version"] = champion_ref
        if profile is None:
            status = "no_reference"
        elif window_data.rows == 0:
            status = "empty"
        else:
            current = window_data.inputs.with_columns(
                pl.when(window_data.answers["model_version"] == champion_ref)
                .then(window_data.answers["probability"])
                .alias("_score")
            )
            report = drift_report(
                profile,
                current,
                columns=signature.names,
                categorical=signature.categorical,
                methods={
                    **(
                        dict.fromkeys(signature.names, drift_spec.method)
                        if drift_spec.method != "auto"
                        else {}
                    ),
                    **drift_spec.columns,
                },
                fdr=drift_spec.fdr,
                min_effect=drift_spec.min_effect,
                share=drift_spec.share,
                min_rows=spec.monitoring.min_rows,
                prediction="_score" if scores is not None else None,
                reference_prediction=scores,
            )
            drift = _drift_dict(report)
            quality = data_quality(
                window_data.answers, window_data.inputs, signature, profile.summary(), _contract(ws)
            )
            if window_data.rows < spec.monitoring.min_rows:
                status = "insufficient"
    with ws.store.transaction() as session:
        if window_data is not None and window_data.rows and version is not None:
            performance = _performance(
                session, spec, window_data, body["model_version"], version[2]
            )
            business = _business(session, spec, window_data, performance)
            drift = _persist(session, spec, drift, drift_spec.persistence)
        if status == "ok" and drift.get("dataset_drift"):
            status = "drift"
        metrics = _flat(drift, quality, performance, business) if business else {"rows": 0}
        body.update(
            status=status,
            drift=drift,
            quality=quality,
            performance=performance,
            business=business,
            metrics=metrics,
        )
        row = MonitorReport(
            use_case=use_case,
            model_version=body.get("model_version"),
            window_start=start,
            window_end=end,
            status=status,
            rows=window_data.rows if window_data is not None else 0,
            drift_share=drift.get("drift_share"),
            alarms=sum(1 for f in drift["features"] if f["alarm"]),
            report=_clean(body),
        )
        session.add(row)
        session.flush()
        events = (
            evaluate_alerts(
                session, spec, metrics, report_id=row.id, now=end, actor=actor or ws.actor
            )
            if status not in ("no_model", "no_reference")
            else []
        )
        result = report_dict(row)
    routed = route_events(ws, events) if route and events else []
    result["alerts"] = [{"action": e.action, "rule": e.rule.name, **e.alert} for e in events]
    result["routes"] = routed
    return result


def run_monitor_job(ws: Workspace, job: Any, context: Any = None) -> dict[str, Any]:
    """The worker's ``monitor`` job: one run for the job's use case; a summary as its result."""
    from loopline.retraining import check_label_trigger

    payload = getattr(job, "payload", None) or {}
    report = run_monitor(ws, payload.get("use_case"))
    retraining = check_label_trigger(ws)
    return {
        "report_id": report["id"],
        "status": report["status"],
        "alerts": [a["rule"] for a in report["alerts"]],
        "retraining": retraining["id"] if retraining else None,
    }


def _contract(ws: Workspace) -> Contract | None:
    spec = ws.project.spec
    if not spec.data.contract:
        return None
    return load_contract(ws.project.resolve(spec.data.contract))


def _clean(value: Any) -> Any:
    """JSON-ready data without NaN or infinity (PostgreSQL's JSONB refuses them)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if np.isfinite(number) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def report_dict(row: MonitorReport) -> dict[str, Any]:
    """A stored report as JSON-ready data."""
    return {
        "id": row.id,
        "use_case": row.use_case,
        "model_version": row.model_version,
        "window_start": row.window_start,
        "window_end": row.window_end,
        "status": row.status,
        "rows": row.rows,
        "drift_share": row.drift_share,
        "alarms": row.alarms,
        "created_at": row.created_at,
        **{
            k: row.report.get(k) for k in ("drift", "quality", "performance", "business", "metrics")
        },
    }
