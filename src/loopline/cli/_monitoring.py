"""``loopline monitor run|show|history|alerts``: monitoring of the project's use case.

(``loopline monitor drift`` on two files lives in :mod:`loopline.cli._monitor`.)
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopline.cli._app import workspace
from loopline.cli._monitor import monitor_app
from loopline.cli._output import Json, Output, console, table

__all__: list[str] = []

_VERDICT = {True: "met", False: "missed", None: "unknown"}
_EFFECT = {"wasserstein_norm": "W/sd", "jensenshannon": "JS", "psi": "PSI"}


def _num(value: Any, digits: int = 3) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _band(metric: dict[str, Any]) -> str | None:
    if not metric or metric.get("value") is None:
        return None
    low, high = metric.get("low"), metric.get("high")
    band = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{metric['value']:.3f}{band}"


def _render(report: dict[str, Any]) -> None:
    drift = report.get("drift") or {}
    console.print(
        f"[bold]{report['use_case']}[/] report {report['id']} · {report['status']} · "
        f"{report['rows']} answers from {report['window_start']} to {report['window_end']}"
        + (f" · model {report['model_version']}" if report.get("model_version") else "")
    )
    features = drift.get("features") or []
    if features:
        rows = [
            (
                f["column"],
                f["method"],
                _num(f.get("statistic")),
                _num(f.get("p_value"), 4),
                _num(f.get("q_value"), 4),
                f"{_EFFECT.get(f['effect_measure'], f['effect_measure'])} "
                f"{_num(f.get('effect_size'))}",
                _num(f.get("threshold")),
                "ALARM" if f["alarm"] else f["status"],
            )
            for f in features
        ]
        prediction = drift.get("prediction")
        if prediction:
            rows.append(
                (
                    "(score)",
                    prediction["method"],
                    _num(prediction.get("statistic")),
                    _num(prediction.get("p_value"), 4),
                    None,
                    f"{_EFFECT.get(prediction['effect_measure'], prediction['effect_measure'])} "
                    f"{_num(prediction.get('effect_size'))}",
                    _num(prediction.get("threshold")),
                    "ALARM" if prediction["alarm"] else prediction["status"],
                )
            )
        console.print(
            table(
                f"drift: {_num(drift.get('drift_share'))} of features drifted"
                + (" — dataset drift" if drift.get("dataset_drift") else ""),
                ["feature", "test", "statistic", "p", "q (BH)", "effect", "min effect", "status"],
                rows,
            )
        )
    performance = report.get("performance") or {}
    names = sorted(set(performance.get("realised", {})) | set(performance.get("estimated", {})))
    if names:
        console.print(
            table(
                f"performance ({performance.get('labelled', 0)} labelled answers)",
                ["metric", "realised [95% CI]", "estimated, no labels [95% band]"],
                [
                    (
                        name,
                        _band(performance.get("realised", {}).get(name, {})),
                        _band(performance.get("estimated", {}).get(name, {})),
                    )
                    for name in names
                ],
            )
        )
    quality = report.get("quality") or {}
    if quality.get("columns"):
        noisy = [
            c
            for c in quality["columns"]
            if (c.get("null_rate_increase") or 0) > 0.01 or (c.get("out_of_range_rate") or 0) > 0
        ]
        console.print(
            f"data quality: max null-rate increase {_num(quality.get('max_null_rate_increase'))}, "
            f"max out-of-range {_num(quality.get('max_out_of_range_rate'))}, "
            f"{len(quality.get('contract_violations', []))} contract check(s) failing"
        )
        if noisy:
            console.print(
                table(
                    None,
                    ["column", "null rate", "training", "out of range"],
                    [
                        (
                            c["column"],
                            _num(c["null_rate"]),
                            _num(c["null_rate_reference"]),
                            _num(c.get("out_of_range_rate")),
                        )
                        for c in noisy
                    ],
                )
            )
    business = report.get("business") or {}
    if business.get("success"):
        console.print(
            table(
                "success metrics",
                ["declared", "value", "verdict"],
                [(s["metric"], _num(s["value"]), _VERDICT[s["met"]]) for s in business["success"]],
            )
        )


@monitor_app.command("run")
def monitor_run(
    json_output: Json = False,
    no_route: Annotated[
        bool, typer.Option("--no-route", help="Store the report and alerts; notify nobody.")
    ] = False,
) -> None:
    """Monitor the use case now: drift, data quality, performance, business; raise alerts."""
    from loopline.monitoring._monitor import run_monitor

    ws = workspace()
    report = run_monitor(ws, route=not no_route)

    def render() -> None:
        _render(report)
        for alert in report["alerts"]:
            console.print(
                f"[yellow]alert[/] {alert['action']}: [{alert['severity']}] {alert['rule']} — "
                f"{alert['message']}"
            )

    Output(json_output).result(report, render)


@monitor_app.command("show")
def monitor_show(
    report_id: Annotated[
        int | None, typer.Argument(help="A report id (default: the latest).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Print a stored monitoring report (the latest by default) with a per-feature table."""
    from loopline.monitoring._history import get_report

    ws = workspace()
    with ws.store.transaction() as session:
        report = get_report(session, ws.project.spec.name, report_id)
    Output(json_output).result(report, lambda: _render(report))


@monitor_app.command("history")
def monitor_history(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Reports to show.")] = 20,
    json_output: Json = False,
) -> None:
    """The latest reports as a time series: status, rows, drift share, performance."""
    from loopline.monitoring._history import report_series

    ws = workspace()
    with ws.store.transaction() as session:
        series = report_series(session, ws.project.spec.name, limit=limit)
    metric = ws.project.spec.monitoring.performance
    name = metric.metric if metric else "roc_auc"

    def render() -> None:
        console.print(
            table(
                "monitoring reports",
                ["id", "window end", "status", "rows", "drift share", name, f"estimated {name}"],
                [
                    (
                        r["id"],
                        r["at"],
                        r["status"],
                        r["rows"],
                        _num(r["drift_share"]),
                        _band(r["realised"].get(name, {})),
                        _band(r["estimated"].get(name, {})),
                    )
                    for r in series
                ],
            )
        )

    Output(json_output).result(series, render)


@monitor_app.command("alerts")
def monitor_alerts(
    status: Annotated[
        str | None, typer.Option("--status", help="firing or resolved (default: both).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Alerts to show.")] = 50,
    json_output: Json = False,
) -> None:
    """Alerts of the use case, newest first."""
    from loopline.monitoring._alerts import list_alerts

    ws = workspace()
    with ws.store.transaction() as session:
        alerts = list_alerts(session, ws.project.spec.name, status=status, limit=limit)

    def render() -> None:
        console.print(
            table(
                "alerts",
                ["id", "rule", "severity", "status", "count", "first", "last", "message"],
                [
                    (
                        a["id"][:8],
                        a["rule"],
                        a["severity"],
                        a["status"],
                        a["count"],
                        a["first_at"],
                        a["last_at"],
                        a["message"],
                    )
                    for a in alerts
                ],
            )
        )

    Output(json_output).result(alerts, render)
