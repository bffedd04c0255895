"""Where the CPU of a 500-row request goes: loopline's threads and processes against the floor.

``python -m bench.serving_cpu`` (``--rounds N``, default 2; ``--seconds S``, default 10).

``bench.serving`` says how fast each server is; this says what each spends. It builds the same
project as ``bench.serving`` (the bundled credit example, ingested, trained, deployed), then in
each round starts the floor and ``loopline serve`` on a fresh copy of the project (the store's
size changes the case commit), one at a time in alternating order, and drives each with
``wrk -t1 -c8`` and 500-row requests after a 3 s warm-up. For each run it reads, from
``/proc``, the CPU time of the server's whole process tree (the model process and the fork
server included) and of each of its threads, and the machine's busy share from ``/proc/stat``;
it reports rows/s, CPU milliseconds per request and, for loopline, per thread (named by
process and thread name). Linux only. Results go to ``bench/results/serving_cpu.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import serving as http_bench

RESULTS = http_bench.ROOT / "bench" / "results" / "serving_cpu.json"
_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def _threads(pid: int) -> dict[tuple[int, int, str], float]:
    """CPU seconds of every thread in ``pid``'s tree, keyed by (process, thread, name)."""
    seconds: dict[tuple[int, int, str], float] = {}
    for process in _tree(pid):
        with_name = Path(f"/proc/{process}/comm")
        try:
            process_name = with_name.read_text().strip()
            tasks = list(Path(f"/proc/{process}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat.split("(", 1)[1].rsplit(")", 1)[0]
            fields = stat.rsplit(")", 1)[1].split()
            key = (process, int(task.name), f"{process_name}/{name}")
            seconds[key] = (int(fields[11]) + int(fields[12])) / _TICK
    return seconds


def _machine() -> tuple[int, int]:
    """Busy and total jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _run(server: http_bench.Server, script: Path, seconds: float) -> dict[str, Any]:
    assert server.process is not None
    http_bench.run_wrk(server.url, script, 8, 3)  # warm-up
    before, machine_before = _threads(server.process.pid), _machine()
    result = http_bench.run_wrk(server.url, script, 8, seconds)
    after, machine_after = _threads(server.process.pid), _machine()
    requests = max(int(result["requests"]), 1)
    per_thread: dict[str, float] = {}
    pid = server.process.pid
    for (process, thread, name), spent in after.items():
        delta = (spent - before.get((process, thread, name), 0.0)) * 1000 / requests
        if delta < 0.05:
            continue
        if process != pid:  # a child process (the model process): its threads together
            label = f"child process {process} ({name.split('/')[0]})"
        elif thread == pid:
            label = "server: main thread (event loop)"
        else:  # Python does not name threads for the OS: told apart by id
            label = f"server: thread {thread} ({name.split('/')[1]})"
        per_thread[label] = per_thread.get(label, 0.0) + delta
    busy = (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1)
    return {
        "rows_per_s": result["rps"] * http_bench.BATCH_ROWS,
        "cpu_ms_per_request": sum(per_thread.values()),
        "machine_busy": busy,
        "non_2xx": result["non_2xx"],
        "threads_ms_per_request": dict(sorted(per_thread.items(), key=lambda kv: -kv[1])),
    }


def main(argv: list[str] | None = None) -> int:
    """Build, measure each server in alternating order, print, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not Path("/proc/stat").exists() or shutil.which("wrk") is None:
        print("Linux with wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    console = Console(width=None if sys.stdout.isatty() else 120)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "loopline": []}
    with tempfile.TemporaryDirectory(prefix="loopline-bench-cpu-") as tmp:
        root = Path(tmp)
        console.print("building the project (ingest, train, deploy) ...")
        project = http_bench.build_project(root)
        floor_model, _, columns = http_bench.export_model(project, root)
        token = http_bench.api_token(project)
        many = http_bench.payload_rows(columns, http_bench.BATCH_ROWS)
        logs = root / "logs"
        logs.mkdir()
        for round_ in range(args.rounds):
            order = ["floor", "loopline"] if round_ % 2 == 0 else ["loopline", "floor"]
            for name in order:
                port = http_bench._free_port()
                if name == "floor":
                    server = http_bench.floor_server(floor_model, port)
                else:
                    fresh = root / f"round-{round_}"
                    shutil.copytree(project, fresh)
                    command = [http_bench._bin("loopline"), "serve", "--host", http_bench.HOST]
                    server = http_bench.Server(
                        name,
                        [*command, "--port", str(port)],
                        fresh,
                        port,
                        f"/api/v1/predict/{http_bench.USE_CASE}",
                        "/readyz",
                        "records",
                        headers={} if token is None else {"Authorization": f"Bearer {token}"},
                    )
                script = http_bench.lua_script(root, server, [many])
                with http_bench.running([server], logs):
                    measured = _run(server, script, args.seconds)
                runs[name].append(measured)
                console.print(
                    f"round {round_ + 1} {name:9s} {measured['rows_per_s']:9,.0f} rows/s  "
                    f"{measured['cpu_ms_per_request']:5.1f} ms CPU per request  "
                    f"machine {measured['machine_busy']:.0%} busy"
                )
    summary = {
        name: {
            "rows_per_s": statistics.median(r["rows_per_s"] for r in measured_runs),
            "cpu_ms_per_request": statistics.median(r["cpu_ms_per_request"] for r in measured_runs),
            "machine_busy": statistics.median(r["machine_busy"] for r in measured_runs),
        }
        for name, measured_runs in runs.items()
    }
    table = Table(title="500 rows, 8 connections: CPU per request (medians)")
    for column in ("server", "rows/s", "CPU ms/request", "machine busy"):
        table.add_column(column, justify="left" if column == "server" else "right")
    for name, row in summary.items():
        table.add_row(
            name,
            f"{row['rows_per_s']:,.0f}",
            f"{row['cpu_ms_per_request']:.1f}",
            f"{row['machine_busy']:.0%}",
        )
    console.print(table)
    threads = Table(title="loopline, last round: CPU ms per request by thread")
    threads.add_column("process/thread")
    threads.add_column("ms", justify="right")
    for label, spent in runs["loopline"][-1]["threads_ms_per_request"].items():
        threads.add_row(label, f"{spent:.2f}")
    console.print(threads)
    out = {
        "benchmark": "serving_cpu",
        "command": "python -m bench.serving_cpu",
        "settings": {"rounds": args.rounds, "seconds": args.seconds, "connections": 8},
        "machine": {"cpus": os.cpu_count(), "cpu": http_bench._cpu()},
        "source": http_bench._source(),
        "medians": summary,
        "runs": runs,
    }
    http_bench.save(out, args.out, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
