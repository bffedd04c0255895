"""Escalation rules on NumPy columns against the same rules as polars queries (the reference)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline.data._check_rules import compile_rule
from loopline.expressions import parse
from loopline.review._array_rules import array_rule_hits
from loopline.review._escalation import _polars_columns

ROWS = 400

#: Rules NumPy evaluates (and polars must agree with).
SUPPORTED = [
    "a > 5",
    "a >= 5 and a <= 7",
    "b <= 0.3",
    "b > 0.5 and a < 3",
    "b > 0.5 or a < 3",
    "not (b > 0.5)",
    "not (b > 0.5 and a < 8)",
    "not (b > 0.5 or d < 0)",
    "b is null",
    "b is not null",
    "b is null or b > 0.9",
    "a * 2 - d > 1",
    "b + d > 0.5",
    "-b < -0.5",
    "c",
    "not c",
    "c and b > 0.2",
    "c or b > 0.8",
    "a > 2.5",
    "b != 0.25",
    "b == d",
    "u > 100",
    "a < 0",
]
#: Rules left to polars.
LEFT_TO_POLARS = [
    "a in [1, 2]",
    "b / 2 > 0.1",
    "a % 2 == 0",
    "s == 'x'",
    "abs(d) > 1",
    "a + 1",
    "c == true",
    "missing > 1",
]


def _columns() -> dict[str, Any]:
    rng = np.random.default_rng(12)
    b = rng.random(ROWS)
    b[rng.random(ROWS) < 0.2] = np.nan  # missing numbers: null
    b[:4] = [0.25, 0.3, 0.5, np.nan]  # values at the rules' thresholds
    d = rng.normal(size=ROWS)
    d[10:30] = b[10:30]  # equal numbers (and NaN, which equals nothing)
    return {
        "a": rng.integers(0, 10, size=ROWS),
        "b": b,
        "c": rng.random(ROWS) < 0.5,
        "d": d,
        "u": rng.integers(0, 200, size=ROWS).astype(np.uint8),
        "s": np.array([rng.choice(["x", "y"]) for _ in range(ROWS)], dtype=object),
    }


def _polars(rule: str, columns: dict[str, Any]) -> list[bool]:
    frame = _polars_columns(pd.DataFrame(columns), list(columns))
    expression = compile_rule(parse(rule)).fill_null(False)
    return [bool(flag) for flag in frame.select(expression.alias("hit"))["hit"].to_list()]


@pytest.mark.parametrize("rule", SUPPORTED)
def test_numpy_rules_hit_where_polars_rules_do(rule: str) -> None:
    columns = _columns()
    got = array_rule_hits(parse(rule), columns, ROWS)
    assert got is not None, "evaluated by NumPy"
    expected = _polars(rule, columns)
    assert got.tolist() == expected
    if rule != "a < 0":  # the comparison covers both outcomes
        assert 0 < sum(expected) < ROWS


@pytest.mark.parametrize("rule", LEFT_TO_POLARS)
def test_other_rules_are_left_to_polars(rule: str) -> None:
    assert array_rule_hits(parse(rule), _columns(), ROWS) is None


def test_nan_made_by_arithmetic_is_left_to_polars() -> None:
    # inf - inf is NaN, which polars orders above every number instead of treating as null
    columns = {"x": np.array([np.inf, 1.0, 2.0])}
    assert array_rule_hits(parse("x - x > 0"), columns, 3) is None
    assert array_rule_hits(parse("x - 1 > 0"), columns, 3) is not None


def test_a_rule_without_columns_holds_for_every_row() -> None:
    # as the row-by-row evaluator has it (a polars query of constants gives one row)
    assert array_rule_hits(parse("1 > 0"), _columns(), ROWS).tolist() == [True] * ROWS  # type: ignore[union-attr]
    assert array_rule_hits(parse("1 > 2"), _columns(), ROWS).tolist() == [False] * ROWS  # type: ignore[union-attr]
