"""Where one 500-row request's time goes: loopline's serving steps against the floor's, in process.

``python -m bench.serving_costs`` (``--repeat N``, default 40).

The HTTP benchmark (``bench.serving``) says how fast each server is; this one says why. It builds
the same project (the bundled credit example, ingested, trained, deployed; a copy with its
policy tuned as the README tour does), then times each step of one 500-row request on one
thread with native thread pools limited to one thread, as the server runs them: the floor's
three steps (parse, frame, ``predict_proba``) and loopline's (parse; in the model thread
validation, scoring with calibration, conformal sets and the novelty forest, decisions; on the
event loop the answers, ids, review-case and log records; then the review cases committed to
SQLite and the prediction-log file written). Medians of ``--repeat`` runs, in milliseconds.
Results go to ``bench/results/serving_costs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from bench import serving as http_bench

RESULTS = http_bench.ROOT / "bench" / "results" / "serving_costs.json"


def _median_ms(work: Callable[[], Any], repeat: int) -> float:
    work()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _steps(project: Path, body: bytes, repeat: int) -> dict[str, float]:
    """loopline's steps for one request, timed one by one."""
    from loopline._workspace import open_workspace
    from loopline.serving._answers import _Request, _score_batch
    from loopline.serving._batcher import BatchJob, batch_columns
    from loopline.serving._case_queue import CaseWriter, case_count
    from loopline.serving._inputs import validate_columns
    from loopline.serving._log import write_records
    from loopline.serving._runtime import Runtime
    from loopline.serving._scoring import Scorer, _Frame

    ws = open_workspace(project)
    runtime = Runtime(ws)
    steps: dict[str, float] = {}

    async def run() -> None:
        await runtime.start()
        use_case = runtime.use_case(http_bench.USE_CASE)
        served = next(iter(use_case.models.values()))
        scorer = Scorer(served.model)  # the model stage, here in this thread
        signature = served.model.signature
        policy = use_case.policies[next(iter(use_case.models))]
        job = _Request(signature, policy)
        records = orjson.loads(body)["records"]
        arrays, flags = validate_columns(records, signature, max_rows=len(records))
        batch = batch_columns([arrays])  # the model stage reads the columns, as serving does
        scores = scorer(batch)
        steps["parse the JSON body"] = _median_ms(lambda: orjson.loads(body), repeat)
        steps["validate against the signature"] = _median_ms(
            lambda: validate_columns(records, signature, max_rows=len(records)), repeat
        )
        steps["gather the columns"] = _median_ms(lambda: batch_columns([arrays]), repeat)
        features = scorer._features(batch, _Frame(batch))
        steps["features (replayed preprocessing)"] = _median_ms(
            lambda: scorer._features(batch, _Frame(batch)), repeat
        )
        steps["model: predict_proba"] = _median_ms(
            lambda: scorer.estimator.predict_proba(features), repeat
        )
        if scorer.forest is not None:
            steps["novelty: isolation forest"] = _median_ms(
                lambda: scorer.forest.score_samples(features), repeat
            )
        whole = _median_ms(lambda: scorer(batch), repeat)
        steps["calibration, confidence, conformal sets"] = max(
            0.0, whole - sum(steps[k] for k in list(steps)[3:])
        )
        steps["decisions (escalation policy)"] = _median_ms(
            lambda: policy.decide_batch(
                scores.probability,
                scores.confidence,
                [len(s) for s in scores.sets or []],
                batch,
                flags,
                scores.novel,
            ),
            repeat,
        )
        model_thread = _median_ms(
            lambda: _score_batch(scorer, [records], [BatchJob(0, len(records), job)]), repeat
        )
        steps["model thread in all (the rows above)"] = model_thread
        captured: dict[str, list[Any]] = {}

        async def keep_cases(cases: dict[str, list[Any]]) -> None:  # columns
            captured["cases"] = cases

        async def keep_log(logged: Any) -> None:
            captured["log"] = [logged]

        runtime.cases.open = keep_cases  # type: ignore[method-assign]
        runtime.log.put = keep_log  # type: ignore[method-assign]
        loop_times = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            answer = await runtime.predict(http_bench.USE_CASE, orjson.loads(body)["records"])
            response = orjson.dumps(
                {"request_id": answer.request_id, "predictions": answer.predictions},
                option=orjson.OPT_SERIALIZE_NUMPY,
            )
            loop_times.append((time.perf_counter() - started) * 1000)
        steps["whole request without case and log writes"] = statistics.median(loop_times[1:])
        del response
        cases: Any = captured.get("cases", {})
        count = case_count(cases)
        steps["review cases opened"] = float(count)
        writer = CaseWriter(ws.store)
        fresh = iter(range(10**9))

        def write_cases() -> None:
            fresh_ids = [f"bench-{next(fresh)}" for _ in range(count)]
            writer({**cases, "uid": [None] * count, "prediction_id": fresh_ids})

        if count:
            steps["commit the review cases (SQLite)"] = _median_ms(write_cases, repeat)
        writer.close()
        folder = Path(tempfile.mkdtemp(prefix="loopline-costs-log-"))
        steps["write the prediction log (Parquet)"] = _median_ms(
            lambda: write_records(folder, captured["log"]), repeat
        )
        await runtime.stop()

    try:
        asyncio.run(run())
    finally:
        ws.close()
    return steps


def _floor(floor_model: Path, columns: list[str], body: bytes, repeat: int) -> dict[str, float]:
    import pickle

    with floor_model.open("rb") as handle:
        pipeline = pickle.load(handle)["pipeline"]  # a file this benchmark wrote itself
    records = orjson.loads(body)["records"]
    frame = pd.DataFrame(records, columns=columns)
    return {
        "parse the JSON body": _median_ms(lambda: orjson.loads(body), repeat),
        "build the frame": _median_ms(lambda: pd.DataFrame(records, columns=columns), repeat),
        "model: predict_proba (with pandas preprocessing)": _median_ms(
            lambda: pipeline.predict_proba(frame), repeat
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Build, time, print, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    threadpool_limits(1)
    with tempfile.TemporaryDirectory(prefix="loopline-bench-costs-") as tmp:
        root = Path(tmp)
        console.print("building the project (ingest, train, deploy, tuned copy) ...")
        project = http_bench.build_project(root)
        tuned = http_bench.tuned_copy(project, root)
        floor_model, _, columns = http_bench.export_model(project, root)
        body = orjson.dumps({"records": http_bench.payload_rows(columns, http_bench.BATCH_ROWS)})
        result = {
            "floor": _floor(floor_model, columns, body, args.repeat),
            "loopline": _steps(project, body, args.repeat),
            "loopline-tuned": _steps(tuned, body, args.repeat),
        }
    table = Table(title="One 500-row request, one thread, medians (ms)")
    table.add_column("server")
    table.add_column("step")
    table.add_column("ms", justify="right")
    for server, steps in result.items():
        for step, value in steps.items():
            shown = f"{value:.0f}" if step == "review cases opened" else f"{value:.2f}"
            table.add_row(server, step, shown)
        table.add_section()
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "serving_costs",
                "command": "python -m bench.serving_costs",
                "repeat": args.repeat,
                "source": http_bench._source(),
                "machine": {"cpu": http_bench._cpu()},
                "milliseconds": result,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
