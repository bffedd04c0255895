"""The people-in-the-loop report for the UI, with the prediction log read at most every few
seconds (cases are read fresh on every page, so a decision shows at once)."""

from __future__ import annotations

import threading
import time
from typing import Any

import polars as pl

from loopline._workspace import Workspace
from loopline.review._report import review_report
from loopline.serving._log import read_predictions
from loopline.spec import ProjectSpec

__all__ = ["ReportSource", "success_rows", "success_targets"]


class ReportSource:
    """Builds :func:`review_report` for the workspace's use case.

    Args:
        ws: The workspace (its project, store and prediction log).
        log_seconds: How long one read of the prediction log is reused.
    """

    def __init__(self, ws: Workspace, *, log_seconds: float = 10.0) -> None:
        self.ws = ws
        self.log_seconds = log_seconds
        self._lock = threading.Lock()
        self._log: tuple[float, pl.DataFrame] | None = None

    def predictions(self) -> pl.DataFrame:
        """The two columns of the prediction log the report counts (``shadow``, ``decision``),
        re-read when older than ``log_seconds``: a projection of the Parquet files, not the log."""
        with self._lock:
            if self._log is not None and self._log[0] > time.monotonic():
                return self._log[1]
        spec = self.ws.project.spec
        folder = self.ws.settings.home / "predictions" / spec.name
        if any(folder.glob("date=*/*.parquet")):
            frame = (
                pl.scan_parquet(str(folder / "date=*" / "*.parquet"), hive_partitioning=False)
                .select("shadow", "decision")
                .collect()
            )
        else:
            frame = read_predictions(self.ws.settings.home / "predictions", spec.name)
        with self._lock:
            self._log = (time.monotonic() + self.log_seconds, frame)
        return frame

    def report(self) -> dict[str, Any]:
        """The report: automation, overrides, audited precision, backlog, SLA, agreement, cost."""
        predictions = self.predictions()
        with self.ws.store.transaction() as session:
            return review_report(session, self.ws.project.spec, predictions)


_OPS = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<"}


def _measure(metric: str, value: float | None, currency: str) -> str:
    """A success metric's value in its unit: a share, hours or money."""
    if value is None:
        return "—"
    if metric.endswith("_hours"):
        return f"{value:,.0f} h" if float(value).is_integer() else f"{value:,.2f} h"
    if metric.startswith("cost"):
        return f"{value:,.0f} {currency}"
    if metric.endswith(("_rate", "_auto", "_compliance")):
        return f"{value * 100:.0f}%" if float(value * 100).is_integer() else f"{value:.1%}"
    return f"{value:,.3g}"


def success_rows(spec: ProjectSpec, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared success metrics for people: the declaration, a short target, the value in
    its unit, and whether it is met (``None`` while it cannot be measured)."""
    currency = spec.objective.costs.currency
    return [
        {
            "metric": metric.metric,
            "declared": metric.text,
            "text": f"target {_OPS.get(metric.op, metric.op)} "
            + _measure(metric.metric, metric.value, currency),
            "value": _measure(metric.metric, entry["value"], currency),
            "met": entry["met"],
        }
        for metric, entry in zip(spec.objective.success, report["success"], strict=False)
    ]


def success_targets(spec: ProjectSpec, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The first declared success metric on each measure, by measure (for the summary cards)."""
    return {row["metric"]: row for row in reversed(success_rows(spec, report))}
