"""``loopline monitor drift REF CUR``: the drift engine on two data files, no project needed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopline.cli._app import app
from loopline.cli._output import Json, Output, console, table
from loopline.errors import DataError

if TYPE_CHECKING:
    import polars as pl

    from loopline.monitoring import DriftReport

__all__ = ["monitor_app"]

monitor_app = typer.Typer(
    help="Monitoring: drift between two data files; reports, alerts.", no_args_is_help=True
)
app.add_typer(monitor_app, name="monitor")

DataFile = Annotated[
    Path, typer.Argument(help="A CSV or Parquet file.", exists=True, dir_okay=False)
]


def read_frame(path: Path) -> pl.DataFrame:
    """A CSV or Parquet file as a polars frame (the suffix decides)."""
    import polars as pl

    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith((".parquet", ".pq")):
            return pl.read_parquet(path)
        if ".csv" in suffix:
            return pl.read_csv(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"Cannot read {path}: {exc}", hint="Check the file's format.") from exc
    raise DataError(
        f"Cannot tell the format of {path} from its name.",
        hint="Name the file .csv, .csv.gz or .parquet.",
    )


def _methods(pairs: list[str]) -> dict[str, str]:
    methods: dict[str, str] = {}
    for pair in pairs:
        column, sep, method = pair.partition("=")
        if not sep or not column or not method:
            raise DataError(
                f"--method {pair!r} is not COLUMN=METHOD.", hint="For example --method age=psi."
            )
        methods[column] = method
    return methods


def _num(value: float | None, digits: int = 3) -> str | None:
    return None if value is None else f"{value:.{digits}g}"


def render(report: DriftReport) -> None:
    """Print a drift report for people: one row per feature, then the verdict."""
    entries = [*report.features, *([report.prediction] if report.prediction else [])]
    rows = [
        (
            f.column + (" (prediction)" if f is report.prediction else ""),
            f.kind,
            f.method,
            _num(f.statistic),
            _num(f.p_value),
            _num(f.q_value),
            f"{f.effect_measure} {_num(f.effect_size) or '—'}",
            _num(f.threshold),
            "[bold red]ALARM[/]" if f.alarm else f.status,
        )
        for f in entries
    ]
    console.print(
        table(
            f"drift: {report.rows_current:,} current vs {report.rows_reference:,} reference rows",
            ["column", "kind", "method", "statistic", "p", "q (BH)", "effect", "min", "status"],
            rows,
        )
    )
    share = "—" if report.drift_share is None else f"{report.drift_share:.0%}"
    verdict = {
        "drift": "[bold red]dataset drift[/]",
        "ok": "[green]no dataset drift[/]",
        "empty": "[yellow]no current rows[/]",
        "no_features": "[yellow]no feature could be tested[/]",
    }[report.status]
    console.print(
        f"{verdict}: {share} of tested features drifted (dataset drift at "
        f"{report.share_threshold:.0%}; alarms at FDR {report.fdr:g} and the minimum effect)."
    )


@monitor_app.command("drift")
def monitor_drift(
    reference: DataFile,
    current: DataFile,
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", help="A column to treat as categorical (repeatable)."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", help="COLUMN=METHOD: ks, wasserstein, psi, chi2, jensenshannon."),
    ] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", help="Compare only this column (repeatable).")
    ] = None,
    fdr: Annotated[float, typer.Option(help="False-discovery rate of the alarms.")] = 0.05,
    min_effect: Annotated[
        float | None, typer.Option(help="Minimum effect for an alarm, for every feature.")
    ] = None,
    share: Annotated[
        float, typer.Option(help="Share of drifting features that makes the dataset drift.")
    ] = 0.5,
    prediction: Annotated[
        str | None, typer.Option(help="A score column in both files: its drift, apart.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Compare CURRENT with REFERENCE feature by feature; exit 1 on dataset drift."""
    from loopline.monitoring import drift_report

    report = drift_report(
        read_frame(reference),
        read_frame(current),
        columns=column or None,
        categorical=categorical or (),
        methods=_methods(method or []),
        fdr=fdr,
        min_effect=min_effect,
        share=share,
        prediction=prediction,
    )
    Output(json_output).result(report.to_dict(), lambda: render(report))
    if report.dataset_drift:
        raise typer.Exit(1)
