"""Gates: the checks a model version must pass, each stored with measured value, bound, verdict.

A gate is a comparison in the safe expression language, e.g. ``roc_auc >= 0.75``,
``roc_auc >= champion.roc_auc - 0.005``, ``ece <= 0.05``,
``slice_gap(recall, by=SEX) <= 0.05``, ``latency_p99_ms <= 20`` or ``approvals >= 1``.

- Names are the candidate's metrics on the held-out test rows.
- ``champion.<metric>`` is the current champion's metric **on the same test rows**; the verdict
  comes with a paired-bootstrap interval of the difference. Without a champion the gate is
  ``skipped`` (nothing to regress from).
- ``slice_gap(metric, by=COLUMN)`` is the largest difference of ``metric`` between the slices of
  ``COLUMN`` (slices smaller than the minimum size are reported but not compared).
- ``approvals`` counts approvals by people; a gate on it is ``pending`` until met, which holds a
  version back from promotion without rejecting it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopline.errors import ExpressionError, Problem, TrainingError
from loopline.expressions import (
    BinaryOp,
    Call,
    Compare,
    ListLit,
    Literal,
    Name,
    Node,
    UnaryOp,
    evaluate,
    names,
    parse,
)

__all__ = ["GATE_METRICS", "GateOutcome", "check_gate_names", "evaluate_gates"]

#: Metric names a gate may use, by task.
GATE_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "accuracy",
        "f1",
        "precision",
        "recall",
        "ece",
        "ece_uncalibrated",
        "cost_per_1000",
        "threshold",
        "latency_p50_ms",
        "latency_p99_ms",
        "batch_rows_per_s",
        "conformal_coverage",
        "prevalence",
    ),
    "multiclass_classification": (
        "accuracy",
        "f1_macro",
        "log_loss",
        "roc_auc_ovr",
        "latency_p50_ms",
        "latency_p99_ms",
        "batch_rows_per_s",
        "conformal_coverage",
    ),
    "regression": (
        "rmse",
        "mae",
        "r2",
        "latency_p50_ms",
        "latency_p99_ms",
        "batch_rows_per_s",
        "conformal_coverage",
        "interval_width",
    ),
}
_FUNCTIONS = ("slice_gap",)
_SPECIAL = ("approvals",)


@dataclass(frozen=True)
class GateOutcome:
    """One gate's result."""

    gate: str
    verdict: str  # passed | failed | skipped | pending
    measured: float | None
    bound: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """Whether this outcome keeps the version from being promoted."""
        return self.verdict in ("failed", "pending")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "gate": self.gate,
            "verdict": self.verdict,
            "measured": self.measured,
            "bound": self.bound,
            "detail": self.detail,
        }


def check_gate_names(
    gates: tuple[str, ...], *, task: str, slice_columns: tuple[str, ...], lines: list[int | None]
) -> None:
    """Refuse, before any training, gates that name unknown metrics, functions or slices.

    Raises:
        TrainingError: Listing every bad gate with its position in loopline.yaml.
    """
    known = set(GATE_METRICS[task])
    problems = []
    for index, gate in enumerate(gates):
        node = parse(gate)
        line = lines[index] if index < len(lines) else None
        for call in _calls(node):
            if call.func not in _FUNCTIONS:
                problems.append(
                    Problem(
                        ("gates", index),
                        "unknown-function",
                        f"unknown function {call.func!r} in {gate!r}; "
                        f"known: {', '.join(_FUNCTIONS)}",
                        line=line,
                    )
                )
                continue
            by = dict(call.kwargs).get("by")
            column = by.dotted if isinstance(by, Name) else None
            if column not in slice_columns:
                problems.append(
                    Problem(
                        ("gates", index),
                        "unknown-slice",
                        f"slice_gap needs by=<a column in training.slices "
                        f"({', '.join(slice_columns) or 'none declared'})>, "
                        f"got {column!r}",
                        line=line,
                    )
                )
        for name in names(_without_calls(node)):
            metric = name.removeprefix("champion.")
            if metric not in known and name not in _SPECIAL:
                problems.append(
                    Problem(
                        ("gates", index),
                        "unknown-metric",
                        f"unknown metric {name!r} in {gate!r}; known for "
                        f"{task}: {', '.join(sorted(known))}",
                        line=line,
                    )
                )
    if problems:
        raise TrainingError(
            f"{len(problems)} gate(s) in loopline.yaml name something unknown; "
            "nothing was trained.",
            hint="Fix the gate expressions; `loopline check` lists them too.",
            problems=problems,
        )


def _calls(node: Node) -> list[Call]:
    found: list[Call] = []

    def walk(item: Node) -> None:
        if isinstance(item, Call):
            found.append(item)
        for child in _children(item):
            walk(child)

    walk(node)
    return found


def _children(item: Node) -> list[Node]:
    if isinstance(item, UnaryOp):
        return [item.operand]
    if isinstance(item, BinaryOp):
        return [item.left, item.right]
    if isinstance(item, Compare):
        return [item.left] + ([item.right] if item.right is not None else [])
    if isinstance(item, ListLit):
        return list(item.items)
    return []


def _without_calls(node: Node) -> Node:
    if isinstance(node, Call):
        return Literal(0.0)
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, _without_calls(node.operand))
    if isinstance(node, BinaryOp):
        return BinaryOp(node.op, _without_calls(node.left), _without_calls(node.right))
    if isinstance(node, Compare):
        right = _without_calls(node.right) if node.right is not None else None
        return Compare(node.op, _without_calls(node.left), right)
    return node


def _substitute(node: Node, value_of: Callable[[Call], float | None]) -> Node:
    if isinstance(node, Call):
        return Literal(value_of(node))
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, _substitute(node.operand, value_of))
    if isinstance(node, BinaryOp):
        return BinaryOp(
            node.op, _substitute(node.left, value_of), _substitute(node.right, value_of)
        )
    if isinstance(node, Compare):
        right = _substitute(node.right, value_of) if node.right is not None else None
        return Compare(node.op, _substitute(node.left, value_of), right)
    return node


def evaluate_gates(
    gates: tuple[str, ...],
    *,
    metrics: Mapping[str, Any],
    slice_gaps: Mapping[tuple[str, str], float | None],
    champion: Mapping[str, Any] | None,
    comparisons: Mapping[str, Mapping[str, float]] | None = None,
    approvals: int = 0,
) -> list[GateOutcome]:
    """Evaluate every gate; never raises for a metric that is merely missing (verdict failed).

    Args:
        gates: The gate expressions.
        metrics: The candidate's metrics on the test rows.
        slice_gaps: ``(metric, column) -> gap`` for the candidate.
        champion: The champion's metrics on the same test rows, or ``None`` without a champion.
        comparisons: Per metric, the paired-bootstrap ``difference``/``low``/``high``.
        approvals: How many people approved the version.
    """
    outcomes = []
    for gate in gates:
        node = parse(gate)
        uses_champion = any(n.startswith("champion.") for n in names(_without_calls(node)))
        if uses_champion and champion is None:
            outcomes.append(GateOutcome(gate, "skipped", None, None, {"reason": "no champion yet"}))
            continue

        def gap(call: Call) -> float | None:
            metric = call.args[0]
            by = dict(call.kwargs).get("by")
            key = (
                metric.dotted if isinstance(metric, Name) else "",
                by.dotted if isinstance(by, Name) else "",
            )
            return slice_gaps.get(key)

        resolved = _substitute(node, gap)
        values: dict[str, Any] = {**metrics, "approvals": approvals}
        values.update({f"champion.{k}": v for k, v in (champion or {}).items()})
        try:
            verdict_value = evaluate(resolved, values)
            measured = (
                _number(evaluate(resolved.left, values)) if isinstance(resolved, Compare) else None
            )
            bound = (
                _number(evaluate(resolved.right, values))
                if isinstance(resolved, Compare) and resolved.right is not None
                else None
            )
        except ExpressionError as exc:
            outcomes.append(GateOutcome(gate, "failed", None, None, {"reason": exc.message}))
            continue
        detail: dict[str, Any] = {}
        if uses_champion and comparisons:
            metric_names = [
                n.removeprefix("champion.") for n in names(node) if n.startswith("champion.")
            ]
            detail["comparison"] = {
                m: dict(comparisons[m]) for m in metric_names if m in comparisons
            }
        if verdict_value is None:
            detail["reason"] = "a value in the gate is unknown"
        if "approvals" in names(_without_calls(node)) and not verdict_value:
            outcomes.append(GateOutcome(gate, "pending", measured, bound, detail))
            continue
        outcomes.append(
            GateOutcome(gate, "passed" if verdict_value else "failed", measured, bound, detail)
        )
    return outcomes


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
