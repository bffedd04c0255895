"""Benchmark: loopline's validation against Great Expectations, Pandera and a polars floor.

``python -m bench.validation --rows 1000000`` (``--rows 20000`` for a smoke run in seconds).

Every tool gets the same data (20 columns from a fixed seed, written once to parquet, with a
small share of bad values injected) and the same 40 checks: not-null on all 20 columns, ten
numeric ranges, seven allowed sets, a regular expression on a string column, uniqueness of the
id column and a row count. Each tool runs in its own subprocess: it loads the data and builds its
validator (not timed), then validates ``--runs`` times (timed; the median is reported). Peak
memory is the child's ``ru_maxrss`` (read from ``RUSAGE_CHILDREN`` in a fresh parent) minus that
of a child that only loads the same data into the same library.

The polars floor computes the failing masks and their counts and nothing else; loopline's
``validate`` also builds the per-check report with samples and the good/bad row split.
Results go to ``bench/results/validation.json``.
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
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

SEED = 20240531
PATTERN = r"^[A-Z]{2}-[0-9]{4}$"
#: column -> ("int" | "float" | "str", check): check is a (low, high) range, a list of allowed
#: values, "pattern", "unique", or None (not-null only).
COLUMNS: dict[str, tuple[str, Any]] = {
    "id": ("int", "unique"),
    "age": ("int", (18, 99)),
    "income": ("float", (0.0, 10_000_000.0)),
    "score": ("float", (0.0, 1.0)),
    "n_accounts": ("int", (0, 50)),
    "tenure_months": ("int", (0, 600)),
    "balance": ("float", None),
    "credit_limit": ("float", (0.0, 1_000_000.0)),
    "utilization": ("float", (0.0, 5.0)),
    "rate": ("float", (0.0, 0.5)),
    "days_late": ("int", (0, 365)),
    "amount": ("float", (0.0, 100_000.0)),
    "region": ("str", ["north", "south", "east", "west", "central"]),
    "segment": ("str", ["retail", "sme", "corporate"]),
    "channel": ("str", ["web", "branch", "phone", "partner"]),
    "grade": ("str", ["A", "B", "C", "D", "E", "F", "G"]),
    "product": ("int", [1, 2, 3, 4, 5, 6]),
    "status": ("int", [0, 1, 2]),
    "term": ("int", [12, 24, 36, 48, 60]),
    "code": ("str", "pattern"),
}
#: The share of rows given a bad value, per injected problem.
BAD_SHARE = 0.0005

Runner = Callable[[], Any]


def make_data(rows: int) -> pl.DataFrame:
    """``rows`` rows of the 20 columns, with a small share of nulls, out-of-range values,
    unknown categories, malformed codes and repeated ids injected at fixed positions."""
    rng = np.random.default_rng(SEED)
    data: dict[str, Any] = {}
    for name, (kind, check) in COLUMNS.items():
        if check == "unique":
            data[name] = np.arange(rows, dtype=np.int64)
        elif isinstance(check, list):
            data[name] = np.asarray(check)[rng.integers(0, len(check), rows)]
        elif check == "pattern":
            letters = np.asarray(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            first = letters[rng.integers(0, 26, rows)]
            second = letters[rng.integers(0, 26, rows)]
            digits = rng.integers(0, 10_000, rows)
            data[name] = (
                pl.Series(first)
                + pl.Series(second)
                + "-"
                + pl.Series(digits).cast(pl.String).str.zfill(4)
            )
        elif kind == "int":
            low, high = check
            data[name] = rng.integers(low, high + 1, rows)
        elif check is None:
            data[name] = rng.normal(1000.0, 5000.0, rows)
        else:
            low, high = check
            data[name] = rng.uniform(low, high, rows)
    frame = pl.DataFrame(data)
    bad = max(1, int(rows * BAD_SHARE))
    injections: list[pl.Expr] = []
    for index, (name, (kind, check)) in enumerate(COLUMNS.items()):
        positions = rng.choice(rows, size=bad, replace=False)
        hit = pl.int_range(pl.len()).is_in(positions)
        column = pl.col(name)
        if check == "unique":
            repeat = pl.when(hit).then(pl.lit(0, dtype=pl.Int64)).otherwise(column)
            injections.append(repeat.alias(name))
            continue
        if index % 2 == 0:  # nulls in every other column
            nulls = pl.int_range(pl.len()).is_in(rng.choice(rows, size=bad, replace=False))
            column = pl.when(nulls).then(None).otherwise(column)
        if isinstance(check, tuple):
            wrong = pl.lit(check[1] * 2 + 1).cast(frame.schema[name])
        elif isinstance(check, list):
            wrong = pl.lit("unknown" if kind == "str" else 99).cast(frame.schema[name])
        elif check == "pattern":
            wrong = pl.lit("x1-12")
        else:
            injections.append(column.alias(name))
            continue
        injections.append(pl.when(hit).then(wrong).otherwise(column).alias(name))
    return frame.with_columns(injections)


def check_count() -> int:
    """How many checks every tool runs."""
    return len(COLUMNS) + sum(1 for _, check in COLUMNS.values() if check is not None) + 1


def contract_yaml() -> str:
    """The checks as an ODCS contract for loopline."""
    lines = [
        "apiVersion: v3.1.0",
        "kind: DataContract",
        "id: bench",
        "name: bench",
        "version: 1.0.0",
        "status: active",
        "schema:",
        "  - name: bench",
        "    properties:",
    ]
    for name, (kind, check) in COLUMNS.items():
        logical = {"int": "integer", "float": "number", "str": "string"}[kind]
        lines += [
            f"      - name: {name}",
            f"        logicalType: {logical}",
            "        required: true",
        ]
        if check == "unique":
            lines.append("        unique: true")
        elif check == "pattern":
            lines.append(f"        logicalTypeOptions: {{pattern: '{PATTERN}'}}")
        elif isinstance(check, tuple):
            lines.append(
                f"        logicalTypeOptions: {{minimum: {check[0]}, maximum: {check[1]}}}"
            )
        elif isinstance(check, list):
            values = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in check)
            lines += [
                "        quality:",
                "          - metric: invalidValues",
                f"            arguments: {{validValues: [{values}]}}",
                "            mustBe: 0",
            ]
    lines += ["    quality:", "      - metric: rowCount", "        mustBeGreaterOrEqualTo: 1"]
    return "\n".join(lines) + "\n"


def prepare_loopline(path: Path) -> Runner:
    """loopline's ``validate``: masks, report with samples, and the good/bad split."""
    from loopline.data import parse_contract, validate

    frame = pl.read_parquet(path)
    contract = parse_contract(contract_yaml(), source="bench")
    return lambda: validate(frame, contract)


def prepare_polars_floor(path: Path) -> Runner:
    """Hand-written polars: one select of the 40 failing masks, then their counts."""
    frame = pl.read_parquet(path)
    masks: list[pl.Expr] = []
    for name, (_, check) in COLUMNS.items():
        column = pl.col(name)
        masks.append(column.is_null().alias(f"{name}.not_null"))
        if check == "unique":
            masks.append(column.is_duplicated().alias(f"{name}.unique"))
        elif check == "pattern":
            masks.append(column.str.contains(PATTERN).not_().alias(f"{name}.pattern"))
        elif isinstance(check, tuple):
            masks.append(((column < check[0]) | (column > check[1])).alias(f"{name}.range"))
        elif isinstance(check, list):
            masks.append(column.is_in(check).not_().alias(f"{name}.allowed"))

    def run() -> Any:
        counts = frame.select(masks).sum()
        return frame.height >= 1, counts

    return run


def prepare_pandera_polars(path: Path) -> Runner:
    """Pandera's polars back end, lazy validation (every failure collected)."""
    import pandera.polars as pa

    frame = pl.read_parquet(path)
    schema = pa.DataFrameSchema(
        _pandera_columns(pa, {"int": pl.Int64, "float": pl.Float64, "str": pl.String}),
        checks=[pa.Check(lambda data: data.lazyframe.select(pl.len() >= 1))],
    )
    return _pandera_runner(pa, schema, frame)


def prepare_pandera_pandas(path: Path) -> Runner:
    """Pandera's pandas back end, lazy validation (every failure collected)."""
    import pandera.pandas as pa

    frame = pl.read_parquet(path).to_pandas()
    schema = pa.DataFrameSchema(
        # pandas holds integer columns with nulls as floats: check their values, not dtypes
        _pandera_columns(pa, {"int": None, "float": "float64", "str": None}),
        checks=[pa.Check(lambda df: len(df) >= 1)],
    )
    return _pandera_runner(pa, schema, frame)


def _pandera_columns(pa: Any, dtypes: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, (kind, check) in COLUMNS.items():
        checks: list[Any] = []
        if check == "pattern":
            checks.append(pa.Check.str_matches(PATTERN))
        elif isinstance(check, tuple):
            checks.append(pa.Check.in_range(check[0], check[1]))
        elif isinstance(check, list):
            checks.append(pa.Check.isin(check))
        columns[name] = pa.Column(
            dtypes[kind], checks=checks, nullable=False, unique=check == "unique"
        )
    return columns


def _pandera_runner(pa: Any, schema: Any, frame: Any) -> Runner:
    def run() -> Any:
        try:
            return schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return exc.failure_cases

    return run


def prepare_great_expectations(path: Path) -> Runner:
    """Great Expectations 1.x: ephemeral context, pandas data source, one suite."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    gxe: Any = gx.expectations  # the expectation classes are not re-exported for type checkers

    frame = pl.read_parquet(path).to_pandas()
    context: Any = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    for name, (_, check) in COLUMNS.items():
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if check == "unique":
            suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=name))
        elif check == "pattern":
            suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=PATTERN))
        elif isinstance(check, tuple):
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=name, min_value=check[0], max_value=check[1]
                )
            )
        elif isinstance(check, list):
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=check))
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name="bench")
    )
    return lambda: definition.run(batch_parameters={"dataframe": frame})


def _pandera_failed(result: Any) -> int:
    if not hasattr(result, "columns") or "check" not in result.columns:
        return 0  # validation passed: the validated frame came back
    pairs = result[["column", "check"]]
    return len(pairs.drop_duplicates() if hasattr(pairs, "drop_duplicates") else pairs.unique())


#: How many checks failed, read from each tool's result: every tool must find the same number.
FAILED_CHECKS: dict[str, Callable[[Any], int]] = {
    "great_expectations": lambda result: int(result.statistics["unsuccessful_expectations"]),
    "pandera_pandas": _pandera_failed,
    "pandera_polars": _pandera_failed,
    "polars_floor": lambda result: int(not result[0]) + sum(1 for v in result[1].row(0) if v),
    "loopline": lambda result: len(result.report.failed),
}

TOOLS: dict[str, Callable[[Path], Runner]] = {
    "great_expectations": prepare_great_expectations,
    "pandera_pandas": prepare_pandera_pandas,
    "pandera_polars": prepare_pandera_polars,
    "polars_floor": prepare_polars_floor,
    "loopline": prepare_loopline,
}
#: What a tool's memory baseline loads: the same data in the same library, and nothing else.
BASELINES: dict[str, str] = {
    "great_expectations": "pandas",
    "pandera_pandas": "pandas",
    "pandera_polars": "polars",
    "polars_floor": "polars",
    "loopline": "polars",
}


def load_only(path: Path, library: str) -> Any:
    """Load the data as a tool would, for the memory baseline."""
    frame = pl.read_parquet(path)
    return frame.to_pandas() if library == "pandas" else frame


# --- running and measuring ----------------------------------------------------------------------

_MEASURE = (
    "import json, resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'rc': done.returncode, 'out': done.stdout, 'err': done.stderr[-3000:],"
    " 'maxrss_kb': peak}))\n"
)


def _measured(arguments: list[str]) -> dict[str, Any]:
    """Run ``python -m bench.validation ARGUMENTS`` in a child of a fresh process, so that the
    fresh process's ``RUSAGE_CHILDREN`` peak is that child's alone."""
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "bench.validation"]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, check=True)
    outcome: dict[str, Any] = json.loads(done.stdout)
    if outcome["rc"] != 0:
        raise RuntimeError(f"bench.validation {' '.join(arguments)} failed:\n{outcome['err']}")
    return outcome


def _worker(tool: str, path: Path, runs: int) -> None:
    run = TOOLS[tool](path)
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        result = None  # free the previous result first, as a pipeline would
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    print(json.dumps({"times": times, "failed_checks": FAILED_CHECKS[tool](result)}))


def _table(results: dict[str, Any]) -> Table:
    table = Table(
        title=f"Validation of {results['rows']:,} rows x {len(COLUMNS)} columns, "
        f"{results['checks']} checks (median of {results['runs']} runs)",
        title_justify="left",
    )
    for header in (
        "tool",
        "median s",
        "min s",
        "peak MB over data",
        "vs loopline",
        "failed checks",
    ):
        table.add_column(header, justify="left" if header == "tool" else "right")
    base = results["tools"]["loopline"]["median_s"] if "loopline" in results["tools"] else None
    for tool, entry in results["tools"].items():
        ratio = f"{entry['median_s'] / base:.2f}x" if base else ""
        table.add_row(
            tool,
            f"{entry['median_s']:.4f}",
            f"{entry['min_s']:.4f}",
            f"{entry['peak_mb']:.0f}",
            ratio,
            str(entry["failed_checks"]),
        )
    return table


def _targets(tools: dict[str, Any]) -> dict[str, Any]:
    def median(name: str) -> float | None:
        return tools[name]["median_s"] if name in tools else None

    ours, targets = median("loopline"), {}
    if ours is None:
        return {}
    for name, label, limit, faster in (
        ("great_expectations", "speedup_vs_great_expectations", 20.0, True),
        ("pandera_polars", "ratio_to_pandera_polars", 1.0, False),
        ("polars_floor", "ratio_to_polars_floor", 1.3, False),
    ):
        other = median(name)
        if other is None:
            continue
        value = other / ours if faster else ours / other
        met = value >= limit if faster else value <= limit
        targets[label] = {"value": round(value, 3), "target": limit, "met": met}
    return targets


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one tool's timed runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.validation", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=Path("bench/results/validation.json"))
    parser.add_argument("--worker", choices=sorted(TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("--baseline", choices=("pandas", "polars"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.data, args.runs)
        return 0
    if args.baseline:
        load_only(args.data, args.baseline)
        return 0
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as folder:
        path = Path(folder) / "data.parquet"
        make_data(args.rows).write_parquet(path)
        baselines = {
            library: _measured(["--baseline", library, "--data", str(path)])["maxrss_kb"]
            for library in sorted({BASELINES[tool] for tool in tools})
        }
        measured: dict[str, Any] = {}
        for tool in tools:
            console.print(f"running {tool} ...")
            outcome = _measured(["--worker", tool, "--data", str(path), "--runs", str(args.runs)])
            report = json.loads(outcome["out"].strip().splitlines()[-1])
            times = report["times"]
            measured[tool] = {
                "failed_checks": report["failed_checks"],
                "median_s": statistics.median(times),
                "min_s": min(times),
                "times_s": times,
                "peak_mb": max(0, outcome["maxrss_kb"] - baselines[BASELINES[tool]]) / 1024,
                "baseline_mb": baselines[BASELINES[tool]] / 1024,
            }
    results = {
        "rows": args.rows,
        "columns": len(COLUMNS),
        "checks": check_count(),
        "runs": args.runs,
        "bad_share_per_check": BAD_SHARE,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "versions": _versions(),
        "tools": measured,
        "targets": _targets(measured),
    }
    console.print(_table(results))
    for label, target in results["targets"].items():
        mark = "[green]met[/green]" if target["met"] else "[red]NOT met[/red]"
        console.print(f"{label}: {target['value']} (target {target['target']}) {mark}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 0


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for package in ("polars", "pandas", "pandera", "great_expectations"):
        try:
            out[package] = metadata.version(package.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


if __name__ == "__main__":
    raise SystemExit(main())
