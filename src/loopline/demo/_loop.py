"""The closed loop, simulated: traffic, reviewers, late labels, drift, retraining, an A/B test.

Traffic goes through the real serving runtime (routing, scoring, escalation, cases, the
prediction log) in this process, window after window; each monitoring window is the few seconds
of wall time its traffic took (days of a bank's traffic, compressed). Applications come from the
credit data itself; from a chosen window on, they come from a different real segment of it
(younger customers already behind on payments), which shifts several inputs and the default
rate — drift as it happens, not synthetic noise. Escalated cases are decided by a simulated
analyst who is right ``reviewer_accuracy`` of the time; the true outcomes of every application
arrive one window later. Monitoring runs after every window; its drift alert routes to a
retraining job, which the demo's worker runs; the A/B test it starts is analysed after every
window until it decides. Every random choice is seeded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from loopline._workspace import Workspace
from loopline.data._datasets import DatasetRef, load_version
from loopline.experiments import analyze_experiment, running_experiment
from loopline.jobs import Worker
from loopline.monitoring import run_monitor
from loopline.review import claim_case, decide_case, list_cases, record_feedback
from loopline.serving._runtime import Runtime

__all__ = ["LoopSettings", "run_loop"]


@dataclass(frozen=True)
class LoopSettings:
    """How long and how busy the simulated loop is."""

    windows: int = 10
    drift_from: int = 3
    rows_per_window: int = 1500
    rows_per_request: int = 25
    reviewer_accuracy: float = 0.9


@dataclass
class _State:
    truth: dict[str, Any] = field(default_factory=dict)  # prediction id -> true label
    waiting: list[list[str]] = field(default_factory=list)  # answered ids, by window


def _segments(frame: pl.DataFrame, target: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The usual applicants, and the shifted segment: young and already behind on payments."""
    shifted = frame.filter((pl.col("AGE") < 32) & (pl.col("PAY_0") >= 1))
    return frame, shifted


async def _serve_window(
    runtime: Runtime,
    use_case: str,
    rows: pl.DataFrame,
    settings: LoopSettings,
    target: str,
    state: _State,
) -> dict[str, Any]:
    auto: list[str] = []
    answered: list[str] = []
    served = {"champion": 0, "challenger": 0}
    for start in range(0, rows.height, settings.rows_per_request):
        chunk = rows.slice(start, settings.rows_per_request)
        records = chunk.drop("ID", target).to_dicts()
        answer = await runtime.predict(use_case, records, unit_key=f"batch-{chunk['ID'][0]}")
        served[answer.arm["role"]] = served.get(answer.arm["role"], 0) + len(records)
        for item, truth in zip(answer.predictions, chunk[target].to_list(), strict=True):
            state.truth[item["prediction_id"]] = truth
            answered.append(item["prediction_id"])
            if item["decision"] == "auto":
                auto.append(item["prediction_id"])
    state.waiting.append(answered)
    await runtime.log.stop()  # flush: monitoring reads what was logged
    runtime.log.start()
    return {"rows": rows.height, "automatic": len(auto), "arms": served}


def _review(ws: Workspace, state: _State, rng: random.Random, accuracy: float) -> int:
    """The analyst decides every open case: right ``accuracy`` of the time."""
    use_case = ws.project.spec.name
    decided = 0
    while True:
        with ws.store.transaction() as session:
            cases = list_cases(session, use_case=use_case, status="open", limit=500)
            if not cases:
                return decided
            for case in cases:
                truth = state.truth.get(case.prediction_id)
                label = truth if rng.random() < accuracy or truth is None else 1 - int(truth)
                recommended = case.recommendation.get("prediction")
                claim_case(session, case.uid, actor="analyst")
                if str(recommended) == str(label):
                    decide_case(session, case.uid, actor="analyst", action="accept")
                else:
                    decide_case(session, case.uid, actor="analyst", action="override", label=label)
                decided += 1


def _late_labels(ws: Workspace, state: _State) -> int:
    """The outcomes of the window before last arrive now (whether or not a person decided)."""
    if len(state.waiting) < 2:
        return 0
    arrived = state.waiting[-2]
    state.waiting[-2] = []
    with ws.store.transaction() as session:
        for prediction_id in arrived:
            record_feedback(
                session,
                use_case=ws.project.spec.name,
                prediction_id=prediction_id,
                label=state.truth[prediction_id],
                actor="outcomes-feed",
                source="label",
            )
    return len(arrived)


async def _loop(
    ws: Workspace, settings: LoopSettings, seed: int, say: Callable[[str], None]
) -> dict[str, Any]:
    spec = ws.project.spec
    target = spec.objective.target
    data = load_version(ws, DatasetRef(spec.data.dataset))
    usual, shifted = _segments(data, target)
    rng = random.Random(seed)  # noqa: S311  (a simulation, not security)
    runtime = Runtime(ws, seed=seed, reload_seconds=3600)
    await runtime.start()
    state = _State()
    windows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    windows_opened: list[datetime] = []
    try:
        for index in range(settings.windows):
            drifting = index >= settings.drift_from
            pool = shifted if drifting else usual
            rows = pool.sample(settings.rows_per_window, seed=seed + index, with_replacement=True)
            say(
                f"window {index + 1}/{settings.windows}: {rows.height} applications"
                + (" (shifted segment)" if drifting else "")
            )
            opened = datetime.now(timezone.utc)
            since = windows_opened[-1] if windows_opened else opened
            windows_opened.append(opened)
            traffic = await _serve_window(runtime, spec.name, rows, settings, target, state)
            reviewed = await asyncio.to_thread(_review, ws, state, rng, settings.reviewer_accuracy)
            labels = await asyncio.to_thread(_late_labels, ws, state)
            closed = datetime.now(timezone.utc)
            # this window and the one before it, whose outcomes have just arrived
            report = await asyncio.to_thread(run_monitor, ws, now=closed, window=closed - since)
            fired = [a["rule"] for a in report["alerts"] if a["action"] == "fired"]
            window = {
                "window": index + 1,
                "segment": "shifted" if drifting else "usual",
                **traffic,
                "reviewed": reviewed,
                "labels": labels,
                "status": report["status"],
                "drift_share": report["drift_share"],
                "drifted": [f["column"] for f in report["drift"]["features"] if f["alarm"]],
                "estimated_roc_auc": report["metrics"].get("estimated.roc_auc"),
                "alerts": fired,
            }
            if "drift" in fired:
                events.append(
                    {"window": index + 1, "event": "drift detected", "detail": window["drifted"]}
                )
            retrained = await asyncio.to_thread(_run_jobs, ws, "retrain")
            for job in retrained:
                result = job.get("result") or {}
                events.append(
                    {
                        "window": index + 1,
                        "event": f"retraining {result.get('outcome', job['status'])}",
                        "detail": {
                            "model": result.get("model"),
                            "training_data": (result.get("data") or {}).get("dataset"),
                            "feedback_rows": (result.get("data") or {}).get("feedback_rows"),
                            "strategy": (result.get("deployment") or {}).get("strategy"),
                        },
                    }
                )
                await runtime.reload()
            decision = await asyncio.to_thread(_analyse, ws)
            if decision is not None:
                window["experiment"] = decision["decision"]
                if decision["decision"] != "continue":
                    events.append(
                        {
                            "window": index + 1,
                            "event": f"experiment: {decision['decision']}",
                            "detail": decision,
                        }
                    )
                    await runtime.reload()
            windows.append(window)
    finally:
        await runtime.stop()
    final = await asyncio.to_thread(lambda: run_monitor(ws, window=timedelta(days=1), route=False))
    return {"windows": windows, "events": events, "final": final}


def _run_jobs(ws: Workspace, kind: str) -> list[dict[str, Any]]:
    """Run the queued jobs of a kind here (the demo's worker); returns them finished."""
    from loopline.jobs import get_job, job_dict, list_jobs

    with ws.store.transaction() as session:
        queued = [j.id for j in list_jobs(session, kind=kind, status="queued")]
    if not queued:
        return []
    worker = Worker(ws, kinds=[kind], schedule=False, poll_seconds=0.01)
    for _ in queued:
        worker.run_once()
    with ws.store.transaction() as session:
        return [job_dict(get_job(session, job_id)) for job_id in queued]


def _analyse(ws: Workspace) -> dict[str, Any] | None:
    """Look at the running experiment (if any) and act on a final decision."""
    with ws.store.transaction() as session:
        row = running_experiment(session, ws.project.spec.name)
        uid = row.uid if row is not None else None
    if uid is None:
        return None
    result = analyze_experiment(ws, uid, act=True)
    analysis = result.get("analysis") or {}
    comparison = analysis.get("comparison") or {}
    sequential = analysis.get("sequential") or {}
    return {
        "metric": analysis.get("metric"),
        "decision": analysis.get("decision"),
        "reason": analysis.get("reason"),
        "arms": {
            role: {
                k: arm.get(k)
                for k in ("model", "answers", "labelled", "estimate", "ci_low", "ci_high")
            }
            for role, arm in (analysis.get("arms") or {}).items()
        },
        "difference": comparison.get("difference"),
        "ci": [comparison.get("ci_low"), comparison.get("ci_high")],
        "sequential_p": sequential.get("p_value"),
        "planned_n": analysis.get("planned_n"),
        "action": analysis.get("action"),
    }


def run_loop(
    ws: Workspace,
    *,
    seed: int = 42,
    settings: LoopSettings | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the simulated loop on a deployed project: windows, events and the final report."""
    return asyncio.run(_loop(ws, settings or LoopSettings(), seed, say or (lambda _m: None)))
