"""The safe expression language: parsing, evaluation, and refusal of anything unsafe."""

from __future__ import annotations

import pytest

from loopline.errors import ExpressionError
from loopline.expressions import Call, Compare, evaluate, names, parse


def test_precedence_follows_arithmetic() -> None:
    assert evaluate(parse("1 + 2 * 3 - 4 / 2"), {}) == 5.0


def test_dotted_names_and_comparison() -> None:
    node = parse("roc_auc >= champion.roc_auc - 0.005")
    assert isinstance(node, Compare)
    assert names(node) == {"roc_auc", "champion.roc_auc"}
    assert evaluate(node, {"roc_auc": 0.80, "champion.roc_auc": 0.802}) is True
    assert evaluate(node, {"roc_auc": 0.79, "champion.roc_auc": 0.802}) is False


def test_missing_value_gives_unknown_not_true() -> None:
    assert (
        evaluate(parse("roc_auc >= champion.roc_auc"), {"roc_auc": 1, "champion.roc_auc": None})
        is None
    )


def test_function_call_with_keyword() -> None:
    node = parse("slice_gap(recall, by=SEX) <= 0.05")
    assert isinstance(node, Compare)
    assert isinstance(node.left, Call)
    assert node.left.kwargs[0][0] == "by"
    result = evaluate(node, {"recall": "recall", "SEX": "SEX"}, {"slice_gap": lambda m, by: 0.04})
    assert result is True


def test_in_list_and_is_null() -> None:
    assert evaluate(parse("x in [1, 2] and y is null"), {"x": 2, "y": None}) is True
    assert evaluate(parse("x not in ['a', 'b']"), {"x": "c"}) is True


@pytest.mark.parametrize(
    "source", ["__import__('os')", "a >=", "1 +* 2", "x.__class__", "open('f'", "a; b", ""]
)
def test_malformed_or_unsafe_text_is_refused(source: str) -> None:
    def parse_and_run() -> None:
        evaluate(parse(source), {"a": 1, "x": 1})

    with pytest.raises(ExpressionError):
        parse_and_run()


def test_syntax_error_points_at_the_spot() -> None:
    with pytest.raises(ExpressionError, match="character 10"):
        parse("roc_auc >")


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(parse("roc > 1"), {"roc_auc": 0.8})
    assert caught.value.hint is not None
    assert "roc_auc" in caught.value.hint
