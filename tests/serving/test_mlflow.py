"""The MLflow scoring protocol: every input format, and MLflow's error shapes and statuses."""

from __future__ import annotations

import doctest
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopline.serving._mlflow as mlflow_module
from loopline.errors import LooplineError, Problem, RegistryError, ServingError
from loopline.serving._inputs import validate_records
from loopline.serving._mlflow import invocation_response, mlflow_error, parse_invocation
from loopline.training._signature import InputField, Signature

JSON = "application/json"
SIGNATURE = Signature(
    task="binary_classification",
    target="default",
    inputs=(
        InputField("age", "integer", required=True, categorical=False, minimum=18, maximum=99),
        InputField("income", "number", required=True, categorical=False),
        InputField("region", "string", required=True, categorical=True, allowed=("007", "north")),
        InputField("bonus", "number", required=False, categorical=False),
    ),
    classes=(0, 1),
    positive_class=1,
)
FRAME = pd.DataFrame(
    {
        "age": [30, 52],
        "income": [1200.5, 880.0],
        "region": ["007", "north"],
        "bonus": [10.0, None],
    },
    index=[7, 8],
)
ROWS = [
    {"age": 30, "income": 1200.5, "region": "007", "bonus": 10.0},
    {"age": 52, "income": 880.0, "region": "north", "bonus": None},
]


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _error(body: bytes, content_type: str | None = JSON) -> ServingError:
    with pytest.raises(ServingError) as caught:
        parse_invocation(body, content_type, signature=SIGNATURE)
    return caught.value


BODIES = {
    "dataframe_split from to_json(orient=split)": (
        _json({"dataframe_split": json.loads(FRAME.to_json(orient="split"))}),
        JSON,
    ),
    "dataframe_records from to_json(orient=records)": (
        _json({"dataframe_records": json.loads(FRAME.to_json(orient="records"))}),
        JSON,
    ),
    "instances as objects": (_json({"instances": ROWS}), JSON),
    "inputs as columns": (_json({"inputs": {k: list(FRAME[k]) for k in ROWS[0]}}), JSON),
    "inputs as objects": (_json({"inputs": ROWS}), JSON),
    "csv from to_csv()": (FRAME.to_csv().encode(), "text/csv"),
    "csv without index, with charset": (
        FRAME.to_csv(index=False).encode(),
        "text/csv; charset=utf-8",
    ),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_every_format_yields_the_same_rows(case: str) -> None:
    body, content_type = BODIES[case]
    records = parse_invocation(body, content_type, signature=SIGNATURE)
    cleaned = [{k: None if v != v else v for k, v in row.items()} for row in records]  # NaN->None
    assert cleaned == ROWS
    frame, _ = validate_records(records, SIGNATURE, max_rows=10)
    assert frame["region"].tolist() == ["007", "north"]


def test_inputs_of_single_values_is_one_row() -> None:
    body = _json({"inputs": ROWS[0]})
    assert parse_invocation(body, JSON) == [ROWS[0]]


def test_csv_without_a_signature_reads_numbers_and_booleans() -> None:
    body = b"a,b,c,d\n1,2.5,true,x\n,-3e2,FALSE,007\n"
    assert parse_invocation(body, "text/csv") == [
        {"a": 1, "b": 2.5, "c": True, "d": "x"},
        {"a": None, "b": -300.0, "c": False, "d": 7},
    ]


def test_a_csv_cell_that_is_no_number_stays_text_for_validation_to_report() -> None:
    records = parse_invocation(
        b"age,income,region\nabc,1.5,north\n", "text/csv", signature=SIGNATURE
    )
    assert records == [{"age": "abc", "income": 1.5, "region": "north"}]


def test_a_csv_line_of_the_wrong_length_is_400() -> None:
    error = _error(b"age,income,region\n30,1.5\n", "text/csv")
    assert error.status == 400
    assert "CSV line 2 has 2 values; the header has 3 columns" in error.message


def test_instances_as_a_list_of_lists_is_400_since_columns_are_unknown() -> None:
    error = _error(_json({"instances": [[30, 1.0, "north"]]}))
    assert error.status == 400
    assert "column names" in error.message


def test_inputs_columns_of_different_lengths_is_400() -> None:
    error = _error(_json({"inputs": {"age": [1, 2], "income": [1.0]}}))
    assert error.status == 400
    assert "not the same" in error.message


def test_malformed_json_is_400() -> None:
    error = _error(b'{"dataframe_records": [')
    assert error.status == 400
    assert "valid JSON" in error.message


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_records": ROWS, "instances": ROWS},  # two formats
        {"dataframe_records": ROWS, "extra": 1},  # an unknown key
        {"columns": ["age"], "data": [[1]]},  # MLflow 1.x split body
        ROWS,  # a bare list
    ],
)
def test_a_body_not_in_one_accepted_format_is_400_naming_the_formats(payload: Any) -> None:
    error = _error(_json(payload))
    assert error.status == 400
    for key in ("dataframe_records", "dataframe_split", "inputs", "instances"):
        assert key in error.message


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ({"data": [[1, 2.0, "north"]]}, "no 'columns'"),
        ({"columns": ["age"], "data": [[1]], "dtype": {}}, "'data' field and optionally"),
        ({"columns": ["age", "income"], "data": [[1]]}, "row 0 must be a list of 2 values"),
        ({"columns": ["age", "age"], "data": [[1, 2]]}, "more than once"),
        ([["age"], [1]], "must be a dictionary"),
    ],
)
def test_a_malformed_dataframe_split_is_400(split: Any, expected: str) -> None:
    error = _error(_json({"dataframe_split": split}))
    assert error.status == 400
    assert expected in error.message


def test_empty_params_are_accepted_and_others_refused() -> None:
    assert parse_invocation(_json({"dataframe_records": ROWS, "params": {}}), JSON) == ROWS
    error = _error(_json({"dataframe_records": ROWS, "params": {"threshold": 0.2}}))
    assert error.status == 400
    assert "params" in error.message


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/json; charset=latin-1", "application/json; format=split"],
)
def test_unsupported_content_types_are_415(content_type: str | None) -> None:
    error = _error(_json({"dataframe_records": ROWS}), content_type)
    assert error.status == 415


def test_invocation_response_is_mlflows_body_with_plain_json_values() -> None:
    body = invocation_response([np.int64(1), np.float64(0.25), math.nan, "yes"])
    assert body == {"predictions": [1, 0.25, None, "yes"]}
    assert type(body["predictions"][0]) is int


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ServingError("Bad JSON.", status=400), 400, "BAD_REQUEST"),
        (ServingError("Too many rows.", status=413), 413, "BAD_REQUEST"),
        (ServingError("Wrong type.", status=415), 415, "BAD_REQUEST"),
        (ServingError("No such model.", status=404), 404, "ENDPOINT_NOT_FOUND"),
        (ServingError("Overloaded.", status=503), 503, "TEMPORARILY_UNAVAILABLE"),
        (RegistryError("The store broke."), 500, "INTERNAL_ERROR"),
    ],
)
def test_errors_map_to_mlflow_status_and_error_code(
    error: LooplineError, status: int, code: str
) -> None:
    got_status, body = mlflow_error(error)
    assert (got_status, body["error_code"]) == (status, code)
    assert body["message"].startswith(error.message)


def test_field_problems_become_a_400_bad_request_that_lists_them() -> None:
    with pytest.raises(ServingError) as caught:
        validate_records([{"age": "x", "income": 1.0, "region": "north"}], SIGNATURE, max_rows=5)
    status, body = mlflow_error(caught.value)
    assert (status, body["error_code"]) == (400, "BAD_REQUEST")
    assert "records[0].age: age must be a whole number" in body["message"]
    assert body["problems"][0]["loc"] == ["records", 0, "age"]
    json.dumps(body, allow_nan=False)  # the body is strict JSON


def test_an_error_without_problems_has_exactly_mlflows_keys() -> None:
    _, body = mlflow_error(ServingError("Bad.", status=400, problems=[]))
    assert set(body) == {"error_code", "message"}
    _, with_problems = mlflow_error(
        ServingError("Bad.", status=422, problems=[Problem(("records", 0, "a"), "x", "y")])
    )
    assert set(with_problems) == {"error_code", "message", "problems"}


def test_docstring_examples_run() -> None:
    result = doctest.testmod(mlflow_module)
    assert result.attempted > 0
    assert result.failed == 0
