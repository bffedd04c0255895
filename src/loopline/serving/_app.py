"""The ASGI app: loopline's predict API, the MLflow scoring protocol, the Open Inference Protocol
v2, health and Prometheus metrics — one FastAPI app on uvicorn.

Bodies are parsed by hand (orjson) rather than through pydantic models: every protocol has its
own exact request and error shapes, and a bad request must get a 4xx in the caller's protocol,
never a 500.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from operator import itemgetter
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from loopline._version import __version__
from loopline._workspace import Workspace
from loopline.auth import Authenticator, AuthError
from loopline.errors import LooplineError, Problem, ServingError
from loopline.serving import _mlflow, _oip
from loopline.serving._experiment_routes import add_experiment_routes
from loopline.serving._monitoring_routes import add_monitoring_routes
from loopline.serving._raw_records import RawRecords, native_payload, parse_body
from loopline.serving._review_routes import add_review_routes
from loopline.serving._router import ROUTE_HEADER
from loopline.serving._runtime import Runtime

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 10 * 1024 * 1024


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_RECORDS = {"type": "array", "items": {"type": "object"}, "minItems": 1}
_PREDICT_BODY = _json_body(
    {
        "type": "object",
        "required": ["records"],
        "properties": {"records": _RECORDS, "unit_key": {"type": "string"}},
        "additionalProperties": False,
    }
)
_INVOCATIONS_BODY = _json_body(
    {
        "type": "object",
        "properties": {
            "dataframe_split": {"type": "object"},
            "dataframe_records": _RECORDS,
            "instances": _RECORDS,
            "inputs": {"type": "object"},
        },
        "minProperties": 1,
        "maxProperties": 1,
    }
)
_INFER_BODY = _json_body(
    {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string"},
                        "data": {"type": "array"},
                    },
                },
            },
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    }
)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("use_case", "model_version", "arm", "status")
        self.requests = Counter(
            "loopline_requests_total", "Prediction requests.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "loopline_request_latency_seconds",
            "Prediction latency.",
            labels,
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.rows = Histogram(
            "loopline_batch_rows",
            "Rows per request.",
            ("use_case",),
            registry=self.registry,
            buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 10000),
        )
        self.decisions = Counter(
            "loopline_decisions_total",
            "Decisions by reason.",
            ("use_case", "decision", "reason"),
            registry=self.registry,
        )
        self.queue = Gauge(
            "loopline_log_queue_depth", "Prediction log records waiting.", registry=self.registry
        )
        self.errors = Counter(
            "loopline_request_errors_total",
            "Refused requests.",
            ("status",),
            registry=self.registry,
        )
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def child(self, name: str, *labels: str) -> Any:
        """The metric ``name``'s child for ``labels``, bound once and reused (a dict lookup
        instead of ``labels()``'s validation and lock on every request)."""
        key = (name, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = getattr(self, name).labels(*labels)
        return found


_DECISION = itemgetter("decision")
_REASONS = itemgetter("reasons")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ServingError(
            f"The body is {length} bytes; the limit is {MAX_BODY_BYTES}.",
            status=413,
            hint="Send fewer rows per request.",
        )
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ServingError(f"The body is over {MAX_BODY_BYTES} bytes.", status=413)
    return body


def _native_error(error: LooplineError) -> Response:
    status = getattr(error, "status", 400 if isinstance(error, ServingError) else 500)
    return _json({"error": error.to_dict()}, status=status, headers=getattr(error, "headers", None))


def create_app(ws: Workspace, *, reload_seconds: float = 2.0, max_wait_ms: float = 0.0) -> FastAPI:
    """The serving app for the workspace's project (runtime started in the lifespan)."""
    runtime = Runtime(ws, reload_seconds=reload_seconds, max_wait_ms=max_wait_ms)
    auth = Authenticator(ws.store, ws.settings)
    metrics = _Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="loopline",
        version=__version__,
        lifespan=lifespan,
        description="Predictions (loopline, MLflow scoring, Open Inference Protocol v2), "
        "health and metrics.",
    )
    app.state.runtime = runtime
    app.state.auth = auth
    app.state.metrics = metrics

    async def guarded(
        render_error: Callable[[LooplineError], Response], work: Callable[[], Awaitable[Response]]
    ) -> Response:
        try:
            return await work()
        except LooplineError as error:
            metrics.errors.labels(str(getattr(error, "status", 500))).inc()
            return render_error(error)

    def observe(use_case: str, answer: Any, status: str) -> None:
        labels = (
            use_case,
            answer.predictions[0]["model_version"] if answer.predictions else "",
            answer.arm["role"],
            status,
        )
        metrics.child("requests", *labels).inc()
        metrics.child("latency", *labels).observe(answer.latency_ms / 1000)
        metrics.child("rows", use_case).observe(len(answer.predictions))
        # rows counted by their (decision, reasons) in C; each distinct combination's reasons
        # are then split once (a request's rows share a handful of combinations)
        predictions = answer.predictions
        combinations = collections.Counter(
            zip(
                map(_DECISION, predictions),
                map(tuple, map(_REASONS, predictions)),
                strict=True,
            )
        )
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for (decision, reasons), count in combinations.items():
            for reason in reasons or ("none",):
                counts[decision, reason.split(":")[0]] += count
        for (decision, reason), count in counts.items():
            metrics.child("decisions", use_case, decision, reason).inc(count)

    @app.post("/api/v1/predict/{use_case}", tags=["predictions"], openapi_extra=_PREDICT_BODY)
    async def predict(use_case: str, request: Request) -> Response:
        """Predict for ``{"records": [...], "unit_key": optional}``."""

        async def work() -> Response:
            await auth.require("predict")(request)
            payload = native_payload(await _body(request))
            records = payload.get("records") if isinstance(payload, dict) else None
            if not isinstance(records, (RawRecords, list)):
                raise ServingError(
                    'The body must be {"records": [{...}, ...]}.',
                    status=400,
                    problems=[Problem(("records",), "missing-field", "records is required")],
                )
            unknown = set(payload) - {"records", "unit_key"}
            if unknown:
                raise ServingError(
                    f"Unknown keys {sorted(unknown)}.",
                    status=400,
                    hint='Send {"records": [...], "unit_key": "..."}.',
                )
            unit_key = payload.get("unit_key")
            answer = await runtime.predict(
                use_case,
                records,
                unit_key=None if unit_key is None else str(unit_key),
                pinned=request.headers.get(ROUTE_HEADER),
            )
            observe(use_case, answer, "200")
            return _json(
                {"request_id": answer.request_id, "predictions": answer.predictions},
                headers={ROUTE_HEADER: answer.arm["model"]},
            )

        return await guarded(_native_error, work)

    @app.post("/invocations", tags=["mlflow"], openapi_extra=_INVOCATIONS_BODY)
    async def invocations(request: Request) -> Response:
        """The MLflow scoring protocol."""

        async def work() -> Response:
            await auth.require("predict")(request)
            use_case = runtime.default_use_case()
            _, champion = _served(use_case, None)
            records = _mlflow.parse_invocation(
                await _body(request),
                request.headers.get("content-type"),
                signature=champion.model.signature,
            )
            answer = await runtime.predict(
                use_case, records, pinned=request.headers.get(ROUTE_HEADER)
            )
            observe(use_case, answer, "200")
            return _json(_mlflow.invocation_response([p["prediction"] for p in answer.predictions]))

        def error(err: LooplineError) -> Response:
            status, body = _mlflow.mlflow_error(err)
            return _json(body, status=status)

        return await guarded(error, work)

    @app.get("/ping", tags=["mlflow"])
    async def ping() -> Response:
        return PlainTextResponse("\n", status_code=200 if runtime.ready else 503)

    @app.get("/health", tags=["mlflow"])
    async def health() -> Response:
        return PlainTextResponse("\n", status_code=200 if runtime.ready else 503)

    @app.get("/version", tags=["mlflow"])
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        ready = runtime.ready and bool(runtime.use_cases)
        return _json(
            {"ready": ready, "use_cases": sorted(runtime.use_cases)}, status=200 if ready else 503
        )

    @app.get("/metrics", tags=["operations"])
    async def prometheus() -> Response:
        metrics.queue.set(runtime.log.depth)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def oip_error(err: LooplineError) -> Response:
        status, body = _oip.oip_error(err)
        return _json(body, status=status)

    @app.get("/v2/health/live", tags=["open inference"])
    async def v2_live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", tags=["open inference"])
    async def v2_ready() -> Response:
        ready = runtime.ready and bool(runtime.use_cases)
        return _json({"ready": ready}, status=200 if ready else 503)

    @app.get("/v2", tags=["open inference"])
    async def v2_server() -> Response:
        return _json(_oip.server_metadata("loopline", __version__, []))

    def _served(name: str, version: str | None) -> Any:
        use_case = runtime.use_case(name)
        champion = next(a for a in use_case.arms if a["role"] == "champion")
        key = champion["model_version_id"]
        if version is not None:
            matches = [k for k, s in use_case.models.items() if str(s.version) == version]
            if not matches:
                raise ServingError(f"Model {name} has no served version {version}.", status=404)
            key = matches[0]
        return use_case, use_case.models[key]

    @app.get("/v2/models/{name}", tags=["open inference"])
    @app.get("/v2/models/{name}/versions/{version}", tags=["open inference"])
    async def v2_model(name: str, request: Request, version: str | None = None) -> Response:
        async def work() -> Response:
            await auth.require("predict")(request)
            use_case, served = _served(name, version)
            versions = sorted(str(s.version) for s in use_case.models.values())
            return _json(_oip.model_metadata(name, versions, served.model.signature))

        return await guarded(oip_error, work)

    @app.get("/v2/models/{name}/ready", tags=["open inference"])
    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["open inference"])
    async def v2_model_ready(name: str, request: Request, version: str | None = None) -> Response:
        async def work() -> Response:
            await auth.require("predict")(request)
            _served(name, version)
            return _json({"name": name, "ready": True})

        return await guarded(oip_error, work)

    @app.post("/v2/models/{name}/infer", tags=["open inference"], openapi_extra=_INFER_BODY)
    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["open inference"],
        openapi_extra=_INFER_BODY,
    )
    async def v2_infer(name: str, request: Request, version: str | None = None) -> Response:
        async def work() -> Response:
            await auth.require("predict")(request)
            _, served = _served(name, version)
            payload = parse_body(await _body(request))
            if not isinstance(payload, dict):
                raise ServingError("The inference request must be a JSON object.", status=400)
            records, request_id, _params = _oip.parse_infer_request(payload, served.model.signature)
            pinned = served.name if version is not None else request.headers.get(ROUTE_HEADER)
            answer = await runtime.predict(name, records, pinned=pinned)
            observe(name, answer, "200")
            outputs = _outputs(answer.predictions, _oip.prediction_datatype(served.model.signature))
            version_served = str(answer.predictions[0]["model_version"].split("@")[1])
            body = _oip.infer_response(
                name,
                version_served,
                request_id,
                outputs,
                requested=_oip.requested_outputs(payload),
            )
            return _json(body)

        return await guarded(oip_error, work)

    async def actor(request: Request, permission: str) -> str:
        if permission == "read:strict":  # the queue and its metrics: people, not prediction callers
            permission = "read"
            principal = await auth.require(permission)(request)
        elif permission == "read":  # one case: its caller polls it, reviewers read it
            principal = await auth.authenticate(request)
            if not (principal.allows("predict") or principal.allows("read")):
                raise AuthError(f"{principal.name} may not read cases.", code="forbidden")
        else:
            principal = await auth.require(permission)(request)
        return ws.actor if principal.via == "anonymous" else principal.name

    def classes(use_case: str) -> list[Any]:
        served = runtime.use_cases.get(use_case)
        if served is None:
            return []
        champion = next(a for a in served.arms if a["role"] == "champion")
        return list(served.models[champion["model_version_id"]].model.classes)

    add_review_routes(app, ws, actor, classes, runtime.recent.mapping)
    add_monitoring_routes(app, ws, actor)
    add_experiment_routes(app, ws, actor)
    from loopline.ui import add_ui_routes  # the UI imports serving types; import it last

    add_ui_routes(app, ws, auth, runtime)
    return app


def _outputs(
    predictions: list[dict[str, Any]], label_type: str
) -> dict[str, tuple[str, list[Any]]]:
    first = predictions[0]
    outputs: dict[str, tuple[str, list[Any]]] = {
        "predict": (label_type, [p["prediction"] for p in predictions]),
        "decision": ("BYTES", [p["decision"] for p in predictions]),
    }
    if first.get("probability") is not None:
        outputs["probability"] = ("FP64", [p["probability"] for p in predictions])
    if first.get("confidence") is not None:
        outputs["confidence"] = ("FP64", [p["confidence"] for p in predictions])
    return outputs
