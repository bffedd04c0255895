"""Monitoring runs on a deployed model: the prediction log against the champion's reference.

Windows are logged with the serving log's own writer from the model's real answers on real rows
of the bundled credit example (one test also goes through a real server), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from sqlalchemy import func, select

from loopline._api_models import load_trained_model
from loopline._workspace import Workspace
from loopline.data._datasets import load_version, parse_ref
from loopline.monitoring._alerts import list_alerts
from loopline.monitoring._history import get_report, report_series
from loopline.monitoring._monitor import run_monitor
from loopline.monitoring._routes import raise_audit_rate
from loopline.review import current_policy, record_feedback
from loopline.serving._log import LoggedRequest, write_records
from loopline.store import Alert, AuditEvent, MonitorReport
from tests.serving.conftest import deployed_project, start_server

USE_CASE = "credit-default"
MODEL = f"{USE_CASE}@1"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """The credit example trained and deployed; the store on each back end."""
    from tests.conftest import _postgres_schema_url

    root = tmp_path_factory.mktemp(f"monitor-{request.param}")
    if request.param == "postgresql":
        urls = _postgres_schema_url()
        url = next(urls)
        ws = deployed_project(root, auth=False, database_url=url)
    else:
        urls = None
        ws = deployed_project(root, auth=False)
    yield ws
    ws.close()
    if urls is not None:
        next(urls, None)  # runs the generator's cleanup: drops the schema, disposes the engine


def _data(ws: Workspace) -> pl.DataFrame:
    """The ingested credit rows, read through the workspace's own store."""
    return load_version(ws, parse_ref("credit"))


@pytest.fixture(scope="module")
def rows(deployed: Workspace) -> pl.DataFrame:
    return _data(deployed).drop("ID", "default_payment_next_month")


def _log(ws: Workspace, inputs: pl.DataFrame, at: datetime) -> list[str]:
    """Log the champion's real answers to ``inputs`` at ``at``; returns the prediction ids."""
    model = load_trained_model(ws, MODEL)
    frame = inputs.to_pandas()
    probability = model.positive_proba(frame)
    predicted = model.predict(frame)
    ids = [uuid.uuid4().hex for _ in range(inputs.height)]
    records = [
        {
            "prediction_id": ids[i],
            "request_id": f"r{i}",
            "use_case": USE_CASE,
            "model_version": MODEL,
            "arm": "champion",
            "unit_key": None,
            "decision": "auto" if probability[i] < 0.5 else "review",
            "reasons": [],
            "prediction": int(predicted[i]),
            "probability": float(probability[i]),
            "confidence": 0.9,
            "latency_ms": 2.0,
            "shadow": False,
            "at": at,
            "inputs": row,
        }
        for i, row in enumerate(inputs.to_dicts())
    ]
    write_records(ws.settings.home / "predictions", LoggedRequest.from_rows(records))
    return ids


def _alerts(ws: Workspace, rule: str) -> list[Alert]:
    with ws.store.transaction() as session:
        return list(
            session.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)).all()
        )


def test_a_window_like_training_raises_no_drift_and_estimates_performance(
    deployed: Workspace, rows: pl.DataFrame
) -> None:
    at = NOW - timedelta(days=10)
    _log(deployed, rows.sample(2000, seed=1), at)
    report = run_monitor(deployed, now=at + timedelta(hours=1))
    assert report["status"] == "ok"
    assert report["rows"] == 2000
    drift = report["drift"]
    assert drift["dataset_drift"] is False
    assert [f["column"] for f in drift["features"] if f["alarm"]] == []
    assert len(drift["features"]) == 23
    estimated = report["performance"]["estimated"]["roc_auc"]
    assert 0.6 < estimated["low"] <= estimated["value"] <= estimated["high"] < 0.95
    assert report["metrics"]["estimated.roc_auc"] == estimated["value"]
    logged = pl.read_parquet(deployed.settings.home / "predictions" / USE_CASE / "**/*.parquet")
    automatic = logged.filter(pl.col("at") == at)["decision"].eq("auto").mean()
    assert report["metrics"]["automation_rate"] == pytest.approx(automatic)
    assert not [a for a in report["alerts"] if a["rule"] == "drift"]
    with deployed.store.transaction() as session:
        stored = get_report(session, USE_CASE, report["id"])
    assert stored["drift"]["features"][0]["column"] == drift["features"][0]["column"]


def test_a_shift_alarms_once_deduplicates_and_resolves_with_hysteresis(
    deployed: Workspace, rows: pl.DataFrame
) -> None:
    start = NOW - timedelta(days=8)
    # more than half of the features shifted: dataset drift
    shifted_columns = [c for c in rows.columns if rows[c].dtype.is_numeric()][:16]
    shifted = rows.sample(2000, seed=2).with_columns(
        (pl.col(c) * 1.5 + pl.col(c).std()).cast(rows[c].dtype) for c in shifted_columns
    )
    _log(deployed, shifted, start)
    first = run_monitor(deployed, now=start + timedelta(hours=1), window=timedelta(hours=2))
    assert first["status"] == "drift"
    assert first["drift"]["dataset_drift"] is True
    alarmed = {f["column"] for f in first["drift"]["features"] if f["alarm"]}
    assert alarmed
    assert alarmed <= set(shifted_columns)
    assert [(a["rule"], a["action"]) for a in first["alerts"] if a["rule"] == "drift"] == [
        ("drift", "fired")
    ]
    # the same condition an hour later: one alert, counted twice, not notified again (cooldown)
    second = run_monitor(deployed, now=start + timedelta(hours=2), window=timedelta(hours=3))
    assert [a for a in second["alerts"] if a["rule"] == "drift"] == []
    drift_alerts = _alerts(deployed, "drift")
    assert len(drift_alerts) == 1
    assert (drift_alerts[0].status, drift_alerts[0].count) == ("firing", 2)
    # a clean window clears it (drift share below half the dataset-drift share)
    clean_at = start + timedelta(hours=5)
    _log(deployed, rows.sample(2000, seed=3), clean_at)
    third = run_monitor(deployed, now=clean_at + timedelta(minutes=30), window=timedelta(hours=1))
    assert third["drift"]["dataset_drift"] is False
    assert [(a["rule"], a["action"]) for a in third["alerts"] if a["rule"] == "drift"] == [
        ("drift", "resolved")
    ]
    assert _alerts(deployed, "drift")[0].status == "resolved"
    with deployed.store.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_type == "alert")
        ).all()
    assert actions.count("alert.fire") >= 1
    assert actions.count("alert.resolve") >= 1


def test_labels_that_arrive_later_give_realised_performance_within_the_estimate(
    deployed: Workspace, rows: pl.DataFrame
) -> None:
    at = NOW - timedelta(days=6)
    sample = _data(deployed).sample(3000, seed=4)
    ids = _log(deployed, sample.drop("ID", "default_payment_next_month"), at)
    labels = sample["default_payment_next_month"].to_list()
    ws = deployed
    with ws.store.transaction() as session:
        for prediction_id, label in zip(ids[:2500], labels[:2500], strict=True):
            record_feedback(
                session,
                use_case=USE_CASE,
                prediction_id=prediction_id,
                label=label,
                actor="labeller",
            )
    report = run_monitor(ws, now=at + timedelta(hours=1), window=timedelta(hours=2))
    performance = report["performance"]
    assert performance["labelled"] == 2500
    realised = performance["realised"]["roc_auc"]
    assert 0.6 < realised["value"] < 0.95
    assert realised["low"] < realised["value"] < realised["high"]
    comparison = performance["comparison"]["roc_auc"]
    assert comparison["realised"] == pytest.approx(realised["value"])
    assert report["metrics"]["performance.roc_auc"] == pytest.approx(realised["value"])


def test_persistence_waits_for_consecutive_windows(deployed: Workspace, rows: pl.DataFrame) -> None:
    path = deployed.settings.project_dir / "loopline.yaml"
    original = path.read_text()
    doc = yaml.safe_load(original)
    doc["monitoring"]["drift"]["persistence"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws = Workspace(deployed.settings)
    try:
        start = NOW - timedelta(days=4)
        shifted = rows.sample(1500, seed=5).with_columns(pl.col("LIMIT_BAL") * 3)
        _log(ws, shifted, start)
        _log(ws, shifted, start + timedelta(hours=1))
        first = run_monitor(ws, now=start + timedelta(minutes=30), window=timedelta(hours=1))
        limit = next(f for f in first["drift"]["features"] if f["column"] == "LIMIT_BAL")
        assert (limit["raw_alarm"], limit["alarm"], limit["status"]) == (True, False, "pending")
        second = run_monitor(ws, now=start + timedelta(minutes=90), window=timedelta(hours=1))
        limit = next(f for f in second["drift"]["features"] if f["column"] == "LIMIT_BAL")
        assert (limit["raw_alarm"], limit["alarm"]) == (True, True)
    finally:
        path.write_text(original)
        ws.close()


def test_data_quality_reports_nulls_ranges_and_contract_violations(
    deployed: Workspace, rows: pl.DataFrame
) -> None:
    at = NOW - timedelta(days=3)
    broken = rows.sample(1000, seed=6).with_columns(
        pl.when(pl.int_range(pl.len()) < 300).then(None).otherwise(pl.col("AGE")).alias("AGE"),
        pl.when(pl.int_range(pl.len()) < 100)
        .then(9)
        .otherwise(pl.col("EDUCATION"))
        .alias("EDUCATION"),
    )
    _log(deployed, broken, at)
    report = run_monitor(deployed, now=at + timedelta(minutes=5), window=timedelta(minutes=10))
    quality = {c["column"]: c for c in report["quality"]["columns"]}
    assert quality["AGE"]["null_rate"] == pytest.approx(0.3)
    assert quality["AGE"]["null_rate_increase"] == pytest.approx(0.3)
    assert quality["EDUCATION"]["out_of_range_rate"] == pytest.approx(0.1)
    assert "9" in quality["EDUCATION"]["unseen"]
    failing = {v["check"]: v for v in report["quality"]["contract_violations"]}
    assert any("EDUCATION" in v["columns"] for v in failing.values())
    assert report["metrics"]["max_null_rate_increase"] == pytest.approx(0.3)
    assert [a["rule"] for a in report["alerts"] if a["action"] == "fired"].count(
        "data_quality"
    ) == 1


def test_bad_windows_give_a_status_not_a_crash(deployed: Workspace) -> None:
    empty = run_monitor(deployed, now=NOW - timedelta(days=30), window=timedelta(hours=1))
    assert (empty["status"], empty["rows"], empty["alerts"]) == ("empty", 0, [])
    tiny_at = NOW - timedelta(days=2)
    frame = _data(deployed).head(10)
    _log(deployed, frame.drop("ID", "default_payment_next_month"), tiny_at)
    tiny = run_monitor(deployed, now=tiny_at + timedelta(minutes=1), window=timedelta(minutes=5))
    assert tiny["status"] == "insufficient"
    assert not any(f["alarm"] for f in tiny["drift"]["features"])


def test_raise_audit_route_writes_a_policy_serving_applies(deployed: Workspace) -> None:
    from loopline.serving._runtime import Runtime

    policy = raise_audit_rate(deployed, USE_CASE, reason="test")
    assert policy is not None
    assert policy["audit_sample_rate"] == pytest.approx(0.10)
    again = raise_audit_rate(deployed, USE_CASE, reason="test")
    assert again is not None
    assert again["audit_sample_rate"] == pytest.approx(0.20)
    with deployed.store.transaction() as session:
        from loopline.registry import current_alias

        champion = current_alias(session, USE_CASE, "champion")
        assert champion is not None
        tuned = current_policy(session, champion.id)
    escalation = Runtime._policy(deployed.project.spec, tuned)
    assert escalation.audit_sample_rate == pytest.approx(0.20)


def test_reports_form_a_time_series(deployed: Workspace) -> None:
    with deployed.store.transaction() as session:
        series = report_series(session, USE_CASE)
        count = session.scalar(select(func.count()).select_from(MonitorReport))
    assert len(series) == count
    assert count >= 5
    assert [s["id"] for s in series] == sorted(s["id"] for s in series)
    assert all("features" in s for s in series)
    with deployed.store.transaction() as session:
        firing = list_alerts(session, USE_CASE, status="firing")
    assert all(a["status"] == "firing" for a in firing)


def test_a_real_server_logs_what_monitoring_reads(tmp_path: Path) -> None:
    ws = deployed_project(tmp_path, auth=False)
    server = start_server(ws)
    try:
        frame = _data(ws).head(300)
        records = frame.drop("ID", "default_payment_next_month").to_dicts()
        for start in range(0, 300, 50):
            answer = httpx.post(
                f"{server.url}/api/v1/predict/{USE_CASE}",
                json={"records": records[start : start + 50]},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
    finally:
        server.stop()  # flushes the prediction log
    report = run_monitor(ws)
    assert report["rows"] == 300
    assert len(report["drift"]["features"]) == 23
    assert report["quality"]["max_null_rate_increase"] == pytest.approx(0.0)
    ws.close()
