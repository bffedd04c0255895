"""Benchmark: serving speed of loopline against ``mlflow models serve`` and a floor.

``python -m bench.serving`` (``--quick`` for a smoke run: 2 s per measurement, one repetition).

One model for everyone: the bundled credit example (``examples/credit-default``) is copied to a
temporary project, ingested, trained (OneHotEncoder + HistGradientBoosting, as its
``loopline.yaml`` says) and deployed with ``loopline deploy credit-default@1 --strategy direct``.
Its registered scikit-learn pipeline is then handed to the two other servers:

- **mlflow**: ``mlflow.sklearn.save_model`` (with a signature inferred from the training columns
  and ``pyfunc_predict_fn="predict_proba"``, so it does the same model work), served by
  ``mlflow models serve --env-manager local -w 1``. MLflow sets no thread limit of its own.
- **floor**: ``bench/serving_floor.py``, a Starlette app that only parses the JSON, builds the
  frame and calls ``predict_proba``, with native thread pools limited to one thread
  (threadpoolctl), as loopline limits its model thread.
- **loopline**: ``loopline serve`` (one worker) with everything the product does on: API-token
  authentication (when this loopline has it), validation against the signature, calibration,
  confidence, conformal set, escalation decisions (a review case is opened for each escalated
  row), routing, Prometheus metrics and the Parquet prediction log.
- **loopline-tuned**: the same, on a copy of the project whose escalation policy was tuned as the
  README tour does (``loopline policy tune --target automation_rate=0.70``): the example's
  untuned threshold (``confidence_below: 0.80``) escalates three rows in four.

All four run side by side as subprocesses on 127.0.0.1 (free ports, one worker each, the thread
environment variables ``OMP_NUM_THREADS`` and friends removed so each server's own thread
control is what is measured). wrk drives each with its native payload, ``{"records": [...]}``
for loopline and the floor and ``{"dataframe_records": [...]}`` for MLflow, in three scenarios:
one row at concurrency 1 (latency), one row at concurrency 64 (throughput under load), 500 rows
at concurrency 8 (bulk rows/s). Single-row requests cycle through the first 500 rows of the data
(so loopline sees the data's mix of automatic and escalated answers); the 500-row request carries
those same rows. Each measurement is ``wrk -t1 -cC -dDs --latency`` after one unmeasured warm-up
per server and scenario; the servers take turns in a rotating order, and the median of the
repetitions is reported. Results go to ``bench/results/serving.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import os
import pickle
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit-default"
RESULTS = ROOT / "bench" / "results" / "serving.json"
MODEL = "credit-default@1"
USE_CASE = "credit-default"
HOST = "127.0.0.1"
BATCH_ROWS = 500
#: name -> (rows per request, concurrent connections)
SCENARIOS: dict[str, tuple[int, int]] = {
    "single_c1": (1, 1),
    "single_c64": (1, 64),
    "rows500_c8": (BATCH_ROWS, 8),
}
SERVERS = ("mlflow", "floor", "loopline", "loopline-tuned")
#: the README tour's `loopline policy tune` target, for the second loopline server
TUNED_TARGET = "automation_rate=0.70"
#: environment variables that would impose a thread limit the server did not set itself
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: the issue's targets for loopline
P50_VS_FLOOR = 1.3
RPS_VS_MLFLOW = 10.0
RPS_VS_FLOOR = 4.0


# ---------------------------------------------------------------------------------------------
# set-up: project, model exports, payloads


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (or on PATH)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"`{name}` was not found next to {sys.executable} nor on PATH.")
    return found


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["LOOPLINE_ACTOR"] = "bench"
    env["PYTHONUNBUFFERED"] = "1"
    # `mlflow models serve` execs `uvicorn` from PATH: this environment's, as for the others
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _cli(project: Path, args: list[str]) -> str:
    """Run ``loopline ARGS --json`` in the project; its output, or exit with what it said."""
    done = subprocess.run(
        [_bin("loopline"), *args, "--json"],
        cwd=project,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"`loopline {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_project(root: Path) -> Path:
    """Copy the credit example, ingest, train and deploy it with the CLI."""
    project = root / "project"
    shutil.copytree(EXAMPLE, project)
    _cli(project, ["ingest", "data/credit_default.csv.gz"])
    _cli(project, ["train"])
    _cli(project, ["deploy", MODEL, "--strategy", "direct"])
    return project


def tuned_copy(project: Path, root: Path) -> Path:
    """A copy of the deployed project whose policy is tuned as the README tour does it."""
    tuned = root / "tuned"
    shutil.copytree(project, tuned)
    _cli(tuned, ["policy", "tune", "--target", TUNED_TARGET])
    return tuned


def api_token(project: Path) -> str | None:
    """A ``predict`` API token for the server, when this loopline has authentication.

    A production server runs with authentication on, so loopline is measured with a bearer
    token (looked up once, then cached by the server). A loopline without ``loopline tokens``
    gets no header.
    """
    probe = subprocess.run(
        [_bin("loopline"), "tokens", "--help"],
        cwd=project,
        env=_child_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        return None
    _cli(project, ["users", "add", "bench", "--role", "maintainer"])
    created = _cli(
        project, ["tokens", "create", "--user", "bench", "--scope", "predict", "--name", "bench"]
    )
    token: str = json.loads(created)["token"]
    return token


def export_model(project: Path, root: Path) -> tuple[Path, Path, list[str]]:
    """Pickle the registered pipeline for the floor and save it as an MLflow model."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    from loopline._api_models import load_trained_model
    from loopline._workspace import Workspace
    from loopline.settings import load_settings

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its note on pickle formats
    ws = Workspace(load_settings({"LOOPLINE_ACTOR": "bench"}, project_dir=project))
    try:
        model = load_trained_model(ws, MODEL)
    finally:
        ws.close()
    pipeline = model.pipeline
    columns = list(model.signature.names)
    floor_model = root / "floor-model.pkl"
    with floor_model.open("wb") as handle:
        pickle.dump({"pipeline": pipeline, "columns": columns}, handle)
    sample = pd.read_csv(EXAMPLE / "data" / "credit_default.csv.gz", nrows=1000)[columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # integer columns cannot hold missing values: known
        signature = infer_signature(sample, pipeline.predict_proba(sample))
    mlflow_model = root / "mlflow-model"
    mlflow.sklearn.save_model(
        pipeline,
        str(mlflow_model),
        signature=signature,
        pyfunc_predict_fn="predict_proba",
        # MLflow's default format, skops, needs another package; the format only changes how
        # the model is loaded, not how fast it predicts
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        pip_requirements=["scikit-learn", "pandas"],  # --env-manager local never installs them
    )
    return floor_model, mlflow_model, columns


def payload_rows(columns: list[str], rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows of the example's data, input columns only, as JSON values."""
    with gzip.open(EXAMPLE / "data" / "credit_default.csv.gz", "rt") as handle:
        header = handle.readline().strip().split(",")
        out = []
        for line in handle:
            values = dict(zip(header, line.strip().split(","), strict=True))
            out.append({c: int(values[c]) for c in columns})
            if len(out) == rows:
                break
    return out


# ---------------------------------------------------------------------------------------------
# servers


@dataclass
class Server:
    """A server under test: how to start it, where to send what."""

    name: str
    command: list[str]
    cwd: Path
    port: int
    predict_path: str
    health_path: str
    records_key: str
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.predict_path}"

    def body(self, records: list[dict[str, Any]]) -> bytes:
        return json.dumps({self.records_key: records}).encode()


def floor_server(floor_model: Path, port: int) -> Server:
    """The floor (``bench/serving_floor.py``) serving the pickled pipeline on ``port``."""
    command = [sys.executable, "-m", "bench.serving_floor", "--model", str(floor_model)]
    return Server(
        "floor", [*command, "--port", str(port)], ROOT, port, "/predict", "/health", "records"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(server: Server, logs: Path, timeout: float = 180.0) -> None:
    """Start the server in its own process group and wait until it answers its health check."""
    server.log = logs / f"{server.name}.log"
    with server.log.open("wb") as out:
        server.process = subprocess.Popen(
            server.command,
            cwd=server.cwd,
            env=_child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    health = f"http://{HOST}:{server.port}{server.health_path}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{_tail(server.log)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} was not healthy after {timeout:.0f} s:\n{_tail(server.log)}")


def stop(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    process = server.process
    if process is None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # children a server forked (MLflow's uvicorn) share the group: make sure none is left
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    server.process = None


@contextlib.contextmanager
def running(servers: list[Server], logs: Path) -> Iterator[list[Server]]:
    """Start every server; stop every one of them whatever happens."""
    try:
        for server in servers:
            start(server, logs)
        yield servers
    finally:
        for server in servers:
            stop(server)


def check_answers(server: Server, one: list[dict[str, Any]], many: list[dict[str, Any]]) -> Any:
    """One request of each size must succeed before anything is measured; the last answer."""
    for records in (one, many):
        request = urllib.request.Request(
            server.url,
            data=server.body(records),
            headers={"Content-Type": "application/json", **server.headers},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"{server.name} answered {error.code}: {error.read()[:500]!r}"
            ) from error
        if not text or b"rror" in text[:200]:
            raise RuntimeError(f"{server.name} answered {text[:500]!r}")
    return json.loads(text)


# ---------------------------------------------------------------------------------------------
# wrk

#: POSTs the bodies of a file (one JSON document a line) in turn
_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}
local bodies = {{}}
for line in io.lines({path}) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


def lua_script(folder: Path, server: Server, requests: list[list[dict[str, Any]]]) -> Path:
    """A wrk script that POSTs the server's native payload for each of ``requests`` in turn."""
    rows = len(requests[0])
    bodies = folder / f"{server.name}-{rows}.jsonl"
    bodies.write_bytes(b"\n".join(server.body(records) for records in requests) + b"\n")
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in server.headers.items()
    )
    script = folder / f"{server.name}-{rows}.lua"
    script.write_text(_LUA.format(path=json.dumps(str(bodies)), headers=headers))
    return script


def parse_wrk(text: str) -> dict[str, float]:
    """p50/p99 (ms), requests/s, requests and errors from ``wrk --latency`` output."""
    percentiles = {int(p): float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(text)}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    if rps is None or total is None or 50 not in percentiles or 99 not in percentiles:
        raise RuntimeError(f"could not read wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "p50_ms": percentiles[50],
        "p75_ms": percentiles.get(75, float("nan")),
        "p90_ms": percentiles.get(90, float("nan")),
        "p99_ms": percentiles[99],
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    """One bounded wrk run against a loopback URL."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing to load anything but {HOST}: {url}")
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------------------------------------
# the run


def _versions() -> dict[str, str]:
    found = {}
    for package in (
        "loopline",
        "mlflow",
        "mlflow-skinny",
        "uvicorn",
        "starlette",
        "fastapi",
        "scikit-learn",
        "pandas",
        "orjson",
        "threadpoolctl",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    found["wrk"] = (wrk.stdout or wrk.stderr).splitlines()[0].split(" [")[0].removeprefix("wrk ")
    found["python"] = platform.python_version()
    return found


def _source() -> dict[str, Any]:
    """The commit the servers ran, and how many files of src/ differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "src_uncommitted_files": len(git("status", "--porcelain", "--", "src").splitlines()),
    }


def _decisions(answer: Any) -> dict[str, Any]:
    """How loopline decided the 500 rows: the share escalated opens review cases."""
    predictions = answer.get("predictions", []) if isinstance(answer, dict) else []
    counts: dict[str, int] = {}
    for item in predictions:
        counts[item.get("decision", "?")] = counts.get(item.get("decision", "?"), 0) + 1
    return counts


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def busy_fraction(seconds: float = 0.5) -> float:
    """The share of the machine's CPU time spent busy over ``seconds`` (Linux; 0 elsewhere)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(limit: float, max_wait: float = 180.0) -> float:
    """Wait (bounded) until other work on the machine stops; the busy share last seen.

    On a shared 2-core machine a test suite running next to the benchmark halves what the
    servers get; waiting for a quiet moment keeps the figures comparable between runs.
    """
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > limit and time.monotonic() < deadline:
        time.sleep(2.0)
        busy = busy_fraction()
    return busy


def measure(
    servers: list[Server],
    scripts: dict[tuple[str, int], Path],
    *,
    seconds: float,
    repetitions: int,
    warmup: float,
    quiet: float,
    console: Console,
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every scenario against every server, ``repetitions`` times, servers in rotating order."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        s.name: {scenario: [] for scenario in SCENARIOS} for s in servers
    }
    for rows, connections in SCENARIOS.values():
        for server in servers:
            run_wrk(server.url, scripts[server.name, rows], connections, warmup)
    for repetition in range(repetitions):
        for scenario, (rows, connections) in SCENARIOS.items():
            shift = repetition % len(servers)
            for server in servers[shift:] + servers[:shift]:
                time.sleep(1.0)  # let the previous server's background work (log flushes) settle
                busy = wait_quiet(quiet)
                result = run_wrk(server.url, scripts[server.name, rows], connections, seconds)
                result["busy_before"] = round(busy, 3)
                result["rows_per_s"] = result["rps"] * rows
                runs[server.name][scenario].append(result)
                console.print(
                    f"  {repetition + 1} {scenario:<11} {server.name:<15}"
                    f"p50 {result['p50_ms']:8.2f} ms  p99 {result['p99_ms']:8.2f} ms  "
                    f"{result['rps']:8.1f} req/s  {result['rows_per_s']:9.0f} rows/s"
                    f"  busy {busy:.0%}"
                    + (
                        f"  ERRORS {result['non_2xx']:.0f}/{result['socket_errors']:.0f}"
                        if result["non_2xx"] or result["socket_errors"]
                        else ""
                    )
                )
    return runs


def summarise(runs: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Medians per server and scenario, the target ratios and whether each is met."""
    medians = {
        server: {
            scenario: {
                key: statistics.median(r[key] for r in results)
                for key in ("p50_ms", "p99_ms", "rps", "rows_per_s")
            }
            | {"errors": sum(r["non_2xx"] + r["socket_errors"] for r in results)}
            for scenario, results in scenarios.items()
        }
        for server, scenarios in runs.items()
    }
    ll, floor, mlflow = medians["loopline"], medians["floor"], medians["mlflow"]
    targets = [
        {
            "target": f"single-row p50 at c1 within {P50_VS_FLOOR}x of the floor",
            "measured": ll["single_c1"]["p50_ms"] / floor["single_c1"]["p50_ms"],
            "bound": P50_VS_FLOOR,
            "met": ll["single_c1"]["p50_ms"] <= P50_VS_FLOOR * floor["single_c1"]["p50_ms"],
        },
        {
            "target": f"single-row req/s at c64 at least {RPS_VS_MLFLOW:g}x MLflow's",
            "measured": ll["single_c64"]["rps"] / mlflow["single_c64"]["rps"],
            "bound": RPS_VS_MLFLOW,
            "met": ll["single_c64"]["rps"] >= RPS_VS_MLFLOW * mlflow["single_c64"]["rps"],
        },
        {
            "target": f"single-row req/s at c64 at least {RPS_VS_FLOOR:g}x the floor's",
            "measured": ll["single_c64"]["rps"] / floor["single_c64"]["rps"],
            "bound": RPS_VS_FLOOR,
            "met": ll["single_c64"]["rps"] >= RPS_VS_FLOOR * floor["single_c64"]["rps"],
        },
        {
            "target": "single-row p99 at c64 no worse than the floor's (ratio <= 1)",
            "measured": ll["single_c64"]["p99_ms"] / floor["single_c64"]["p99_ms"],
            "bound": 1.0,
            "met": ll["single_c64"]["p99_ms"] <= floor["single_c64"]["p99_ms"],
        },
        {
            "target": f"{BATCH_ROWS}-row rows/s at c8 at least the floor's (ratio >= 1)",
            "measured": ll["rows500_c8"]["rows_per_s"] / floor["rows500_c8"]["rows_per_s"],
            "bound": 1.0,
            "met": ll["rows500_c8"]["rows_per_s"] >= floor["rows500_c8"]["rows_per_s"],
        },
    ]
    tuned = medians.get("loopline-tuned")
    if tuned is not None:
        targets.append(
            {
                "target": f"the same, policy tuned as in the README tour ({TUNED_TARGET})",
                "measured": tuned["rows500_c8"]["rows_per_s"] / floor["rows500_c8"]["rows_per_s"],
                "bound": 1.0,
                "met": tuned["rows500_c8"]["rows_per_s"] >= floor["rows500_c8"]["rows_per_s"],
            }
        )
    return {"medians": medians, "targets": targets}


def render(summary: dict[str, Any], console: Console) -> None:
    """The medians and the targets as tables."""
    table = Table(title="Serving, one worker each, medians (wrk -t1)")
    for column in ("scenario", "server", "p50 ms", "p99 ms", "req/s", "rows/s", "errors"):
        table.add_column(column, justify="left" if column in ("scenario", "server") else "right")
    for scenario, (rows, connections) in SCENARIOS.items():
        label = f"{rows} row{'s' if rows > 1 else ''}, c{connections}"
        for server in SERVERS:
            m = summary["medians"][server][scenario]
            table.add_row(
                label,
                server,
                f"{m['p50_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                f"{m['rps']:,.0f}",
                f"{m['rows_per_s']:,.0f}",
                str(m["errors"]),
            )
        table.add_section()
    console.print(table)
    targets = Table(title="loopline's targets")
    for column in ("target", "measured", "bound", "met"):
        targets.add_column(column, justify="left" if column == "target" else "right")
    for t in summary["targets"]:
        targets.add_row(t["target"], f"{t['measured']:.2f}", f"{t['bound']:g}", str(t["met"]))
    console.print(targets)


def main(argv: list[str] | None = None) -> int:
    """Build the project, start the four servers, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, one repetition")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one wrk run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.2,
        help="before each run, wait (up to 3 min) until the machine is at most this busy",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repetitions = 2.0, 1
    if not 0 < args.seconds <= 120 or not 0 < args.repetitions <= 10:
        parser.error("--seconds must be in (0, 120] and --repetitions in [1, 10]")
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        metadata.version("mlflow-skinny")
    except metadata.PackageNotFoundError:
        try:
            metadata.version("mlflow")
        except metadata.PackageNotFoundError:
            print("MLflow is needed: uv pip install mlflow-skinny", file=sys.stderr)
            return 2
    console = Console(width=None if sys.stdout.isatty() else 120)
    with tempfile.TemporaryDirectory(prefix="loopline-bench-serving-") as tmp:
        root = Path(tmp)
        console.print("building the project (ingest, train, deploy) ...")
        project = build_project(root)
        floor_model, mlflow_model, columns = export_model(project, root)
        token = api_token(project)
        tuned = tuned_copy(project, root)  # after the token: the copy's store holds it too
        one, many = payload_rows(columns, 1), payload_rows(columns, BATCH_ROWS)
        ports = {name: _free_port() for name in SERVERS}
        servers = [
            Server(
                "mlflow",
                [
                    _bin("mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(mlflow_model),
                    "--env-manager",
                    "local",
                    "-h",
                    HOST,
                    "-p",
                    str(ports["mlflow"]),
                    "-w",
                    "1",
                ],
                root,
                ports["mlflow"],
                "/invocations",
                "/ping",
                "dataframe_records",
            ),
            floor_server(floor_model, ports["floor"]),
            Server(
                "loopline",
                [_bin("loopline"), "serve", "--host", HOST, "--port", str(ports["loopline"])],
                project,
                ports["loopline"],
                f"/api/v1/predict/{USE_CASE}",
                "/readyz",
                "records",
                headers={} if token is None else {"Authorization": f"Bearer {token}"},
            ),
            Server(
                "loopline-tuned",
                [_bin("loopline"), "serve", "--host", HOST, "--port", str(ports["loopline-tuned"])],
                tuned,
                ports["loopline-tuned"],
                f"/api/v1/predict/{USE_CASE}",
                "/readyz",
                "records",
                headers={} if token is None else {"Authorization": f"Bearer {token}"},
            ),
        ]
        # single-row requests cycle through the same 500 rows the bulk request carries, so the
        # mix of automatic and escalated answers is the data's, not one row's
        singles = [[row] for row in many]
        scripts = {
            (server.name, len(requests[0])): lua_script(root, server, requests)
            for server in servers
            for requests in (singles, [many])
        }
        logs = root / "logs"
        logs.mkdir()
        source = _source()  # what the servers load: src/ may change while the benchmark runs
        console.print("starting mlflow, floor, loopline and loopline-tuned ...")
        with running(servers, logs):
            answers = {server.name: check_answers(server, one, many) for server in servers}
            started = time.time()
            runs = measure(
                servers,
                scripts,
                seconds=args.seconds,
                repetitions=args.repetitions,
                warmup=1.0 if args.quick else 2.0,
                quiet=args.quiet,
                console=console,
            )
            elapsed = time.time() - started
    summary = summarise(runs)
    render(summary, console)
    result = {
        "benchmark": "serving",
        "command": "python -m bench.serving" + (" --quick" if args.quick else ""),
        "payloads": "single-row requests cycle through the first 500 rows of the example's data "
        "(input columns only); the 500-row request carries those same rows",
        "settings": {
            "seconds": args.seconds,
            "repetitions": args.repetitions,
            "scenarios": {k: {"rows": r, "connections": c} for k, (r, c) in SCENARIOS.items()},
            "wrk": "wrk -t1 -c{connections} -d{seconds}s --latency --timeout 10s",
            "workers": 1,
            "host": HOST,
            "measured_seconds": round(elapsed, 1),
            "quiet": f"each run waits (up to 180 s) until the machine is at most "
            f"{args.quiet:.0%} busy; runs[...].busy_before records what it saw",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu(),
            "platform": platform.platform(),
        },
        "versions": _versions(),
        "source": source,
        "loopline_decisions_in_the_500_rows": _decisions(answers["loopline"]),
        "loopline_tuned_decisions_in_the_500_rows": _decisions(answers["loopline-tuned"]),
        "loopline_tuned_policy": f"loopline policy tune --target {TUNED_TARGET}",
        "loopline_auth": "bearer token" if token is not None else "none (not in this version)",
        "servers": {
            "mlflow": "mlflow models serve --env-manager local -w 1 (sklearn flavour, "
            "pyfunc_predict_fn=predict_proba, signature enforced; no thread limit of its own)",
            "floor": "bench/serving_floor.py: Starlette + uvicorn, orjson parse, pandas frame, "
            "predict_proba; threadpoolctl limit of 1 thread",
            "loopline": "loopline serve (authentication, validation, calibration, confidence, "
            "conformal set, escalation decisions with review cases, routing, metrics, Parquet "
            "prediction log)",
            "loopline-tuned": "the same server on a copy of the project whose policy was tuned "
            f"with `loopline policy tune --target {TUNED_TARGET}`, as in the README tour",
        },
        **summary,
        "runs": runs,
    }
    save(result, args.out, console)
    return 0


def save(result: dict[str, Any], path: Path, console: Console) -> None:
    """Write a benchmark's results as JSON, and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"results written to {path}")


if __name__ == "__main__":
    raise SystemExit(main())
