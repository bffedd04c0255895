"""Escalation rules evaluated on NumPy columns, for the rules most projects write.

A polars query has a fixed cost of about a millisecond: on the serving path, one rule over a
500-row micro-batch cost more than scoring it with the isolation forest. Rules that compare
numeric columns and numbers (with ``+``, ``-``, ``*``, unary minus, ``is null`` and
``is not null``, joined by ``and``, ``or`` and ``not``) are evaluated here with NumPy instead, with
polars' three-valued logic: a missing number (NaN in a float column) is null, a comparison with
null is null, ``and``/``or`` are Kleene's, and a row is hit where the rule is true (null is not
a hit), exactly as ``expression.fill_null(False)`` in polars. Anything else returns ``None``,
and the caller asks polars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from loopline.expressions import BinaryOp, Compare, Literal, Name, Node, UnaryOp

__all__ = ["array_rule_hits"]

Bools = npt.NDArray[np.bool_]
#: A value per row (or one for all rows) and where it is known (``None``: everywhere).
_Value = tuple[Any, Bools | None]


class _Unsupported(Exception):
    """The rule uses something this evaluator leaves to polars."""


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def array_rule_hits(node: Node, columns: Mapping[str, Any], rows: int) -> Bools | None:
    """Per row, whether the rule (parsed) is true, or ``None`` when polars should decide.

    Args:
        node: The parsed rule.
        columns: The rows' columns by name (NumPy arrays, ``rows`` long).
        rows: The number of rows.
    """
    try:
        with np.errstate(all="ignore"):  # overflow to inf is polars' result too
            values, known = _evaluate(node, columns)
    except (_Unsupported, TypeError, ValueError, OverflowError):
        return None
    values = np.asarray(values)
    if values.dtype != np.bool_:
        return None  # not a condition: polars says what it means
    hit = values if known is None else values & known
    return np.broadcast_to(hit, (rows,))


def _evaluate(node: Node, columns: Mapping[str, Any]) -> _Value:
    if isinstance(node, Literal):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Unsupported
        return value, None
    if isinstance(node, Name):
        return _column(node, columns)
    if isinstance(node, UnaryOp):
        operand, known = _evaluate(node.operand, columns)
        if node.op == "not":
            return ~_boolean(operand), known
        return np.negative(_number(operand)), known
    if isinstance(node, BinaryOp):
        left, right = _evaluate(node.left, columns), _evaluate(node.right, columns)
        if node.op == "and":
            return _and(left, right)
        if node.op == "or":
            return _or(left, right)
        operation = _ARITHMETIC.get(node.op)
        if operation is None:
            raise _Unsupported  # / and %: nulls and NaN from division are polars' to decide
        result = operation(_number(left[0]), _number(right[0]))
        known = _both(left[1], right[1])
        if np.asarray(result).dtype.kind == "f" and _nan_where_known(result, known):
            raise _Unsupported  # NaN from arithmetic is not null in polars
        return result, known
    if isinstance(node, Compare):
        return _compare(node, columns)
    raise _Unsupported  # calls and lists


def _compare(node: Compare, columns: Mapping[str, Any]) -> _Value:
    left, known = _evaluate(node.left, columns)
    if node.op in ("is null", "is not null"):
        present = np.ones(np.shape(left), dtype=bool) if known is None else known
        return (~present if node.op == "is null" else present), None
    comparison = _COMPARISONS.get(node.op)
    if comparison is None or node.right is None:
        raise _Unsupported  # in, not in
    right, right_known = _evaluate(node.right, columns)
    return comparison(_number(left), _number(right)), _both(known, right_known)


def _column(node: Name, columns: Mapping[str, Any]) -> _Value:
    if len(node.parts) != 1 or node.parts[0] not in columns:
        raise _Unsupported
    values = np.asarray(columns[node.parts[0]])
    kind = values.dtype.kind
    if kind in "iub":
        return values, None
    if kind == "f":
        missing = np.isnan(values)
        return values, (~missing if missing.any() else None)
    raise _Unsupported


def _number(value: Any) -> Any:
    if np.asarray(value).dtype.kind not in "iuf":
        raise _Unsupported
    return value


def _boolean(value: Any) -> Any:
    if np.asarray(value).dtype != np.bool_:
        raise _Unsupported
    return value


def _both(left: Bools | None, right: Bools | None) -> Bools | None:
    if left is None:
        return right
    return left if right is None else left & right


def _nan_where_known(values: Any, known: Bools | None) -> bool:
    nan = np.isnan(values)
    return bool((nan if known is None else nan & known).any())


def _and(left: _Value, right: _Value) -> _Value:
    a, b = _boolean(left[0]), _boolean(right[0])
    a_true, a_false = _truth(a, left[1])
    b_true, b_false = _truth(b, right[1])
    true = a_true & b_true
    return true, true | a_false | b_false


def _or(left: _Value, right: _Value) -> _Value:
    a, b = _boolean(left[0]), _boolean(right[0])
    a_true, a_false = _truth(a, left[1])
    b_true, b_false = _truth(b, right[1])
    true = a_true | b_true
    return true, true | (a_false & b_false)


def _truth(values: Any, known: Bools | None) -> tuple[Any, Any]:
    """Where a condition is known true, and where known false."""
    if known is None:
        return values, ~values
    return values & known, ~values & known
