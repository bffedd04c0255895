"""How long a ``loopline`` command takes to start, against Python starting the CLI's own framework.

``python -m bench.cli_startup`` (``--runs N``, default 7; ``--out PATH``).

Builds the bundled example as ``bench.serving`` does (ingested, trained, deployed), then runs
each command in a new process ``--runs`` times and keeps the median wall time: the help, which
reads nothing, and commands that only read the store. The floor is a Python that imports Typer
and Rich and prints nothing (what any Typer CLI pays before its first line of output). Results
go to ``bench/results/cli_startup.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import serving as http_bench

RESULTS = http_bench.ROOT / "bench" / "results" / "cli_startup.json"
COMMANDS = [["--help"], ["models", "list"], ["datasets", "list"], ["review", "list"], ["audit"]]
FLOOR = [sys.executable, "-c", "import typer, rich.console, rich.table"]


def _median_seconds(command: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            command, cwd=cwd, env=http_bench._child_env(), capture_output=True, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Build the project, time each command and the floor, print, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 100)
    with tempfile.TemporaryDirectory(prefix="loopline-bench-cli-") as tmp:
        console.print("building the project (ingest, train, deploy) ...")
        project = http_bench.build_project(Path(tmp))
        floor = _median_seconds(FLOOR, project, args.runs)
        timed: dict[str, Any] = {}
        for command in COMMANDS:
            seconds = _median_seconds([http_bench._bin("loopline"), *command], project, args.runs)
            timed["loopline " + " ".join(command)] = {
                "seconds": round(seconds, 3),
                "ratio_to_floor": round(seconds / floor, 2),
            }
    table = Table(title=f"CLI start to exit, medians of {args.runs} (floor {floor:.3f} s)")
    for column in ("command", "seconds", "ratio to floor"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, row in timed.items():
        table.add_row(name, f"{row['seconds']:.3f}", f"{row['ratio_to_floor']:.1f}")
    console.print(table)
    http_bench.save(
        {
            "benchmark": "cli_startup",
            "command": "python -m bench.cli_startup",
            "runs": args.runs,
            "floor": {"command": " ".join(FLOOR[1:]), "seconds": round(floor, 3)},
            "commands": timed,
            "machine": {"cpus": os.cpu_count(), "cpu": http_bench._cpu()},
            "source": http_bench._source(),
        },
        args.out,
        console,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
