"""The experiments HTTP API: a use case's A/B experiments and one experiment's last analysis.

``GET /api/v1/experiments/{use_case}?status=running`` (newest first) and
``GET /api/v1/experiments/{use_case}/{experiment}`` (by number or uid: the plan, the last
analysis and the series of looks). Both need the ``read:strict`` permission. Reading never
analyses: ``loopline experiments analyze`` (or the worker) takes the looks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopline._workspace import Workspace
from loopline.errors import ExperimentError, LooplineError

__all__ = ["add_experiment_routes"]

Actor = Callable[[Request, str], Awaitable[str]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=str), status_code=status, media_type="application/json"
    )


class _NotFoundError(Exception):
    """An experiment or use case this server does not have: answered with 404."""

    def __init__(self, error: ExperimentError) -> None:
        super().__init__(error.message)
        self.error = error


def add_experiment_routes(app: FastAPI, ws: Workspace, actor: Actor) -> None:
    """Register the experiment routes; ``actor`` authenticates the caller for a permission."""
    from loopline.experiments import experiment_dict, get_experiment, list_experiments

    def known(use_case: str) -> None:
        if use_case != ws.project.spec.name:
            raise _NotFoundError(
                ExperimentError(
                    f"No use case named {use_case!r} is served here.",
                    hint=f"This server serves {ws.project.spec.name!r}.",
                )
            )

    async def run(request: Request, work: Callable[[], Any]) -> Response:
        try:
            await actor(request, "read:strict")
            return _json(await asyncio.to_thread(work))
        except _NotFoundError as missing:
            return _json({"error": missing.error.to_dict()}, status=404)
        except LooplineError as error:
            return _json({"error": error.to_dict()}, status=getattr(error, "status", 400))

    @app.get("/api/v1/experiments/{use_case}", tags=["experiments"])
    async def experiments(use_case: str, request: Request, status: str | None = None) -> Response:
        """The use case's experiments, newest first (``status``: running, decided, stopped)."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                rows = list_experiments(session, use_case, status=status)
                return {"experiments": [experiment_dict(r, analysis=False) for r in rows]}

        return await run(request, work)

    @app.get("/api/v1/experiments/{use_case}/{experiment}", tags=["experiments"])
    async def one(use_case: str, experiment: str, request: Request) -> Response:
        """One experiment: its plan, per-arm estimates, the decision and the looks so far."""

        def work() -> Any:
            known(use_case)
            with ws.store.transaction() as session:
                try:
                    row = get_experiment(session, experiment)
                except ExperimentError as error:
                    raise _NotFoundError(error) from error
                if row.use_case != use_case:
                    raise _NotFoundError(
                        ExperimentError(
                            f"Experiment {experiment} belongs to {row.use_case}, not {use_case}.",
                            hint=f"Ask /api/v1/experiments/{row.use_case}/{experiment}.",
                        )
                    )
                return experiment_dict(row)

        return await run(request, work)
