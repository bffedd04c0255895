"""Evaluate a parsed expression over scalars (gates, success metrics)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from loopline.errors import ExpressionError, Problem
from loopline.expressions._parser import (
    BinaryOp,
    Call,
    Compare,
    ListLit,
    Literal,
    Name,
    Node,
    UnaryOp,
)

__all__ = ["evaluate", "names", "ordered_names"]

_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def names(node: Node) -> set[str]:
    """Every dotted name the expression refers to (function names excluded)."""
    return set(ordered_names(node))


def ordered_names(node: Node) -> tuple[str, ...]:
    """The dotted names the expression refers to, in order of first appearance."""
    found: list[str] = []

    def walk(item: Node) -> None:
        if isinstance(item, Name):
            if item.dotted not in found:
                found.append(item.dotted)
        elif isinstance(item, UnaryOp):
            walk(item.operand)
        elif isinstance(item, BinaryOp):
            walk(item.left)
            walk(item.right)
        elif isinstance(item, Compare):
            walk(item.left)
            if item.right is not None:
                walk(item.right)
        elif isinstance(item, ListLit):
            for element in item.items:
                walk(element)
        elif isinstance(item, Call):
            for arg in item.args:
                walk(arg)
            for _, value in item.kwargs:
                walk(value)

    walk(node)
    return tuple(found)


def evaluate(
    node: Node,
    values: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> Any:
    """Evaluate ``node`` with names looked up in ``values`` and calls in ``functions``.

    Arithmetic with ``None`` (an unknown value) gives ``None``; a comparison with ``None`` gives
    ``None`` too, so a gate on a missing metric is "unknown", never silently true.

    Raises:
        ExpressionError: A name or function is unknown.
    """
    functions = functions or {}

    def fail(what: str, value: Any) -> ExpressionError:
        known = ", ".join(sorted(values)) or "none"
        return ExpressionError(
            f"Unknown {what} {value!r} in expression.",
            hint=f"Known names: {known}.",
            problems=[Problem(loc=(), code=f"unknown-{what}", msg=f"unknown {what}", value=value)],
        )

    def run(item: Node) -> Any:
        if isinstance(item, Literal):
            return item.value
        if isinstance(item, Name):
            if item.dotted not in values:
                raise fail("name", item.dotted)
            return values[item.dotted]
        if isinstance(item, ListLit):
            return [run(element) for element in item.items]
        if isinstance(item, UnaryOp):
            operand = run(item.operand)
            if item.op == "not":
                return None if operand is None else not operand
            return None if operand is None else -operand
        if isinstance(item, BinaryOp):
            left = run(item.left)
            if item.op == "and":
                return left and run(item.right)
            if item.op == "or":
                return left or run(item.right)
            right = run(item.right)
            if left is None or right is None:
                return None
            if item.op == "/" and right == 0:
                return math.nan
            return _ARITHMETIC[item.op](left, right)
        if isinstance(item, Compare):
            left = run(item.left)
            if item.op == "is null":
                return left is None
            if item.op == "is not null":
                return left is not None
            right = run(item.right) if item.right is not None else None
            if item.op in ("in", "not in"):
                members = right if isinstance(right, list) else []
                return (left in members) == (item.op == "in")
            if left is None or right is None:
                return None
            return _COMPARE[item.op](left, right)
        if isinstance(item, Call):
            if item.func not in functions:
                raise fail("function", item.func)
            args = [run(arg) for arg in item.args]
            kwargs = {key: run(value) for key, value in item.kwargs}
            return functions[item.func](*args, **kwargs)
        raise TypeError(f"not an expression node: {item!r}")  # a bug, not bad input

    return run(node)
