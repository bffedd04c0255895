"""The review and feedback HTTP API: cases (list, show, claim, decide) and feedback.

``GET /api/v1/cases?status=open``, ``GET /api/v1/cases/{id}``, ``POST /api/v1/cases/{id}/claim``,
``POST /api/v1/cases/{id}/decision`` with ``{"action", "label", "comment"}``, and
``POST /api/v1/feedback`` with ``{"prediction_id", "label"}`` (or ``request_id`` for a one-record
request, or a list of such objects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopline._workspace import Workspace
from loopline.errors import LooplineError, ReviewError
from loopline.review import (
    case_dict,
    case_history,
    claim_case,
    decide_case,
    get_case,
    list_cases,
    record_feedback,
)
from loopline.review._report import review_report
from loopline.review._webhooks import notify_decision
from loopline.serving._log import read_predictions

__all__ = ["add_review_routes"]

Actor = Callable[[Request, str], Awaitable[str]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=str), status_code=status, media_type="application/json"
    )


def _error(error: LooplineError) -> Response:
    return _json({"error": error.to_dict()}, status=getattr(error, "status", 400))


async def _payload(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ReviewError(f"The body is not valid JSON: {exc}.", status=400) from exc


def add_review_routes(
    app: FastAPI,
    ws: Workspace,
    actor: Actor,
    classes: Callable[[str], list[Any]],
    recent: Callable[[], dict[str, str]],
) -> None:
    """Register the case and feedback routes; ``actor`` authenticates and names the caller."""

    async def run(work: Callable[[], Any]) -> Response:
        try:
            return _json(await asyncio.to_thread(work))
        except LooplineError as error:
            return _error(error)

    @app.get("/api/v1/cases", tags=["review"])
    async def cases(
        request: Request,
        status: str | None = None,
        use_case: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Response:
        """The queue: by priority (expected cost of a wrong automatic decision), then due time."""
        try:
            await actor(request, "read:strict")
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            with ws.store.transaction() as session:
                found = list_cases(
                    session,
                    status=status,
                    use_case=use_case,
                    limit=min(max(limit, 1), 500),
                    offset=max(offset, 0),
                )
                return {"cases": [case_dict(c) for c in found]}

        return await run(work)

    @app.get("/api/v1/cases/{case_id}", tags=["review"])
    async def case(case_id: str, request: Request) -> Response:
        """One case with its history (callers poll this for the final decision)."""
        try:
            await actor(request, "read")
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            with ws.store.transaction() as session:
                found = get_case(session, case_id)
                events = case_history(session, found)
                return case_dict(found, events)

        return await run(work)

    @app.post("/api/v1/cases/{case_id}/claim", tags=["review"])
    async def claim(case_id: str, request: Request) -> Response:
        """Claim a case with a lease; 409 while someone else holds it."""
        try:
            who = await actor(request, "review")
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            with ws.store.transaction() as session:
                return case_dict(claim_case(session, case_id, actor=who))

        return await run(work)

    @app.post(
        "/api/v1/cases/{case_id}/decision",
        tags=["review"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": {
                                    "type": "string",
                                    "enum": ["accept", "override", "escalate", "skip"],
                                },
                                "label": {},
                                "comment": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def decision(case_id: str, request: Request) -> Response:
        """Decide a claimed case: accept, override (with a label), escalate or skip."""
        try:
            who = await actor(request, "review")
            body = await _payload(request)
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            if not isinstance(body, dict) or "action" not in body:
                raise ReviewError(
                    'The body must be {"action": ..., "label": ..., "comment": ...}.', status=400
                )
            with ws.store.transaction() as session:
                found = get_case(session, case_id)
                decided = decide_case(
                    session,
                    case_id,
                    actor=who,
                    action=str(body["action"]),
                    label=body.get("label"),
                    comment=body.get("comment"),
                    classes=classes(found.use_case),
                )
                result = case_dict(decided)
            notify_decision(
                ws.project.spec.serving.escalation.webhook_url,
                result,
                secret=ws.settings.webhook_secret,
            )
            return result

        return await run(work)

    @app.get("/api/v1/metrics/review", tags=["review"])
    async def review_metrics(request: Request) -> Response:
        """Automation, overrides, audited precision, backlog, SLA, agreement and cost."""
        try:
            await actor(request, "read:strict")
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            spec = ws.project.spec
            log = read_predictions(ws.settings.home / "predictions", spec.name)
            with ws.store.transaction() as session:
                return review_report(session, spec, log)

        return await run(work)

    @app.post(
        "/api/v1/feedback",
        tags=["feedback"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "object"},
                                {"type": "array", "items": {"type": "object"}},
                            ]
                        }
                    }
                },
            }
        },
    )
    async def feedback(request: Request) -> Response:
        """Labels for earlier predictions by ``prediction_id`` (or ``request_id``), any time."""
        try:
            who = await actor(request, "feedback")
            body = await _payload(request)
        except LooplineError as error:
            return _error(error)

        def work() -> Any:
            items = body if isinstance(body, list) else [body]
            if not items or not all(isinstance(item, dict) and "label" in item for item in items):
                raise ReviewError(
                    'Send {"prediction_id": ..., "label": ...} or a list of them.', status=400
                )
            use_case = ws.project.spec.name
            log = read_predictions(ws.settings.home / "predictions", use_case)
            known = recent()
            resolved = [_resolve(item, log, known) for item in items]
            allowed = [_plain(c) for c in classes(use_case)]
            for _, item in resolved:
                source = str(item.get("source", "label"))
                if source not in ("label", "outcome"):
                    raise ReviewError(
                        f"Feedback source {source!r} is reserved for reviewers' decisions.",
                        status=400,
                        hint="Post labels as source 'label' (or 'outcome').",
                    )
                if source == "label" and allowed and item["label"] not in allowed:
                    raise ReviewError(
                        f"Unknown label {item['label']!r}.",
                        status=400,
                        hint=f"The model's classes are: {allowed}.",
                    )
            results = []
            with ws.store.transaction() as session:
                for prediction_id, item in resolved:
                    _, status = record_feedback(
                        session,
                        use_case=use_case,
                        prediction_id=prediction_id,
                        label=item["label"],
                        actor=who,
                        source=str(item.get("source", "label")),
                    )
                    results.append({"prediction_id": prediction_id, "status": status})
            return {"results": results}

        return await run(work)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _resolve(
    item: dict[str, Any], log: pl.DataFrame, recent: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    if "prediction_id" in item:
        prediction_id = str(item["prediction_id"])
        if (
            prediction_id not in recent
            and log.filter(pl.col("prediction_id") == prediction_id).height == 0
        ):
            raise ReviewError(
                f"No prediction {prediction_id!r} in the log.",
                status=404,
                hint="Use the prediction_id from the predict response.",
            )
        return prediction_id, item
    if "request_id" in item:
        pending = [p for p, r in recent.items() if r == str(item["request_id"])]
        if len(pending) == 1:
            return pending[0], item
        if len(pending) > 1:
            raise ReviewError(
                f"request_id {item['request_id']!r} has {len(pending)} predictions; request_id "
                "works only for one-record requests.",
                status=400,
                hint="Use prediction_id for requests with several records.",
            )
        rows = log.filter((pl.col("request_id") == str(item["request_id"])) & ~pl.col("shadow"))
        if rows.height != 1:
            raise ReviewError(
                f"request_id {item['request_id']!r} matches {rows.height} predictions; "
                "request_id works only for one-record requests.",
                status=404 if rows.height == 0 else 400,
                hint="Use prediction_id for requests with several records.",
            )
        return str(rows["prediction_id"][0]), item
    raise ReviewError("Each feedback item needs a prediction_id (or request_id).", status=400)
