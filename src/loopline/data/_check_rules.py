"""Compile a cross-column rule (our safe expression language) into a polars expression.

A rule such as ``PAY_AMT1 >= 0 or BILL_AMT1 < 0`` is parsed by :func:`loopline.expressions.parse`
into a tree and translated node by node into one vectorised polars expression; nothing is ever
passed to ``eval``. A row passes when the rule is true; a rule that is *null* for a row (because
a value it reads is null) passes too, as in SQL ``CHECK`` constraints: nulls are the business of
``required``.

Supported: column names, numbers, 'strings', true/false/null, ``+ - * / %``, comparisons,
``and``/``or``/``not``, ``in [..]``, ``not in [..]``, ``is null``, ``is not null`` and the
functions ``abs(x)``, ``len(x)`` (characters of a string), ``lower(x)`` and ``upper(x)``.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from loopline.errors import ExpressionError, Problem
from loopline.expressions import (
    BinaryOp,
    Call,
    Compare,
    ListLit,
    Literal,
    Name,
    Node,
    UnaryOp,
    ordered_names,
)

__all__ = ["RULE_FUNCTIONS", "compile_rule", "rule_columns"]

#: Functions a rule may call, each taking one column expression.
RULE_FUNCTIONS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "abs": lambda expr: expr.abs(),
    "len": lambda expr: expr.str.len_chars(),
    "lower": lambda expr: expr.str.to_lowercase(),
    "upper": lambda expr: expr.str.to_uppercase(),
}


def rule_columns(node: Node) -> tuple[str, ...]:
    """The column names a rule reads, in order of first appearance."""
    return ordered_names(node)


def compile_rule(node: Node) -> pl.Expr:
    """A polars expression that is true where the rule holds (null where it is unknown).

    Raises:
        ExpressionError: The rule uses something rules cannot do (a dotted name, an unknown
            function, keyword arguments, a list outside ``in``).
    """
    if isinstance(node, Literal):
        return pl.lit(node.value)
    if isinstance(node, Name):
        if len(node.parts) != 1:
            raise _unsupported(f"the dotted name {node.dotted!r}", "name columns without dots")
        return pl.col(node.parts[0])
    if isinstance(node, UnaryOp):
        operand = compile_rule(node.operand)
        return operand.not_() if node.op == "not" else -operand
    if isinstance(node, BinaryOp):
        return _binary(node.op, compile_rule(node.left), compile_rule(node.right))
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, Call):
        return _call(node)
    if isinstance(node, ListLit):
        raise _unsupported("a list outside `in [...]`", "use lists only after `in`")
    raise TypeError(f"not an expression node: {node!r}")  # a bug, not bad input


def _binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    operations: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
        "and": lambda a, b: a & b,
        "or": lambda a, b: a | b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return operations[op](left, right)


def _compare(node: Compare) -> pl.Expr:
    left = compile_rule(node.left)
    if node.op == "is null":
        return left.is_null()
    if node.op == "is not null":
        return left.is_not_null()
    if node.op in ("in", "not in"):
        if not isinstance(node.right, ListLit) or not all(
            isinstance(item, Literal) for item in node.right.items
        ):
            raise _unsupported("`in` with a list of non-constant items", "list constants only")
        values = [item.value for item in node.right.items if isinstance(item, Literal)]
        inside = left.is_in(values)
        return inside if node.op == "in" else inside.not_()
    if node.right is None:  # the parser always sets it for these operators
        raise TypeError(f"comparison without a right side: {node!r}")
    right = compile_rule(node.right)
    comparisons: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    return comparisons[node.op](left, right)


def _call(node: Call) -> pl.Expr:
    function = RULE_FUNCTIONS.get(node.func)
    if function is None:
        known = ", ".join(sorted(RULE_FUNCTIONS))
        raise _unsupported(f"the function {node.func!r}", f"rules can call {known}")
    if node.kwargs or len(node.args) != 1:
        raise _unsupported(f"{node.func}() with these arguments", "pass exactly one argument")
    return function(compile_rule(node.args[0]))


def _unsupported(what: str, fix: str) -> ExpressionError:
    return ExpressionError(
        f"A contract rule cannot use {what}.",
        hint=f"Rewrite the rule: {fix}.",
        problems=[Problem(loc=(), code="rule-unsupported", msg=f"rules cannot use {what}; {fix}")],
    )
