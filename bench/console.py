"""Benchmark: the server time of every console page, on the demo project and a large one.

``python -m bench.console`` (``--predictions 20000 --versions 10`` for a smoke run).

The pages are taken from the app at run time: every GET route under ``/ui`` (but the sign-in
page and static files), its path parameters filled with sample values from the store (a case,
an experiment, a model version, a dataset ...), so pages added later are measured too; a route
whose parameter has no sample is listed as skipped. Each page is requested in-process through
``httpx.ASGITransport`` with ``LOOPLINE_AUTH=off`` (an anonymous admin): one cold request, then
``--runs`` timed ones; the median is reported.

Projects:

- demo: the credit example ingested, a fast model (``max_iter`` 30) trained and deployed, and a
  short run of the closed loop (5 windows of 600 rows, as the console tests' fixture), which
  gives dataset versions, a retrained model with an A/B experiment, monitoring reports, alerts,
  cases, feedback and an audit trail.
- large: the demo project plus ``--versions`` model versions in total (copies of the trained
  version's registry row: same artifact, new numbers), ``--predictions`` logged predictions
  (real inputs resampled from the demo's log, spread over 30 days, written with the serving
  log's ``write_records`` in batches of 100,000), ``--reports`` monitoring reports (copies of
  the latest with shifted windows) and as many alerts (resolved, but for a few firing).

Results go to ``bench/results/console.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit-default"
RESULTS = ROOT / "bench" / "results" / "console.json"
BATCH = 100_000
TARGET_SECONDS = 1.0


def build_demo(root: Path) -> Path:
    """The console tests' project: the credit example after a short run of the closed loop."""
    from loopline import _api, _api_models, _api_serving
    from loopline._workspace import Workspace
    from loopline.demo._loop import LoopSettings, run_loop
    from loopline.settings import load_settings

    project = root / "credit-default"
    shutil.copytree(EXAMPLE, project)
    path = project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["training"]["params"] = {"max_iter": 30}
    doc["gates"] = ["roc_auc >= 0.7"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws = Workspace(load_settings({"LOOPLINE_AUTH": "off"}, project_dir=project))
    try:
        _api.ingest_path(ws, project / "data" / "credit_default.csv.gz")
        _api_models.train_model(ws)
        _api_serving.deploy_model(ws, "credit-default@1", strategy="direct", reason="bench")
        run_loop(ws, seed=3, settings=LoopSettings(windows=5, drift_from=2, rows_per_window=600))
    finally:
        ws.close()
    return project


def _workspace(project: Path) -> Any:
    from loopline._workspace import Workspace
    from loopline.settings import load_settings

    return Workspace(load_settings({"LOOPLINE_AUTH": "off"}, project_dir=project))


def _copy_row(row: Any, **changes: Any) -> Any:
    """A new ORM object with ``row``'s column values (but its id) and ``changes``."""
    columns = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "id"}
    return type(row)(**{**columns, **changes})


def grow(project: Path, *, versions: int, predictions: int, reports: int, seed: int = 7) -> None:
    """Make the demo project large: model versions, logged predictions, reports and alerts."""
    from loopline.serving._log import LoggedRequest, read_predictions, write_records
    from loopline.store import Alert, ModelVersion, MonitorReport, utcnow

    ws = _workspace(project)
    spec = ws.project.spec
    try:
        with ws.store.transaction() as session:
            first = session.scalars(
                select(ModelVersion).where(ModelVersion.use_case == spec.name)
            ).first()
            have = session.scalar(select(func.max(ModelVersion.version))) or 0
            for number in range(have + 1, versions + 1):
                session.add(_copy_row(first, version=number, state="archived"))
            latest = session.scalars(
                select(MonitorReport).order_by(MonitorReport.id.desc()).limit(1)
            ).one()
            now = utcnow()
            for index in range(reports):
                end = now - timedelta(hours=index + 1)
                session.add(
                    _copy_row(
                        latest,
                        window_end=end,
                        window_start=end - timedelta(hours=1),
                        created_at=end,
                    )
                )
                session.add(
                    Alert(
                        uid=str(uuid.uuid4()),
                        use_case=spec.name,
                        rule=f"bench_rule_{index % 7}",
                        severity=("critical", "warning", "info")[index % 3],
                        fingerprint=f"{spec.name}:bench:{index}",
                        status="firing" if index < 5 else "resolved",
                        message=f"bench alert {index}",
                        detail={},
                        first_at=end,
                        last_at=end,
                        resolved_at=None if index < 5 else end,
                        created_at=end,
                    )
                )
        log = read_predictions(ws.settings.home / "predictions", spec.name)
        sample = log.select("inputs", "prediction", "probability", "confidence", "decision")
        rng = random.Random(seed)
        rows = sample.to_dicts()
        names = [f"{spec.name}@{n}" for n in (1, 2)]
        start = utcnow() - timedelta(days=30)
        step = timedelta(days=30) / max(predictions, 1)
        root = ws.settings.home / "predictions"
        for first_row in range(0, predictions, BATCH):
            batch = []
            for index in range(first_row, min(first_row + BATCH, predictions)):
                picked = rows[rng.randrange(len(rows))]
                batch.append(
                    {
                        "prediction_id": uuid.uuid4().hex,
                        "request_id": uuid.uuid4().hex,
                        "use_case": spec.name,
                        "model_version": names[index % 2],
                        "arm": "champion" if index % 2 == 0 else "challenger",
                        "unit_key": str(index % 5000),
                        "decision": picked["decision"],
                        "reasons": [],
                        "prediction": json.loads(picked["prediction"]),
                        "probability": picked["probability"],
                        "confidence": picked["confidence"],
                        "latency_ms": 5.0 + (index % 40),
                        "shadow": False,
                        "at": start + step * index,
                        "inputs": json.loads(picked["inputs"]),
                    }
                )
            write_records(root, LoggedRequest.from_rows(batch))
    finally:
        ws.close()


def _samples(ws: Any) -> dict[str, str]:
    """A sample value for each path parameter name the console's routes may use."""
    from loopline.store import (
        Case,
        Dataset,
        DatasetVersion,
        Experiment,
        ModelVersion,
        MonitorReport,
    )

    spec = ws.project.spec
    with ws.store.transaction() as session:
        case = session.scalars(select(Case.uid).limit(1)).first()
        experiment = session.scalars(select(Experiment.id).limit(1)).first()
        model = session.scalars(select(ModelVersion).order_by(ModelVersion.version)).first()
        dataset = session.execute(
            select(Dataset.name, DatasetVersion.version)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .limit(1)
        ).first()
        report = session.scalars(select(MonitorReport.id).limit(1)).first()
    samples = {"use_case": spec.name}
    if case:
        samples.update(case_id=case, case=case, uid=case)
    if experiment:
        samples.update(experiment_id=str(experiment), experiment=str(experiment))
    if model is not None:
        ref = f"{model.use_case}@{model.version}"
        samples.update(model=ref, ref=ref, model_ref=ref, model_version=ref)
        samples.update(version=str(model.version), number=str(model.version))
    if dataset is not None:
        name = str(dataset[0])
        samples.update(dataset=name, name=name, dataset_name=name)
        samples.setdefault("version", str(dataset[1]))
    if report:
        samples.update(report_id=str(report))
    log = ws.settings.home / "predictions" / spec.name
    if log.exists():
        found = pl.scan_parquet(log / "date=*" / "*.parquet").select("prediction_id").head(1)
        first = found.collect()
        if first.height:
            samples.update(prediction_id=str(first["prediction_id"][0]))
    return samples


def _pages(app: Any, samples: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every GET page under /ui with its parameters filled, and the routes skipped."""
    import re

    pages, skipped = [], []
    for route in app.routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if not path.startswith("/ui/") or "GET" not in methods or path == "/ui/login":
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        missing = [n for n in names if n not in samples]
        if missing:
            skipped.append(f"{path} (no sample for {', '.join(missing)})")
            continue
        pages.append(re.sub(r"{(\w+)(?::\w+)?}", lambda m: samples[m.group(1)], path))
    return sorted(set(pages)), skipped


async def _time_pages(app: Any, pages: list[str], runs: int) -> list[dict[str, Any]]:
    results = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for page in pages:
            started = time.perf_counter()
            answer = await client.get(page)
            cold = time.perf_counter() - started
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = await client.get(page)
                times.append(time.perf_counter() - started)
            results.append(
                {
                    "page": page,
                    "status": answer.status_code,
                    "bytes": len(answer.content),
                    "cold_s": cold,
                    "median_s": statistics.median(times),
                }
            )
    return results


def measure(project: Path, runs: int) -> dict[str, Any]:
    """Serve ``project`` in-process and time every console page."""
    from loopline.auth import Authenticator
    from loopline.serving import create_app
    from loopline.ui import add_ui_routes

    ws = _workspace(project)
    try:
        app = create_app(ws, reload_seconds=3600)
        if not any(getattr(r, "path", "").startswith("/ui") for r in app.routes):
            add_ui_routes(app, ws, Authenticator(ws.store, ws.settings), app.state.runtime)
        pages, skipped = _pages(app, _samples(ws))
        results = asyncio.run(_time_pages(app, pages, runs))
    finally:
        ws.close()
    return {"pages": results, "skipped": skipped}


def _show(console: Console, name: str, measured: dict[str, Any]) -> None:
    table = Table(title=f"console pages: {name} project (server time, s)")
    for column in ("page", "status", "cold", "median", "< 1 s"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for row in measured["pages"]:
        ok = "yes" if row["median_s"] < TARGET_SECONDS else "NO"
        table.add_row(
            row["page"], str(row["status"]), f"{row['cold_s']:.3f}", f"{row['median_s']:.3f}", ok
        )
    console.print(table)
    for skipped in measured["skipped"]:
        console.print(f"skipped: {skipped}")


def main(argv: list[str] | None = None) -> int:
    """Build both projects, time every console page on each, write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page")
    parser.add_argument("--versions", type=int, default=100, help="model versions (large)")
    parser.add_argument("--predictions", type=int, default=1_000_000, help="logged (large)")
    parser.add_argument("--reports", type=int, default=300, help="monitoring reports (large)")
    parser.add_argument("--keep", type=Path, default=None, help="build the projects here")
    args, _unknown = parser.parse_known_args(argv)
    console = Console()
    base = args.keep or Path(tempfile.mkdtemp(prefix="loopline-bench-console-"))
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "runs": args.runs,
        "large": {
            "versions": args.versions,
            "predictions": args.predictions,
            "reports": args.reports,
        },
    }
    try:
        started = time.perf_counter()
        demo = build_demo(base / "demo")
        console.print(f"demo project built in {time.perf_counter() - started:.0f} s")
        results["demo"] = measure(demo, args.runs)
        _show(console, "demo", results["demo"])
        started = time.perf_counter()
        large = base / "large" / "credit-default"
        shutil.copytree(demo, large)
        grow(large, versions=args.versions, predictions=args.predictions, reports=args.reports)
        console.print(f"large project grown in {time.perf_counter() - started:.0f} s")
        results["large_project"] = measure(large, args.runs)
        _show(console, "large", results["large_project"])
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    slow = [p["page"] for p in results["demo"]["pages"] if p["median_s"] >= TARGET_SECONDS]
    failed = [p["page"] for p in results["demo"]["pages"] if p["status"] >= 500]
    console.print(
        f"demo pages over {TARGET_SECONDS:.0f} s: {slow or 'none'}; errors: {failed or 'none'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
