"""validate_records: the one validation path behind every serving protocol."""

from __future__ import annotations

import doctest
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopline.serving._inputs as inputs_module
from loopline.errors import ServingError
from loopline.serving._inputs import MAX_PROBLEMS_SHOWN, validate_records
from loopline.training._signature import InputField, Signature

SIGNATURE = Signature(
    task="binary_classification",
    target="default",
    inputs=(
        InputField("age", "integer", required=True, categorical=False, minimum=18, maximum=99),
        InputField("income", "number", required=True, categorical=False),
        InputField("region", "string", required=True, categorical=True, allowed=("north", "south")),
        InputField("bonus", "number", required=False, categorical=False),
    ),
    classes=(0, 1),
    positive_class=1,
)
GOOD = {"age": 30, "income": 1200.5, "region": "north", "bonus": 10.0}


def _signature(*fields: InputField) -> Signature:
    return Signature(task="regression", target="y", inputs=fields)


def _problems(records: list[Any], signature: Signature = SIGNATURE) -> set[tuple[Any, ...]]:
    with pytest.raises(ServingError) as caught:
        validate_records(records, signature, max_rows=1000)
    assert caught.value.status == 422
    return {(*problem.loc, problem.code) for problem in caught.value.problems}


def test_frame_has_the_signature_columns_in_order_with_training_dtypes() -> None:
    record = {"bonus": None, "region": "south", "income": 3, "age": 41}  # any key order
    frame, _ = validate_records([GOOD, record], SIGNATURE, max_rows=10)
    assert list(frame.columns) == ["age", "income", "region", "bonus"]
    assert frame["age"].dtype == np.int64
    assert frame["income"].dtype == np.float64
    assert frame["region"].dtype == pd.Series(["a"]).dtype  # pandas' default string dtype
    assert frame["bonus"].dtype == np.float64
    assert frame["income"].tolist() == [1200.5, 3.0]
    assert math.isnan(frame["bonus"][1])


def test_an_integer_column_with_nulls_is_float64() -> None:
    signature = _signature(InputField("n", "integer", required=False, categorical=False))
    frame, _ = validate_records([{"n": 2}, {"n": None}, {}], signature, max_rows=10)
    assert frame["n"].dtype == np.float64
    assert frame["n"].isna().tolist() == [False, True, True]


def test_whole_floats_are_accepted_for_an_integer_field() -> None:
    frame, _ = validate_records([{**GOOD, "age": 30.0}], SIGNATURE, max_rows=10)
    assert frame["age"].dtype == np.int64
    assert frame["age"].tolist() == [30]


def test_booleans_dates_and_timestamps_are_converted() -> None:
    signature = _signature(
        InputField("flag", "boolean", required=True, categorical=True),
        InputField("day", "date", required=True, categorical=True),
        InputField("at", "timestamp", required=False, categorical=True),
    )
    records = [
        {"flag": True, "day": "2024-05-31", "at": "2024-05-31T12:00:00+02:00"},
        {"flag": False, "day": "2024-06-01", "at": "2024-06-01T08:30:00Z"},
        {"flag": True, "day": "2024-06-02", "at": None},
    ]
    frame, _ = validate_records(records, signature, max_rows=10)
    assert frame["flag"].dtype == np.bool_
    assert frame["day"].dtype == "datetime64[ms]"
    assert frame["at"].dtype == "datetime64[us]"
    assert frame["at"][0] == pd.Timestamp("2024-05-31T10:00:00")  # converted to UTC
    assert frame["at"][1] == pd.Timestamp("2024-06-01T08:30:00")
    assert pd.isna(frame["at"][2])


def test_every_problem_of_the_request_is_reported_at_once() -> None:
    records = [
        {"age": "abc", "income": True, "region": 3, "bonus": 1.0, "colour": "red"},
        {"income": 10.0, "region": None},
        {"age": 1.5, "income": math.inf, "region": "north"},
    ]
    assert _problems(records) == {
        ("records", 0, "age", "wrong-type"),
        ("records", 0, "income", "wrong-type"),
        ("records", 0, "region", "wrong-type"),
        ("records", 0, "colour", "unexpected-field"),
        ("records", 1, "age", "missing-field"),
        ("records", 1, "region", "missing-field"),
        ("records", 2, "age", "wrong-type"),
        ("records", 2, "income", "not-finite"),
    }


def test_a_row_with_as_many_fields_as_the_model_but_one_renamed_is_refused() -> None:
    # the same number of keys as the signature: only reading the fields finds the difference
    renamed = {"age": 30, "income": 1200.5, "region": "north", "bonsu": 10.0}
    assert _problems([GOOD, renamed]) == {("records", 1, "bonsu", "unexpected-field")}
    swapped = {"age": 30, "income": 1200.5, "colour": "red", "bonus": 10.0}
    assert _problems([swapped, GOOD]) == {
        ("records", 0, "region", "missing-field"),
        ("records", 0, "colour", "unexpected-field"),
    }


def test_problems_are_listed_by_row_then_field_with_the_offending_value() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([{**GOOD, "income": "12"}, {**GOOD, "age": "x"}], SIGNATURE, max_rows=9)
    listed = [(problem.path, problem.value) for problem in caught.value.problems]
    assert listed == [("records[0].income", "12"), ("records[1].age", "x")]
    assert "income must be a number; got the string '12'" in caught.value.problems[0].msg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("income", "1.5"),
        ("income", False),
        ("age", True),
        ("age", 2.5),
        ("age", [1]),
        ("age", 2**70),
    ],
)
def test_values_of_the_wrong_type_are_refused(field: str, value: Any) -> None:
    assert _problems([{**GOOD, field: value}]) == {("records", 0, field, "wrong-type")}


def test_nan_is_null_in_an_optional_field_and_refused_in_a_required_one() -> None:
    frame, _ = validate_records([{**GOOD, "bonus": math.nan}], SIGNATURE, max_rows=10)
    assert math.isnan(frame["bonus"][0])
    assert _problems([{**GOOD, "income": math.nan}]) == {("records", 0, "income", "not-finite")}


def test_infinity_is_refused_even_in_an_optional_field() -> None:
    assert _problems([{**GOOD, "bonus": -math.inf}]) == {("records", 0, "bonus", "not-finite")}


def test_a_row_that_is_not_an_object_is_one_problem() -> None:
    assert _problems([GOOD, [30, 1.0, "north"]]) == {("records", 1, "wrong-type")}


def test_values_outside_the_contract_are_flagged_per_row_not_refused() -> None:
    records = [
        GOOD,
        {**GOOD, "age": 120, "region": "east"},
        {**GOOD, "age": 17},
        {**GOOD, "bonus": None},
    ]
    frame, out_of_range = validate_records(records, SIGNATURE, max_rows=10)
    assert frame["age"].tolist() == [30, 120, 17, 30]
    assert out_of_range == [[], ["age", "region"], ["age"], []]


def test_integer_codes_outside_the_allowed_set_are_flagged() -> None:
    signature = _signature(
        InputField("education", "integer", required=False, categorical=True, allowed=(1, 2, 3))
    )
    records: list[dict[str, Any]] = [{"education": 2}, {"education": 7}, {"education": None}]
    _, out_of_range = validate_records(records, signature, max_rows=10)
    assert out_of_range == [[], ["education"], []]


def test_more_rows_than_the_limit_is_413() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([GOOD] * 3, SIGNATURE, max_rows=2)
    assert caught.value.status == 413
    assert "3 rows" in caught.value.message


def test_no_rows_is_400() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([], SIGNATURE, max_rows=2)
    assert caught.value.status == 400


def test_the_problem_list_is_capped_and_the_message_gives_the_total() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([{}] * 60, SIGNATURE, max_rows=100)  # 3 required fields per row
    assert len(caught.value.problems) == MAX_PROBLEMS_SHOWN
    assert "180 problems (the first 100 are listed)" in caught.value.message


def test_problems_render_as_valid_json() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([{**GOOD, "income": math.nan, "age": "x" * 500}], SIGNATURE, max_rows=1)
    values = [problem.to_dict()["value"] for problem in caught.value.problems]
    assert values == ["x" * 60 + "...", "NaN"]


def test_docstring_example_runs() -> None:
    result = doctest.testmod(inputs_module)
    assert result.attempted > 0
    assert result.failed == 0
