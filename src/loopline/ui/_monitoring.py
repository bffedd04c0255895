"""The monitoring page's data: the latest report, its time series as charts, and alerts.

Everything comes from stored reports (one query for the series, one for the alerts): the page
never reads the prediction log, so it renders in the same time whatever the traffic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loopline._workspace import Workspace
from loopline.charts import Series, heatmap, line_chart
from loopline.monitoring._alerts import list_alerts
from loopline.monitoring._history import latest_report, report_series

__all__ = ["monitoring_context"]

_SERIES = 48


def _label(at: Any) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.strftime("%m-%d %H:%M") if isinstance(at, datetime) else str(at)


def _drift_heatmap(series: list[dict[str, Any]], features: list[str]) -> str | None:
    """Features by reports, shaded by effect size over its threshold; alarms outlined."""
    if not series or not features:
        return None
    values, flags = [], []
    for feature in features:
        row, flagged = [], []
        for report in series:
            cell = report["features"].get(feature) or {}
            row.append(cell.get("effect"))
            flagged.append(bool(cell.get("alarm")))
        values.append(row)
        flags.append(flagged)
    return heatmap(
        features,
        [_label(r["at"]) for r in series],
        values,
        flags=flags,
        title="Drift effect size by feature over time (outlined: alarm)",
        scale=0.3,
    )


def _performance_chart(
    series: list[dict[str, Any]], metric: str, bound: float | None
) -> str | None:
    """The realised metric and the label-free estimate over time, each with its band."""
    points = [r for r in series if r["realised"].get(metric) or r["estimated"].get(metric)]
    if not points:
        return None
    xs = list(range(len(points)))

    def column(kind: str, key: str) -> list[float | None]:
        return [(r[kind].get(metric) or {}).get(key) for r in points]

    lines = [
        Series(
            f"estimated {metric} (no labels)",
            xs,
            column("estimated", "value"),
            dashed=True,
            low=column("estimated", "low"),
            high=column("estimated", "high"),
        ),
        Series(
            f"realised {metric} (labels)",
            xs,
            column("realised", "value"),
            low=column("realised", "low"),
            high=column("realised", "high"),
        ),
    ]
    return line_chart(
        lines,
        title=f"{metric}: realised and estimated, 95% bands",
        x_label="window end (UTC)",
        y_label=metric,
        target=bound,
        x_labels=[_label(r["at"]) for r in points],
        width=640,
    )


def _share_chart(series: list[dict[str, Any]], share: float) -> str | None:
    if not series:
        return None
    xs = list(range(len(series)))
    return line_chart(
        [Series("share of features drifted", xs, [r["drift_share"] for r in series])],
        title="Dataset drift share",
        x_label="window end (UTC)",
        y_label="share",
        y_range=(0.0, 1.0),
        target=share,
        x_labels=[_label(r["at"]) for r in series],
        width=640,
        height=240,
    )


def monitoring_context(ws: Workspace) -> dict[str, Any]:
    """What ``monitoring.html`` shows for the project's use case."""
    spec = ws.project.spec
    with ws.store.transaction() as session:
        report = latest_report(session, spec.name)
        series = report_series(session, spec.name, limit=_SERIES)
        alerts = list_alerts(session, spec.name, limit=50)
    performance = spec.monitoring.performance
    metric = performance.metric if performance else "roc_auc"
    features = [f["column"] for f in ((report or {}).get("drift") or {}).get("features", [])]
    return {
        "report": report,
        "series_count": len(series),
        "metric": metric,
        "bound": performance.min if performance else None,
        "heatmap": _drift_heatmap(series, features),
        "performance_chart": _performance_chart(
            series, metric, performance.min if performance else None
        ),
        "share_chart": _share_chart(series, spec.monitoring.drift.share),
        "alerts": alerts,
        "firing": [a for a in alerts if a["status"] == "firing"],
    }
