"""Serving: one ASGI app answering loopline's predict API, the MLflow scoring protocol and the
Open Inference Protocol v2, with micro-batching, routing (A/B, canary, shadow), decisions,
prediction logging, hot reload and Prometheus metrics."""

from __future__ import annotations

from loopline.serving._app import create_app
from loopline.serving._deployments import (
    STRATEGIES,
    Arm,
    advance_canary,
    current_deployment,
    deploy,
    rollback_deployment,
)
from loopline.serving._log import LoggedRequest, PredictionLog, read_predictions
from loopline.serving._router import ROUTE_HEADER, choose_arm, unit_position
from loopline.serving._runtime import Runtime

__all__ = [
    "ROUTE_HEADER",
    "STRATEGIES",
    "Arm",
    "LoggedRequest",
    "PredictionLog",
    "Runtime",
    "advance_canary",
    "choose_arm",
    "create_app",
    "current_deployment",
    "deploy",
    "read_predictions",
    "rollback_deployment",
    "unit_position",
]
