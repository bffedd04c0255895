"""Open Inference Protocol v2: reading an inference request into rows for validation.

One input per model column, ``shape`` ``[n]`` or ``[n, 1]``, datatypes checked against the
column's logical type, ``parameters: {"content_type": "pd"}`` at the request or input level,
BYTES as strings, ``id`` echoed. Every problem is collected before one ``ServingError`` (400).
"""

from __future__ import annotations

from typing import Any

from loopline.errors import Problem, ServingError
from loopline.training._signature import Signature

__all__ = ["DATATYPES", "parse_infer_request"]

_INTEGERS = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
_FLOATS = ("FP16", "FP32", "FP64")
#: The tensor datatypes of the protocol.
DATATYPES = frozenset({"BOOL", "BYTES", *_INTEGERS, *_FLOATS})

_METADATA_DATATYPE = {
    "integer": "INT64",
    "number": "FP64",
    "string": "BYTES",
    "boolean": "BOOL",
    "date": "BYTES",
    "timestamp": "BYTES",
    "time": "BYTES",
}
_ACCEPTED_DATATYPES = {
    "integer": frozenset(_INTEGERS),
    "number": frozenset(_INTEGERS + _FLOATS),
    "string": frozenset({"BYTES"}),
    "boolean": frozenset({"BOOL"}),
    "date": frozenset({"BYTES"}),
    "timestamp": frozenset({"BYTES"}),
    "time": frozenset({"BYTES"}),
}
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
# content types that leave the JSON data as it is: pandas (the request), numpy, str and datetime
# (MLServer's per-input codecs); base64 and binary tensor data are not supported
_CONTENT_TYPES = frozenset({"pd", "np", "str", "datetime"})
_HINT = (
    "Send one input per model column: "
    '{"name": <column>, "shape": [n], "datatype": ..., "data": [...]}, all with the same n; '
    "GET /v2/models/{name} lists the inputs and their datatypes."
)


def parse_infer_request(
    body: dict[str, Any], signature: Signature
) -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
    """The rows, the request id and the request parameters of an inference request.

    Args:
        body: The parsed JSON body of ``POST /v2/models/{name}[/versions/{v}]/infer``.
        signature: The inputs of the model version that will answer.

    Returns:
        One mapping of column name to value per row, for
        :func:`~._inputs.validate_records` (an input the model does not know is passed
        through for it to report); the ``id`` to echo in the response, if the request has one;
        the request-level ``parameters`` (empty when there are none).

    Raises:
        ServingError: 400, listing every tensor-level problem: an unknown top-level key, a
            malformed input, an unsupported content type, a datatype the column cannot take,
            a shape other than ``[n]``/``[n, 1]`` or one that does not match the data, inputs
            with different row counts, a malformed ``outputs`` list.

    Example:
        >>> from loopline.training._signature import InputField, Signature
        >>> signature = Signature("regression", "y", (InputField("x", "number", True, False),))
        >>> parse_infer_request({"id": "7", "inputs": [
        ...     {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.5]}]}, signature)
        ([{'x': 1.0}, {'x': 2.5}], '7', {})
    """
    problems: list[Problem] = []
    if not isinstance(body, dict):
        raise ServingError("The inference request must be a JSON object.", status=400, hint=_HINT)
    for key in body:
        if key not in _REQUEST_KEYS:
            problems.append(
                Problem(
                    (str(key),),
                    "unexpected-key",
                    f"{key!r} is not a field of an inference request; "
                    f"expected {', '.join(sorted(_REQUEST_KEYS))}",
                )
            )
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        problems.append(Problem(("id",), "wrong-type", "id must be a string", _short(request_id)))
        request_id = None
    parameters = _parameters(body.get("parameters"), ("parameters",), problems)
    content_type = parameters.get("content_type")
    if content_type is not None and content_type != "pd":
        problems.append(
            Problem(
                ("parameters", "content_type"),
                "unsupported",
                f"a tabular model takes a data frame: content_type must be 'pd' or absent; "
                f"got {content_type!r}",
                _short(content_type),
            )
        )
    _check_outputs(body.get("outputs"), problems)
    columns = _columns(body.get("inputs"), signature, problems)
    if problems:
        raise ServingError(
            f"The inference request is malformed: {len(problems)} problem"
            + ("s." if len(problems) != 1 else "."),
            status=400,
            problems=problems,
            hint=_HINT,
        )
    names = list(columns)
    records = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return records, request_id, parameters


def _parameters(value: Any, loc: tuple[str | int, ...], problems: list[Problem]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(loc, "wrong-type", "parameters must be an object", _short(value)))
        return {}
    return dict(value)


def _check_outputs(outputs: Any, problems: list[Problem]) -> None:
    if outputs is None:
        return
    if not isinstance(outputs, list):
        problems.append(Problem(("outputs",), "wrong-type", "outputs must be a list"))
        return
    for position, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            problems.append(
                Problem(
                    ("outputs", position),
                    "wrong-type",
                    'each requested output must be an object with a "name"',
                )
            )


def _columns(inputs: Any, signature: Signature, problems: list[Problem]) -> dict[str, list[Any]]:
    """Each input's values, flat, by name; tensor problems are appended to ``problems``."""
    if not isinstance(inputs, list) or not inputs:
        problems.append(
            Problem(("inputs",), "missing-key", "inputs must be a non-empty list of tensors")
        )
        return {}
    fields = {field.name: field for field in signature.inputs}
    columns: dict[str, list[Any]] = {}
    rows: dict[int, str] = {}
    for position, tensor in enumerate(inputs):
        loc: tuple[str | int, ...] = ("inputs", position)
        before = len(problems)
        if not isinstance(tensor, dict):
            problems.append(Problem(loc, "wrong-type", "each input must be an object"))
            continue
        for key in ("name", "shape", "datatype", "data"):
            if key not in tensor:
                problems.append(Problem((*loc, key), "missing-key", f"the input has no {key!r}"))
        for key in tensor:
            if key not in _INPUT_KEYS:
                problems.append(
                    Problem(
                        (*loc, str(key)),
                        "unexpected-key",
                        f"{key!r} is not a field of an input; "
                        f"expected {', '.join(sorted(_INPUT_KEYS))}",
                    )
                )
        if len(problems) > before:
            continue
        name, datatype = tensor["name"], tensor["datatype"]
        if not isinstance(name, str):
            problems.append(Problem((*loc, "name"), "wrong-type", "name must be a string"))
            continue
        if name in columns:
            problems.append(Problem((*loc, "name"), "duplicate", f"input {name!r} is given twice"))
            continue
        _check_datatype(datatype, fields.get(name), (*loc, "datatype"), problems)
        _check_input_parameters(tensor.get("parameters"), (*loc, "parameters"), problems)
        values = _flat(tensor["data"], tensor["shape"], loc, problems)
        if values is None:
            continue
        columns[name] = values
        rows.setdefault(len(values), name)
    if len(rows) > 1:
        counts = ", ".join(f"{name}: {count}" for count, name in rows.items())
        problems.append(
            Problem(
                ("inputs",),
                "shape-mismatch",
                f"every input must hold the same number of rows; got {counts}",
            )
        )
    return columns


def _check_datatype(
    datatype: Any, field: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> None:
    if datatype not in DATATYPES:
        problems.append(
            Problem(
                loc,
                "unknown-datatype",
                f"datatype must be one of {', '.join(sorted(DATATYPES))}",
                _short(datatype),
            )
        )
        return
    if field is not None and datatype not in _ACCEPTED_DATATYPES[field.logical_type]:
        expected = _METADATA_DATATYPE[field.logical_type]
        problems.append(
            Problem(
                loc,
                "wrong-type",
                f"column {field.name} holds {field.logical_type} values: send it as {expected}; "
                f"got {datatype}",
                datatype,
            )
        )


def _check_input_parameters(
    value: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> None:
    parameters = _parameters(value, loc, problems)
    if "binary_data_size" in parameters:
        problems.append(
            Problem(
                (*loc, "binary_data_size"),
                "unsupported",
                "binary tensor data is not supported; send the values in 'data'",
            )
        )
    content_type = parameters.get("content_type")
    if content_type is not None and content_type not in _CONTENT_TYPES:
        problems.append(
            Problem(
                (*loc, "content_type"),
                "unsupported",
                f"content_type must be one of {', '.join(sorted(_CONTENT_TYPES))} (values in "
                f"plain JSON); got {content_type!r}",
                _short(content_type),
            )
        )


def _flat(
    data: Any, shape: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> list[Any] | None:
    """The tensor's values as one flat list, checked against its shape; None if it is wrong."""
    if (
        not isinstance(shape, list)
        or not all(isinstance(size, int) and not isinstance(size, bool) for size in shape)
        or any(size < 0 for size in shape)
    ):
        problems.append(
            Problem((*loc, "shape"), "wrong-type", "shape must be a list of sizes (integers >= 0)")
        )
        return None
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        problems.append(
            Problem(
                (*loc, "shape"),
                "wrong-shape",
                f"each input is one column: shape must be [n] or [n, 1]; got {shape}",
                list(shape),
            )
        )
        return None
    if not isinstance(data, list):
        problems.append(Problem((*loc, "data"), "wrong-type", "data must be a list"))
        return None
    values = data
    if any(isinstance(value, list) for value in data):
        if not all(isinstance(value, list) for value in data):
            problems.append(
                Problem((*loc, "data"), "wrong-shape", "data mixes values and nested lists")
            )
            return None
        values = [item for value in data for item in value]
        if any(isinstance(item, list | dict) for item in values):
            problems.append(
                Problem((*loc, "data"), "wrong-shape", "data is nested more than one level deep")
            )
            return None
    if len(values) != shape[0]:
        problems.append(
            Problem(
                (*loc, "data"),
                "shape-mismatch",
                f"shape {shape} holds {shape[0]} values; data has {len(values)}",
            )
        )
        return None
    return values


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 60:
        return value[:60] + "..."
    if isinstance(value, list | dict):
        return type(value).__name__
    return value
