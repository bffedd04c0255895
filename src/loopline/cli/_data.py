"""``loopline ingest``, ``loopline contract …`` and ``loopline datasets …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, steps, table
from loopline.errors import DataError

__all__: list[str] = []

contract_app = typer.Typer(help="Draft and check data contracts.", no_args_is_help=True)
datasets_app = typer.Typer(
    help="List, show, diff and inspect dataset versions.", no_args_is_help=True
)
app.add_typer(contract_app, name="contract")
app.add_typer(datasets_app, name="datasets")


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A CSV, Parquet or JSON Lines file (.gz allowed).")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset to add to (default: the project's).")
    ] = None,
    mode: Annotated[str, typer.Option(help="append | overwrite")] = "append",
    force: Annotated[
        bool, typer.Option(help="Ingest even if this file was ingested before.")
    ] = False,
    delimiter: Annotated[str | None, typer.Option(help="CSV field separator.")] = None,
    json_output: Json = False,
) -> None:
    """Check a file against the contract: good rows make a new version, bad ones are quarantined."""
    from loopline import _api

    if mode not in ("append", "overwrite"):
        raise DataError(f"Unknown --mode {mode!r}.", hint="Use --mode append or --mode overwrite.")
    ws = workspace()
    with steps("ingesting", quiet=json_output) as say:
        result = _api.ingest_path(
            ws,
            path,
            dataset=dataset,
            mode=_mode(mode),
            force=force,
            delimiter=delimiter,
            progress=say,
        )

    def render() -> None:
        colour = {"accepted": "green", "refused": "red", "duplicate": "yellow"}[result.status]
        version = f"{result.dataset}@{result.version}" if result.version else "no new version"
        console.print(f"[{colour}]{result.status}[/]: {version}")
        console.print(
            table(
                None,
                ["rows in", "versioned", "quarantined"],
                [(result.rows_in, result.rows_versioned, result.rows_quarantined)],
            )
        )
        for reason in result.refusal_reasons:
            console.print(f"[red]•[/] {reason}")
        failed = [c for c in result.report.get("checks", []) if c.get("status") == "failed"]
        if failed:
            console.print(_checks_table(failed))
        if result.status == "duplicate":
            console.print("This file was ingested before; use --force to ingest it again.")

    Output(json_output).result(result.to_dict(), render)
    if result.status == "refused":
        raise typer.Exit(1)


def _mode(mode: str) -> Literal["append", "overwrite"]:
    return "overwrite" if mode == "overwrite" else "append"


def _checks_table(checks: list[dict[str, Any]]) -> Any:
    rows = [
        (
            c["name"],
            c["severity"],
            c.get("failing_count"),
            _pct(c.get("failing_fraction")),
            c.get("observed"),
            c.get("bound"),
        )
        for c in checks
    ]
    return table("failed checks", ["check", "severity", "rows", "share", "observed", "bound"], rows)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.2%}"


@contract_app.command("infer")
def contract_infer(
    path: Annotated[Path, typer.Argument(help="A data file to draft the contract from.")],
    name: Annotated[
        str | None, typer.Option(help="Contract name (default: the file's stem).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write it here.")] = None,
    json_output: Json = False,
) -> None:
    """Draft an ODCS v3.1 contract from a data file (review it before use)."""
    from loopline.data import dump_contract, infer_contract
    from loopline.data._read import read_source

    _, frame = read_source(path)
    contract = infer_contract(frame, name or path.name.split(".")[0].lower().replace(" ", "-"))
    text = dump_contract(contract)
    if output:
        output.write_text(text, encoding="utf-8")
    data = {
        "contract": contract.name,
        "columns": len(contract.columns),
        "output": output,
        "yaml": text,
    }

    def render() -> None:
        if output:
            console.print(
                f"Wrote a draft contract for {len(contract.columns)} columns to {output}."
            )
        else:
            console.print(text, markup=False)

    Output(json_output).result(data, render)


@contract_app.command("check")
def contract_check(
    contract: Annotated[Path, typer.Argument(help="The contract file.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Also validate this data file.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Validate a contract file; with --data, validate a data file against it (nothing stored)."""
    from loopline.data import load_contract, validate
    from loopline.data._read import read_source

    parsed = load_contract(contract)
    result: dict[str, Any] = {"contract": parsed.name, "valid": True, "checks": len(parsed.checks)}
    report = None
    if data is not None:
        _, frame = read_source(data)
        outcome = validate(frame, parsed)
        report = outcome.report
        result["report"] = report.to_dict()

    def render() -> None:
        console.print(
            f"[green]OK[/]: contract {parsed.name} is valid ({len(parsed.checks)} checks)."
        )
        if report is not None:
            console.print(report.to_table())

    Output(json_output).result(result, render)
    if report is not None and (report.refused or report.rows_bad):
        raise typer.Exit(1)


@datasets_app.command("list")
def datasets_list(json_output: Json = False) -> None:
    """Every dataset with its latest version."""
    from loopline import _api

    rows = _api.list_datasets(workspace())
    Output(json_output).result(
        rows,
        lambda: console.print(
            table(
                "datasets",
                ["dataset", "versions", "rows", "updated"],
                [(r["dataset"], r["versions"], r["rows"], r["updated_at"]) for r in rows],
            )
        ),
    )


@datasets_app.command("show")
def datasets_show(
    ref: Annotated[str, typer.Argument(help="NAME (all versions) or NAME@VERSION.")],
    head: Annotated[int, typer.Option(help="Rows of data to print for NAME@VERSION.")] = 5,
    json_output: Json = False,
) -> None:
    """A dataset's versions, or one version's report, profile and first rows."""
    from loopline import _api

    info = _api.show_dataset(workspace(), ref, head=head)

    def render() -> None:
        if "versions" in info:
            console.print(
                table(
                    f"{info['dataset']} versions",
                    ["version", "rows", "source", "contract", "created", "by"],
                    [
                        (
                            v["version"],
                            v["rows"],
                            v["source"],
                            v["contract"],
                            v["created_at"],
                            v["created_by"],
                        )
                        for v in info["versions"]
                    ],
                )
            )
            return
        console.print(
            f"[bold]{info['dataset']}@{info['version']}[/]: {info['rows']} rows, "
            f"content {info['content_hash'][:12]}, contract {info['contract']}"
        )
        console.print(
            table(
                "profile",
                ["column", "type", "nulls", "distinct", "min", "max", "mean"],
                [
                    (
                        c,
                        p["dtype"],
                        p["nulls"],
                        p["distinct"],
                        p.get("min"),
                        p.get("max"),
                        _round(p.get("mean")),
                    )
                    for c, p in info["profile"].items()
                ],
            )
        )
        console.print(info["head"])

    Output(json_output).result(
        {k: v for k, v in info.items() if k != "head"}
        | {"head": info["head"].to_dicts() if "head" in info else None},
        render,
    )


def _round(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"


@datasets_app.command("diff")
def datasets_diff(
    left: Annotated[str, typer.Argument(help="NAME@VERSION")],
    right: Annotated[str, typer.Argument(help="NAME@VERSION")],
    json_output: Json = False,
) -> None:
    """Rows added and removed (by key if the contract has one), schema and distribution changes."""
    from loopline import _api

    diff = _api.diff(workspace(), left, right)

    def render() -> None:
        rows = diff["rows"]
        console.print(
            f"[bold]{diff['left']} → {diff['right']}[/]: {rows['left']} → {rows['right']} "
            f"rows; +{rows['added']} added, -{rows['removed']} removed, "
            f"~{rows['changed']} changed (key: {rows['key'] or 'whole row'})"
        )
        schema = diff["schema"]
        if any(schema.values()):
            console.print(
                f"schema: added {schema['added']}, removed {schema['removed']}, "
                f"type changed {schema['type_changed']}"
            )
        changed = [
            d
            for d in diff["distributions"]
            if abs(d.get("mean_shift_sd") or 0) > 0.01 or (d.get("max_share_change") or 0) > 0.01
        ]
        console.print(
            table(
                "distribution changes",
                ["column", "mean shift (sd)", "max share change"],
                [
                    (d["column"], _round(d.get("mean_shift_sd")), _round(d.get("max_share_change")))
                    for d in changed
                ],
            )
        )

    Output(json_output).result(diff, render)


@datasets_app.command("quarantine")
def datasets_quarantine(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    batch: Annotated[str | None, typer.Option(help="Only this batch (a prefix of its id).")] = None,
    export: Annotated[
        Path | None, typer.Option(help="Write the rows to this CSV or Parquet file.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 20,
    json_output: Json = False,
) -> None:
    """Browse or export quarantined rows with their failed checks (fix, then `loopline ingest`)."""
    from loopline import _api

    frame = _api.quarantine(workspace(), name, batch=batch)
    if export is not None:
        _api.export_quarantine(frame, export)
    summary = _api.quarantine_summary(frame)
    data = {
        "dataset": name,
        "rows": frame.height,
        "by_check": summary,
        "exported_to": export,
        "sample": frame.head(limit).to_dicts() if frame.height else [],
    }

    def render() -> None:
        console.print(f"[bold]{name}[/]: {frame.height} quarantined rows")
        console.print(table("by failed check", ["check", "rows"], list(summary.items())))
        if frame.height:
            console.print(frame.head(limit))
        if export is not None:
            console.print(f"Exported to {export}. Fix the rows and ingest that file again.")

    Output(json_output).result(data, render)


@datasets_app.command("feedback")
def datasets_feedback(json_output: Json = False) -> None:
    """Turn new labels and review decisions into the next version of the feedback dataset."""
    from loopline.review._feedback_data import feedback_dataset_name, version_feedback

    ws = workspace()
    result = version_feedback(ws)
    data = (
        result.to_dict()
        if result
        else {"dataset": feedback_dataset_name(ws), "status": "nothing new"}
    )

    def render() -> None:
        if result is None:
            console.print("No new feedback to version.")
        else:
            console.print(
                f"{result.status}: {result.dataset}@{result.version} "
                f"({result.rows_versioned} labelled rows, {result.rows_quarantined} quarantined)"
            )

    Output(json_output).result(data, render)
