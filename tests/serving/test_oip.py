"""Open Inference Protocol v2 bodies, checked against the official OpenAPI description.

Every body ``_oip`` produces is validated against ``components/schemas`` of the vendored
``tests/specs/oip/open_inference_rest.yaml`` (see its SOURCE.md); the test requests are built the
way KServe's and MLServer's documentation show and validated against ``inference_request``.
"""

from __future__ import annotations

import copy
import doctest
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from jsonschema import Draft4Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import loopline.serving._oip as oip_module
from loopline.errors import RegistryError, ServingError
from loopline.serving._inputs import validate_records
from loopline.serving._oip import (
    infer_response,
    model_metadata,
    oip_error,
    parse_infer_request,
    requested_outputs,
    server_metadata,
)
from loopline.training._signature import InputField, Signature

SPEC = Path(__file__).resolve().parents[1] / "specs" / "oip" / "open_inference_rest.yaml"
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


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema: ``nullable: true`` becomes a null type."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


@functools.cache
def _registry() -> Registry:
    spec = _openapi_to_json_schema(yaml.safe_load(SPEC.read_text()))
    registry: Registry = Registry().with_resource("urn:oip", Resource.from_contents(spec, DRAFT4))
    return registry


def _check(body: Any, schema: str) -> None:
    """Raise ValidationError unless ``body`` fits ``#/components/schemas/<schema>``."""
    reference = {"$ref": f"urn:oip#/components/schemas/{schema}"}
    Draft4Validator(reference, registry=_registry()).validate(json.loads(json.dumps(body)))


def _request(**extra: Any) -> dict[str, Any]:
    """A two-row request as KServe documents it: one input per column, content_type pd."""
    request = {
        "id": "req-42",
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 52]},
            {"name": "income", "shape": [2], "datatype": "FP64", "data": [1200.5, 880.0]},
            {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["north", "south"]},
        ],
    }
    request.update(extra)
    _check(request, "inference_request")
    return request


def _error(body: dict[str, Any]) -> ServingError:
    with pytest.raises(ServingError) as caught:
        parse_infer_request(body, SIGNATURE)
    assert caught.value.status == 400
    return caught.value


def test_the_validator_rejects_a_body_that_breaks_the_spec() -> None:
    with pytest.raises(ValidationError):
        _check({"model_name": "credit"}, "inference_response")  # no outputs
    with pytest.raises(ValidationError):
        _check({"name": "x", "datatype": "FP64", "shape": ["n"]}, "metadata_tensor")


def test_server_metadata_fits_the_spec() -> None:
    body = server_metadata("loopline", "0.1.0", ["model_repository"])
    _check(body, "metadata_server_response")
    assert body == {"name": "loopline", "version": "0.1.0", "extensions": ["model_repository"]}


def test_model_metadata_has_one_input_tensor_per_column() -> None:
    body = model_metadata("credit", ["1", "2"], SIGNATURE)
    _check(body, "metadata_model_response")
    assert body["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "income", "datatype": "FP64", "shape": [-1]},
        {"name": "region", "datatype": "BYTES", "shape": [-1]},
        {"name": "bonus", "datatype": "FP64", "shape": [-1]},
    ]
    assert (body["name"], body["versions"], body["platform"]) == ("credit", ["1", "2"], "loopline")


def test_model_metadata_outputs_follow_the_task_and_classes() -> None:
    classifier = model_metadata("credit", ["1"], SIGNATURE)
    assert [(o["name"], o["datatype"]) for o in classifier["outputs"]] == [
        ("predict", "INT64"),
        ("probability", "FP64"),
        ("confidence", "FP64"),
        ("decision", "BYTES"),
    ]
    regression = Signature("regression", "y", SIGNATURE.inputs)
    labels = Signature("multiclass_classification", "y", SIGNATURE.inputs, classes=("a", "b"))
    assert model_metadata("m", [], regression)["outputs"][0]["datatype"] == "FP64"
    assert model_metadata("m", [], labels)["outputs"][0]["datatype"] == "BYTES"
    custom = model_metadata("m", [], SIGNATURE, outputs={"predict": "BOOL"})
    assert custom["outputs"] == [{"name": "predict", "datatype": "BOOL", "shape": [-1]}]


def test_a_kserve_style_request_becomes_rows() -> None:
    records, request_id, parameters = parse_infer_request(_request(), SIGNATURE)
    assert records == [
        {"age": 30, "income": 1200.5, "region": "north"},
        {"age": 52, "income": 880.0, "region": "south"},
    ]
    assert request_id == "req-42"
    assert parameters == {"content_type": "pd"}
    frame, _ = validate_records(records, SIGNATURE, max_rows=10)
    assert list(frame.columns) == ["age", "income", "region", "bonus"]


def test_mlserver_style_n_by_1_tensors_flat_or_nested_are_accepted() -> None:
    request = {
        "inputs": [
            {"name": "age", "shape": [2, 1], "datatype": "INT32", "data": [30, 52]},
            {"name": "income", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2.5]]},
            {
                "name": "region",
                "shape": [2, 1],
                "datatype": "BYTES",
                "parameters": {"content_type": "str"},
                "data": ["north", "south"],
            },
        ],
        "model_name": "credit",
    }
    _check(request, "inference_request")
    records, request_id, parameters = parse_infer_request(request, SIGNATURE)
    assert [record["income"] for record in records] == [1.5, 2.5]
    assert (request_id, parameters) == (None, {})


def test_an_unknown_input_reaches_validation_as_an_unexpected_field() -> None:
    request = _request()
    request["inputs"].append(
        {"name": "colour", "shape": [2], "datatype": "BYTES", "data": ["r", "g"]}
    )
    records, _, _ = parse_infer_request(request, SIGNATURE)
    with pytest.raises(ServingError) as caught:
        validate_records(records, SIGNATURE, max_rows=10)
    assert caught.value.status == 422
    assert {p.code for p in caught.value.problems} == {"unexpected-field"}


def test_every_tensor_problem_is_reported_at_once_with_its_location() -> None:
    request = _request()
    request["inputs"][0]["datatype"] = "BYTES"  # age is an integer column
    request["inputs"][1]["shape"] = [3]  # two values given
    request["inputs"][2]["shape"] = [2, 2]  # not one column
    error = _error(request)
    assert {(*p.loc, p.code) for p in error.problems} == {
        ("inputs", 0, "datatype", "wrong-type"),
        ("inputs", 1, "data", "shape-mismatch"),
        ("inputs", 2, "shape", "wrong-shape"),
    }


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"parameters": {"content_type": "np"}}, ("parameters", "content_type")),
        ({"priority": 1}, ("priority",)),
        ({"id": 42}, ("id",)),
        ({"outputs": [{"label": "predict"}]}, ("outputs", 0)),
        ({"inputs": []}, ("inputs",)),
    ],
)
def test_a_malformed_request_is_400_at_the_offending_key(
    change: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    request = {**_request(), **change}
    error = _error(request)
    assert [p.loc for p in error.problems] == [loc]


@pytest.mark.parametrize(
    ("tensor", "code"),
    [
        ({"parameters": {"content_type": "base64"}}, "unsupported"),
        ({"parameters": {"binary_data_size": 16}}, "unsupported"),
        ({"datatype": "FLOAT"}, "unknown-datatype"),
        ({"data": [[[30]], [[52]]]}, "wrong-shape"),
        ({"extra": True}, "unexpected-key"),
    ],
)
def test_a_malformed_input_is_400(tensor: dict[str, Any], code: str) -> None:
    request = _request()
    request["inputs"][0].update(tensor)
    assert [p.code for p in _error(request).problems] == [code]


def test_inputs_with_different_row_counts_are_400() -> None:
    request = _request()
    request["inputs"][2] = {"name": "region", "shape": [1], "datatype": "BYTES", "data": ["x"]}
    assert [p.code for p in _error(request).problems] == ["shape-mismatch"]


def test_infer_response_fits_the_spec_and_echoes_the_id() -> None:
    body = infer_response(
        "credit",
        "3",
        "req-42",
        {
            "predict": ("INT64", [np.int64(1), 0]),
            "probability": ("FP64", [np.float64(0.75), 0.5]),
            "decision": ("BYTES", ["auto", "review"]),
        },
    )
    _check(body, "inference_response")
    assert body["id"] == "req-42"
    assert body["outputs"][0] == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [2],
        "data": [1, 0],
    }
    assert body["outputs"][1]["data"] == [0.75, 0.5]
    assert type(body["outputs"][1]["data"][0]) is float


def test_infer_response_flattens_per_row_vectors_row_major() -> None:
    body = infer_response("m", None, None, {"proba": ("FP64", [[0.1, 0.9], [0.6, 0.4]])})
    _check(body, "inference_response")
    assert "id" not in body
    assert "model_version" not in body
    assert body["outputs"][0]["shape"] == [2, 2]
    assert body["outputs"][0]["data"] == [0.1, 0.9, 0.6, 0.4]


def test_requested_outputs_select_the_response_tensors() -> None:
    request = _request(outputs=[{"name": "decision"}])
    parse_infer_request(request, SIGNATURE)
    outputs: dict[str, tuple[str, list[Any]]] = {
        "predict": ("INT64", [1]),
        "decision": ("BYTES", ["auto"]),
    }
    body = infer_response("m", "1", None, outputs, requested=requested_outputs(request))
    assert [output["name"] for output in body["outputs"]] == ["decision"]
    with pytest.raises(ServingError) as caught:
        infer_response("m", "1", None, outputs, requested=["explanation"])
    assert caught.value.status == 400


def test_infer_response_refuses_an_unknown_datatype() -> None:
    with pytest.raises(ValueError, match="FLOAT"):
        infer_response("m", "1", None, {"predict": ("FLOAT", [1.0])})


@pytest.mark.parametrize("value", [math.nan, math.inf, None])
def test_infer_response_refuses_values_a_tensor_cannot_hold(value: Any) -> None:
    with pytest.raises(ValueError, match="element 1"):
        infer_response("m", "1", None, {"confidence": ("FP64", [0.5, value])})


@pytest.mark.parametrize(
    "schema",
    ["inference_error_response", "metadata_server_error_response", "metadata_model_error_response"],
)
def test_error_bodies_fit_the_spec_and_keep_the_status(schema: str) -> None:
    status, body = oip_error(_error({"inputs": "none"}))
    _check(body, schema)
    assert status == 400
    assert body["error"].startswith("The inference request is malformed")
    assert "inputs: inputs must be a non-empty list" in body["error"]


def test_validation_errors_keep_422_and_list_the_fields() -> None:
    records, _, _ = parse_infer_request(_request(), SIGNATURE)
    records[0]["age"] = "thirty"
    with pytest.raises(ServingError) as caught:
        validate_records(records, SIGNATURE, max_rows=10)
    status, body = oip_error(caught.value)
    _check(body, "inference_error_response")
    assert status == 422
    assert "records[0].age: age must be a whole number" in body["error"]


def test_an_error_that_is_not_a_serving_error_is_500() -> None:
    status, body = oip_error(RegistryError("The store is unreachable."))
    _check(body, "inference_error_response")
    assert status == 500


def test_parsing_does_not_change_the_request() -> None:
    request = _request()
    before = copy.deepcopy(request)
    parse_infer_request(request, SIGNATURE)
    assert request == before


def test_docstring_examples_run() -> None:
    result = doctest.testmod(oip_module)
    assert result.attempted > 0
    assert result.failed == 0
