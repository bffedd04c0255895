"""End-to-end ingest of 1,000,000 rows x 20 columns, against reading the CSV and writing Parquet.

loopline's ingest reads the CSV, validates it against about 40 checks, writes a Delta version and
the quarantine, profiles the version and records it (store, lineage, audit, OpenLineage, a copy of
the source file). The floor does only what any pipeline must: read the CSV and write Parquet.

    python -m bench.ingest --rows 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from bench.validation import contract_yaml, make_data

PROJECT = """\
name: bench
objective:
  task: binary_classification
  target: label
  positive_class: 1
  costs: {false_positive: 1, false_negative: 1, review: 1}
  success: [automation_rate >= 0.5]
data: {contract: contract.yaml, dataset: bench}
"""


def _loopline_once(csv: Path, folder: Path) -> float:
    from loopline._api import ingest_path
    from loopline._workspace import Workspace
    from loopline.settings import load_settings

    (folder / "loopline.yaml").write_text(PROJECT)
    (folder / "contract.yaml").write_text(contract_yaml())
    ws = Workspace(load_settings({"LOOPLINE_ACTOR": "bench"}, project_dir=folder))
    try:
        ws.store  # noqa: B018  (open and migrate the store outside the timed part)
        start = time.perf_counter()
        result = ingest_path(ws, csv)
        elapsed = time.perf_counter() - start
    finally:
        ws.close()
    if result.status != "accepted":
        raise SystemExit(f"ingest was {result.status}: {result.refusal_reasons}")
    return elapsed


def _floor_once(csv: Path, folder: Path) -> float:
    start = time.perf_counter()
    pl.read_csv(csv, infer_schema_length=10_000).write_parquet(folder / "out.parquet")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/ingest.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    args = parser.parse_args(argv)
    console = Console(width=120)
    times: dict[str, list[float]] = {"loopline_ingest": [], "read_csv_write_parquet": []}
    with tempfile.TemporaryDirectory(prefix="loopline-bench-ingest-") as root:
        csv = Path(root) / "data.csv"
        make_data(args.rows).write_csv(csv)
        for run in range(args.runs):
            for name, once in (
                ("read_csv_write_parquet", _floor_once),
                ("loopline_ingest", _loopline_once),
            ):
                folder = Path(root) / f"{name}-{run}"
                folder.mkdir()
                times[name].append(once(csv, folder))
                console.print(f"run {run + 1}: {name} {times[name][-1]:.2f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["loopline_ingest"] / medians["read_csv_write_parquet"]
    results: dict[str, Any] = {
        "rows": args.rows,
        "runs": args.runs,
        "python": platform.python_version(),
        "median_s": medians,
        "times_s": times,
        "ratio_to_floor": ratio,
    }
    table = Table(title=f"ingest of {args.rows:,} rows x 20 columns (median of {args.runs})")
    for column in ("step", "median s", "x floor"):
        table.add_column(column)
    for name, value in medians.items():
        table.add_row(name, f"{value:.2f}", f"{value / medians['read_csv_write_parquet']:.2f}")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
