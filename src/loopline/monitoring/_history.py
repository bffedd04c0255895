"""Stored monitoring reports: the latest, one by id, and the time series the console plots."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.errors import MonitoringError
from loopline.monitoring._monitor import report_dict
from loopline.store import MonitorReport

__all__ = ["get_report", "latest_report", "report_series"]


def get_report(session: Session, use_case: str, report_id: int | None = None) -> dict[str, Any]:
    """A report by id, or the latest of the use case.

    Raises:
        MonitoringError: (404) There is no such report (run ``loopline monitor run`` first).
    """
    query = select(MonitorReport).where(MonitorReport.use_case == use_case)
    if report_id is not None:
        query = query.where(MonitorReport.id == report_id)
    row = session.scalar(query.order_by(MonitorReport.id.desc()).limit(1))
    if row is None:
        what = f"report {report_id}" if report_id is not None else "monitoring report"
        raise MonitoringError(
            f"{use_case} has no {what}.",
            status=404,
            hint="Run `loopline monitor run` (or start `loopline worker`) to make one.",
        )
    return report_dict(row)


def latest_report(session: Session, use_case: str) -> dict[str, Any] | None:
    """The latest report of a use case, or ``None``."""
    try:
        return get_report(session, use_case)
    except MonitoringError:
        return None


def report_series(session: Session, use_case: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The last ``limit`` reports, oldest first, reduced to what charts need.

    Per report: window end, status, rows, drift share, each feature's effect size and alarm, and
    the realised and estimated performance with their bands; read from the stored JSON so one
    query serves the whole page.
    """
    rows = session.scalars(
        select(MonitorReport)
        .where(MonitorReport.use_case == use_case)
        .order_by(MonitorReport.id.desc())
        .limit(limit)
    ).all()
    series = []
    for row in reversed(rows):
        report = row.report
        drift = report.get("drift") or {}
        performance = report.get("performance") or {}
        series.append(
            {
                "id": row.id,
                "at": row.window_end,
                "status": row.status,
                "rows": row.rows,
                "drift_share": row.drift_share,
                "features": {
                    f["column"]: {"effect": f.get("effect_size"), "alarm": f.get("alarm")}
                    for f in drift.get("features", [])
                },
                "realised": performance.get("realised", {}),
                "estimated": performance.get("estimated", {}),
                "metrics": report.get("metrics", {}),
            }
        )
    return series
