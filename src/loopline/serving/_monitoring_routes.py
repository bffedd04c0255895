"""The monitoring HTTP API: reports, their time series, alerts, and a run on demand.

``GET /api/v1/monitoring/{use_case}/reports/latest`` (or ``/reports/{id}``),
``GET /api/v1/monitoring/{use_case}/reports?limit=N`` (the time series, oldest first),
``GET /api/v1/monitoring/{use_case}/alerts?status=firing`` and
``POST /api/v1/monitoring/{use_case}/run`` (the ``train`` permission: it stores a report and may
raise alerts that act).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopline._workspace import Workspace
from loopline.errors import LooplineError, MonitoringError

__all__ = ["add_monitoring_routes"]

Actor = Callable[[Request, str], Awaitable[str]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=str), status_code=status, media_type="application/json"
    )


def add_monitoring_routes(app: FastAPI, ws: Workspace, actor: Actor) -> None:
    """Register the monitoring routes; ``actor`` authenticates the caller for a permission."""
    from loopline.monitoring._alerts import list_alerts
    from loopline.monitoring._history import get_report, report_series
    from loopline.monitoring._monitor import run_monitor

    def known(use_case: str) -> None:
        if use_case != ws.project.spec.name:
            raise MonitoringError(
                f"No use case named {use_case!r} is monitored here.",
                status=404,
                hint=f"This server monitors {ws.project.spec.name!r}.",
            )

    async def run(request: Request, permission: str, work: Callable[[], Any]) -> Response:
        try:
            await actor(request, permission)
            return _json(await asyncio.to_thread(work))
        except LooplineError as error:
            status = getattr(error, "status", 400)
            return _json({"error": error.to_dict()}, status=status)

    @app.get("/api/v1/monitoring/{use_case}/reports/latest", tags=["monitoring"])
    async def latest(use_case: str, request: Request) -> Response:
        """The latest monitoring report: drift, data quality, performance, business metrics."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                return get_report(session, use_case)

        return await run(request, "read:strict", work)

    @app.get("/api/v1/monitoring/{use_case}/reports/{report_id}", tags=["monitoring"])
    async def one(use_case: str, report_id: int, request: Request) -> Response:
        """One stored report by id."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                return get_report(session, use_case, report_id)

        return await run(request, "read:strict", work)

    @app.get("/api/v1/monitoring/{use_case}/reports", tags=["monitoring"])
    async def series(use_case: str, request: Request, limit: int = 100) -> Response:
        """The reports as a time series (oldest first), reduced to what charts plot."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                return {"reports": report_series(session, use_case, limit=min(max(limit, 1), 1000))}

        return await run(request, "read:strict", work)

    @app.get("/api/v1/monitoring/{use_case}/alerts", tags=["monitoring"])
    async def alerts(use_case: str, request: Request, status: str | None = None) -> Response:
        """Alerts, newest first (``status``: ``firing`` or ``resolved``)."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                return {"alerts": list_alerts(session, use_case, status=status)}

        return await run(request, "read:strict", work)

    @app.post("/api/v1/monitoring/{use_case}/run", tags=["monitoring"])
    async def run_now(use_case: str, request: Request) -> Response:
        """Monitor now over the configured window; returns the stored report and its alerts."""

        def work() -> Any:
            known(use_case)
            return run_monitor(ws, use_case)

        return await run(request, "train", work)
