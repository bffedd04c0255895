"""Benchmark: a drift report of 1,000,000 current against 1,000,000 reference rows x 25 columns.

``python -m bench.drift --rows 1000000 --runs 3`` (``--rows 20000 --runs 1`` for a smoke run).

The data (20 numeric and 5 categorical columns, fixed seed) is written once to Parquet. The
current rows come from the same generator with another seed, except four columns that really
shift (:data:`SHIFTED`). Three contestants, each in its own process, the whole process measured
(start, imports, reading the data, the report), median of ``--runs`` processes:

- ``evidently``: ``Report([DataDriftPreset()])`` with its defaults, on pandas frames. Evidently
  0.7 does not import with pandas 3; give it an interpreter of its own with
  ``--evidently-python`` (see docs/benchmarks.md);
- ``floor``: NumPy/SciPy computing the same statistics per column: ``ks_2samp``,
  ``wasserstein_distance``, PSI with ``np.histogram`` on reference deciles, and for categorical
  columns ``chi2_contingency`` and ``jensenshannon``; a column is flagged when its p-value is
  below 0.05 (no FDR control, no minimum effect: the naive rule);
- ``loopline``: ``drift_report(profile, current)``, the profile built beforehand from the
  reference (``build_reference`` then ``to_bytes``, as training does once); the profile build
  is timed and reported apart.

Peak memory is the process's maximum RSS. Each contestant also reports the columns it flags.
Results go to ``bench/results/drift.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SEED = 20240607
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
#: The columns whose distribution really moves in the current data, and how.
SHIFTED = {
    "num_00": "mean + 0.5 sd",
    "num_06": "sd x 1.3",
    "num_11": "log-mean + 0.2",
    "cat_0": "one category's share doubles (10% -> 20%)",
}
TOOLS = ("evidently", "floor", "loopline")
_CATEGORIES = [3, 5, 8, 12, 30]


def make_data(rows: int, seed: int, *, shifted: bool) -> pl.DataFrame:
    """``rows`` rows of the 25 columns; with ``shifted``, :data:`SHIFTED` move."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        move = shifted and name in SHIFTED
        kind = i % 5
        if kind == 0:
            data[name] = rng.normal(i + (0.5 * (1 + i / 10) if move else 0.0), 1 + i / 10, rows)
        elif kind == 1:
            data[name] = rng.normal(50.0, 10.0 * (1.3 if move else 1.0), rows)
        elif kind == 2:
            data[name] = rng.lognormal(2.0 + (0.2 if move else 0.0), 0.6, rows)
        elif kind == 3:
            data[name] = rng.poisson(3 + i, rows)  # integers: many ties
        else:
            data[name] = rng.gamma(2.0, 2.0, rows)
    for j, name in enumerate(CATEGORICAL):
        k = _CATEGORIES[j]
        weights = 1.0 / np.arange(1, k + 1)
        shares = weights / weights.sum()
        if j == 0:
            shares = np.array([0.1, 0.45, 0.45])
            if shifted and name in SHIFTED:
                shares = np.array([0.2, 0.4, 0.4])
        labels = np.array([f"{name}_{c}" for c in range(k)])
        data[name] = labels[rng.choice(k, rows, p=shares)]
    return pl.DataFrame(data)


# --- the contestants (each runs in a process of its own) --------------------------------------


def run_evidently(folder: Path) -> dict[str, Any]:
    """Evidently's DataDriftPreset with defaults; flagged = its per-column drift verdict."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    flagged = []
    for metric in result["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        value, threshold = metric["value"], config["threshold"]
        p_value = "p_value" in config["method"] or "test" in config["method"].lower()
        if (value < threshold) if p_value else (value >= threshold):
            flagged.append(config["column"])
    return {"compute_s": seconds, "flagged": flagged}


def run_floor(folder: Path) -> dict[str, Any]:
    """The same statistics with NumPy/SciPy, column by column; flagged = p-value < 0.05."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    reference = pl.read_parquet(folder / "reference.parquet")
    current = pl.read_parquet(folder / "current.parquet")
    start = time.perf_counter()
    flagged = []
    for name in NUMERIC:
        r, c = reference[name].to_numpy(), current[name].to_numpy()
        ks = stats.ks_2samp(r, c)
        distance = stats.wasserstein_distance(r, c) / r.std()
        edges = np.unique(np.quantile(r, np.linspace(0.1, 0.9, 9)))
        bounds = np.concatenate(([-np.inf], edges, [np.inf]))
        rc, cc = np.histogram(r, bounds)[0], np.histogram(c, bounds)[0]
        p, q = np.clip(rc / r.size, 1e-4, None), np.clip(cc / c.size, 1e-4, None)
        psi = float(np.sum((q - p) * np.log(q / p)))
        table = np.array([rc, cc])
        stats.chi2_contingency(table[:, table.sum(axis=0) > 0])
        del distance, psi
        if ks.pvalue < 0.05:
            flagged.append(name)
    for name in CATEGORICAL:
        r, c = reference[name].to_numpy(), current[name].to_numpy()
        categories = np.union1d(np.unique(r), np.unique(c))
        rc = np.array([np.count_nonzero(r == v) for v in categories])
        cc = np.array([np.count_nonzero(c == v) for v in categories])
        test = stats.chi2_contingency(np.array([rc, cc]))
        jensenshannon(rc, cc, base=2)
        if test.pvalue < 0.05:
            flagged.append(name)
    return {"compute_s": time.perf_counter() - start, "flagged": flagged}


def build_profile(folder: Path) -> dict[str, Any]:
    """loopline's reference profile, built once (as at training) and stored as bytes."""
    from loopline.monitoring import build_reference

    reference = pl.read_parquet(folder / "reference.parquet")
    start = time.perf_counter()
    data = build_reference(reference).to_bytes()
    seconds = time.perf_counter() - start
    (folder / "profile.parquet").write_bytes(data)
    return {"compute_s": seconds, "bytes": len(data)}


def run_loopline(folder: Path) -> dict[str, Any]:
    """``drift_report`` of the current rows against the stored profile; flagged = alarms."""
    from loopline.monitoring import ReferenceProfile, drift_report

    profile = ReferenceProfile.from_bytes((folder / "profile.parquet").read_bytes())
    current = pl.read_parquet(folder / "current.parquet")
    start = time.perf_counter()
    report = drift_report(profile, current)
    return {"compute_s": time.perf_counter() - start, "flagged": report.alarmed}


WORKERS = {
    "evidently": run_evidently,
    "floor": run_floor,
    "loopline": run_loopline,
    "profile": build_profile,
}

# --- measuring ----------------------------------------------------------------------------------

_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'rc': done.returncode, 'out': done.stdout, 'err': done.stderr[-3000:],"
    " 'maxrss_kb': peak, 'wall_s': wall}))\n"
)


def _measured(python: str, worker: str, folder: Path) -> dict[str, Any]:
    """Run one worker in a child of a fresh process: its wall time, peak RSS and its answer."""
    command = [sys.executable, "-c", _MEASURE, python, "-m", "bench.drift"]
    arguments = ["--worker", worker, "--data", str(folder)]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, check=True)
    outcome: dict[str, Any] = json.loads(done.stdout)
    if outcome["rc"] != 0:
        raise RuntimeError(f"bench.drift worker {worker} failed:\n{outcome['err']}")
    answer = json.loads(outcome["out"].strip().splitlines()[-1])
    return {**answer, "wall_s": outcome["wall_s"], "peak_mb": outcome["maxrss_kb"] / 1024}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    flagged = runs[-1].get("flagged", [])
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "compute_s": statistics.median(r["compute_s"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "runs_wall_s": [r["wall_s"] for r in runs],
        "flagged_shifted": [c for c in flagged if c in SHIFTED],
        "flagged_unshifted": [c for c in flagged if c not in SHIFTED],
    }


def _targets(tools: dict[str, Any]) -> dict[str, Any]:
    ours = tools.get("loopline")
    if not ours:
        return {}
    targets: dict[str, Any] = {
        "no_alarm_on_unshifted": {
            "value": ours["flagged_unshifted"],
            "met": not ours["flagged_unshifted"],
        },
        "catches_every_shift": {
            "value": ours["flagged_shifted"],
            "met": sorted(ours["flagged_shifted"]) == sorted(SHIFTED),
        },
    }
    if "evidently" in tools:
        speedup = tools["evidently"]["wall_s"] / ours["wall_s"]
        targets["speedup_vs_evidently"] = {
            "value": round(speedup, 2),
            "target": 20,
            "met": speedup >= 20,
        }
        memory = ours["peak_mb"] < tools["evidently"]["peak_mb"]
        targets["peak_memory_below_evidently"] = {"value": round(ours["peak_mb"]), "met": memory}
    if "floor" in tools:
        ratio = ours["wall_s"] / tools["floor"]["wall_s"]
        targets["ratio_to_floor"] = {"value": round(ratio, 3), "target": 2.0, "met": ratio <= 2.0}
    return targets


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    table = Table(
        title=f"Drift of {results['rows']:,} current vs {results['rows']:,} reference rows x 25 "
        f"columns (median of {results['runs']} processes)",
        title_justify="left",
    )
    for header in (
        "tool",
        "process s",
        "report s",
        "peak MB",
        "shifted caught",
        "unshifted flagged",
    ):
        table.add_column(
            header, justify="left" if "tool" in header or "flag" in header else "right"
        )
    for tool, entry in results["tools"].items():
        table.add_row(
            tool,
            f"{entry['wall_s']:.2f}",
            f"{entry['compute_s']:.2f}",
            f"{entry['peak_mb']:.0f}",
            f"{len(entry['flagged_shifted'])}/{len(SHIFTED)}",
            ", ".join(entry["flagged_unshifted"]) or "none",
        )
    console.print(table)
    profile = results.get("profile")
    if profile:
        console.print(
            f"profile build (once, at training): {profile['compute_s']:.2f} s, "
            f"{profile['bytes'] / 1e6:.0f} MB stored"
        )
    for label, target in results["targets"].items():
        mark = "[green]met[/green]" if target["met"] else "[red]NOT met[/red]"
        console.print(f"{label}: {target['value']} (target {target.get('target', '')}) {mark}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one contestant once)."""
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument(
        "--evidently-python",
        default=os.environ.get("LOOPLINE_BENCH_EVIDENTLY_PYTHON", sys.executable),
        help="the interpreter that runs Evidently (one with evidently and pandas < 3)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/drift.json"))
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.data)))
        return 0
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    results: dict[str, Any] = {"rows": args.rows, "runs": args.runs, "shifted": SHIFTED}
    if "evidently" in tools and not _importable(args.evidently_python, "evidently"):
        reason = f"evidently does not import with {args.evidently_python}"
        print(f"skipping evidently: {reason} (see --evidently-python)", flush=True)
        tools.remove("evidently")
        results["skipped"] = {"evidently": reason}
    with tempfile.TemporaryDirectory(prefix="loopline-bench-drift-") as name:
        folder = Path(name)
        make_data(args.rows, SEED, shifted=False).write_parquet(folder / "reference.parquet")
        make_data(args.rows, SEED + 1, shifted=True).write_parquet(folder / "current.parquet")
        measured: dict[str, Any] = {}
        if "loopline" in tools:
            print("building the reference profile ...", flush=True)
            results["profile"] = _measured(sys.executable, "profile", folder)
        for tool in tools:
            python = args.evidently_python if tool == "evidently" else sys.executable
            runs = []
            for run in range(args.runs):
                print(f"running {tool} ({run + 1}/{args.runs}) ...", flush=True)
                runs.append(_measured(python, tool, folder))
            measured[tool] = _summary(runs)
    results.update(
        {
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "versions": _versions(args.evidently_python if "evidently" in tools else None),
            "tools": measured,
            "targets": _targets(measured),
        }
    )
    _print(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _importable(python: str, module: str) -> bool:
    done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
    return done.returncode == 0


def _versions(evidently_python: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for package in ("numpy", "scipy", "polars"):
        out[package] = metadata.version(package)
    if evidently_python:
        probe = "import evidently, pandas; print(evidently.__version__, pandas.__version__)"
        done = subprocess.run(
            [evidently_python, "-c", probe], capture_output=True, text=True, check=False
        )
        versions = done.stdout.split() or ["not importable", "?"]
        out["evidently"], out["pandas (evidently)"] = versions[0], versions[-1]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
