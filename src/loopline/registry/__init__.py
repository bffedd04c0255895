"""The model registry: versions, states, aliases with history, gates, artifacts and model cards."""

from __future__ import annotations

from loopline.registry._artifacts import (
    load_model,
    read_file,
    read_optional_file,
    save_artifacts,
)
from loopline.registry._card import build_card, render_card
from loopline.registry._gates import GATE_METRICS, GateOutcome, check_gate_names, evaluate_gates
from loopline.registry._registry import (
    ALIASES,
    STATES,
    ModelRef,
    alias_at,
    approve,
    archive,
    blocking_gates,
    current_alias,
    get_version,
    list_versions,
    parse_model_ref,
    promote,
    rollback,
)

__all__ = [
    "ALIASES",
    "GATE_METRICS",
    "STATES",
    "GateOutcome",
    "ModelRef",
    "alias_at",
    "approve",
    "archive",
    "blocking_gates",
    "build_card",
    "check_gate_names",
    "current_alias",
    "evaluate_gates",
    "get_version",
    "list_versions",
    "load_model",
    "parse_model_ref",
    "promote",
    "read_file",
    "read_optional_file",
    "render_card",
    "rollback",
    "save_artifacts",
]
