"""The demo runs the whole loop on the bundled example and says the same thing for the same seed."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from loopline.demo import create_demo_project, run_demo
from loopline.demo._loop import LoopSettings
from loopline.settings import load_settings

LOOP = LoopSettings(windows=6, drift_from=2, rows_per_window=800)


def _run(root: Path) -> dict[str, Any]:
    project = create_demo_project(root / "demo")
    settings = load_settings({"LOOPLINE_ACTOR": "demo"}, project_dir=project)
    summary = run_demo(settings, seed=7, loop=LOOP).to_dict()
    steps = [s for s in summary["steps"] if s["step"] not in ("access", "openlineage", "check")]
    return {"steps": steps}


def test_the_demo_runs_the_loop_and_is_deterministic(tmp_path: Path) -> None:
    # the second run in a new Python process, beside the first: the same summary must come out
    # of another process too, and the two runs overlap instead of adding up
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as other:
        pending = other.submit(_run, tmp_path / "b")
        first = _run(tmp_path / "a")
        second = pending.result(timeout=600)
    by_step = {s["step"]: s for s in first["steps"]}
    assert [s["status"] for s in first["steps"] if s["step"] == "ingest"][:3] == [
        "accepted",
        "accepted",
        "refused",
    ]
    assert by_step["train"]["state"] == "candidate"
    loop = by_step["loop"]
    assert len(loop["windows"]) == LOOP.windows
    assert all(w["drift_share"] == 0 for w in loop["windows"][: LOOP.drift_from])
    events = [e["event"] for e in loop["events"]]
    assert events[0] == "drift detected"
    # monitoring windows span two traffic windows: the shift is caught once it fills one
    assert LOOP.drift_from < loop["events"][0]["window"] <= LOOP.drift_from + 2
    assert "retraining deployed" in events
    assert any(w.get("experiment") for w in loop["windows"])
    outcome = by_step["outcome"]
    assert {s["metric"] for s in outcome["success"]} == {
        "automation_rate >= 0.70",
        "precision_auto >= 0.60",
        "review_sla_hours <= 24",
    }
    assert all(s["met"] in (True, False) for s in outcome["success"])
    assert second == first
