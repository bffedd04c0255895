"""The safe expression language shared by gates, success metrics and data rules."""

from __future__ import annotations

from loopline.expressions._evaluate import evaluate, names, ordered_names
from loopline.expressions._parser import (
    BinaryOp,
    Call,
    Compare,
    ListLit,
    Literal,
    Name,
    Node,
    UnaryOp,
    parse,
)

__all__ = [
    "BinaryOp",
    "Call",
    "Compare",
    "ListLit",
    "Literal",
    "Name",
    "Node",
    "UnaryOp",
    "evaluate",
    "names",
    "ordered_names",
    "parse",
]
