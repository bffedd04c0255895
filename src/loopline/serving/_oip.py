"""The Open Inference Protocol v2 (KServe V2) REST bodies: metadata, inference, errors.

The specification is ``specification/protocol/open_inference_rest.yaml`` of
github.com/kserve/open-inference-protocol (vendored under ``tests/specs/oip``; every body made
here is tested against it).

A tabular model is served the way KServe and MLServer serve a pandas model: **one input tensor
per column**, named after the column, optionally marked with ``"parameters": {"content_type":
"pd"}`` on the request. Each column tensor has shape ``[n]`` or ``[n, 1]``, its data flat or
nested one level (``[[v], [v]]``). Column types map to tensor datatypes as follows:

============  ========  ===============================================================
logical type  datatype  accepted on input
============  ========  ===============================================================
integer       INT64     any INTn or UINTn
number        FP64      any INTn, UINTn or FPn
string        BYTES     BYTES, given as JSON strings
boolean       BOOL      BOOL
date          BYTES     BYTES: ISO-8601 strings (MLServer's ``datetime`` content type)
timestamp     BYTES     BYTES: ISO-8601 strings
time          BYTES     BYTES: ISO-8601 strings
============  ========  ===============================================================

Model metadata gives each input the shape ``[-1]``: a column of any length. That is the shape
KServe's own pandas path produces and reads (``InferRequest.as_dataframe`` builds one column per
input, ``get_predict_response`` answers with ``list(series.shape)``, i.e. ``[n]``), and the one
every client can send; MLServer's ``PandasCodec`` adds a trailing 1 (``[-1, 1]``), which is why
``[n, 1]`` is accepted too.

Tensor-level mistakes (a malformed input, a datatype that cannot hold the column's type, shapes
that disagree) are 400 errors with problems located at ``("inputs", i, key)``. The values
themselves are checked by :func:`~._inputs.validate_records` like every other protocol's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from loopline.errors import LooplineError, ServingError
from loopline.serving._oip_request import _METADATA_DATATYPE, DATATYPES, parse_infer_request
from loopline.training._signature import Signature

__all__ = [
    "DATATYPES",
    "infer_response",
    "model_metadata",
    "oip_error",
    "output_datatypes",
    "parse_infer_request",
    "prediction_datatype",
    "requested_outputs",
    "server_metadata",
]


def server_metadata(name: str, version: str, extensions: Iterable[str]) -> dict[str, Any]:
    """The server metadata response (``GET /v2``).

    Example:
        >>> server_metadata("loopline", "0.1.0", [])
        {'name': 'loopline', 'version': '0.1.0', 'extensions': []}
    """
    return {"name": name, "version": version, "extensions": list(extensions)}


def prediction_datatype(signature: Signature) -> str:
    """The datatype of the ``predict`` output: FP64 for regression, else that of the classes."""
    if signature.task == "regression" or not signature.classes:
        return "FP64"
    classes = signature.classes
    if all(isinstance(label, bool | np.bool_) for label in classes):
        return "BOOL"
    if all(
        isinstance(label, int | np.integer) and not isinstance(label, bool) for label in classes
    ):
        return "INT64"
    if all(isinstance(label, int | float | np.number) for label in classes):
        return "FP64"
    return "BYTES"


def output_datatypes(signature: Signature) -> dict[str, str]:
    """The outputs of a served model and their datatypes, one value per row each.

    ``predict`` and ``decision`` (``auto`` or ``review``) always; a classifier adds
    ``probability`` and ``confidence``.
    """
    outputs = {"predict": prediction_datatype(signature)}
    if signature.task != "regression":
        outputs |= {"probability": "FP64", "confidence": "FP64"}
    outputs["decision"] = "BYTES"
    return outputs


def model_metadata(
    name: str,
    versions: Sequence[str],
    signature: Signature,
    platform: str = "loopline",
    *,
    outputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The model metadata response (``GET /v2/models/{name}[/versions/{version}]``).

    Args:
        name: The model's name in the URL.
        versions: The versions that may be asked for explicitly.
        signature: The inputs of the version described.
        platform: The framework or backend.
        outputs: Output name to datatype; by default :func:`output_datatypes`.

    Returns:
        ``name``, ``versions``, ``platform``, one input tensor per column (shape ``[-1]``), the
        outputs (shape ``[-1]``), and ``parameters.content_type = "pd"`` as MLServer marks a
        model that takes a data frame.
    """
    outputs = output_datatypes(signature) if outputs is None else outputs
    return {
        "name": name,
        "versions": [str(version) for version in versions],
        "platform": platform,
        "inputs": [
            {"name": field.name, "datatype": _METADATA_DATATYPE[field.logical_type], "shape": [-1]}
            for field in signature.inputs
        ],
        "outputs": [
            {"name": output, "datatype": datatype, "shape": [-1]}
            for output, datatype in outputs.items()
        ],
        "parameters": {"content_type": "pd"},
    }


def requested_outputs(body: Mapping[str, Any]) -> list[str] | None:
    """The output names an inference request asks for, or ``None`` for all of them.

    Call it after :func:`parse_infer_request`, which checks the ``outputs`` list's shape.
    """
    outputs = body.get("outputs")
    if not outputs:
        return None
    return [str(output["name"]) for output in outputs]


def infer_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Mapping[str, tuple[str, Sequence[Any]]],
    *,
    requested: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The inference response: one output tensor per entry of ``outputs``.

    Args:
        model_name: The model's name.
        model_version: The version that answered; left out when ``None``.
        request_id: The request's ``id``, echoed; left out when ``None``.
        outputs: Output name to ``(datatype, values)``, one value per row. A value that is a
            list makes a ``[n, k]`` tensor (every row needs ``k`` values), sent flattened in
            row-major order.
        requested: The outputs the request asked for (:func:`requested_outputs`); all when
            ``None``.

    Raises:
        ServingError: 400 when ``requested`` names an output the model does not produce.
        ValueError: A datatype is not one of :data:`DATATYPES`, rows of a ``[n, k]`` output
            differ in length, or a value is None, NaN or infinite, which the protocol's tensor
            data cannot hold (programming errors: leave such an output out).

    Example:
        >>> infer_response("credit", "3", "42", {"predict": ("INT64", [0, 1])})
        {'model_name': 'credit', 'model_version': '3', 'id': '42', 'outputs': [{'name': \
'predict', 'datatype': 'INT64', 'shape': [2], 'data': [0, 1]}]}
    """
    if requested is not None:
        unknown = [name for name in requested if name not in outputs]
        if unknown:
            raise ServingError(
                f"The request asks for outputs {unknown} that the model does not produce; "
                f"it produces {list(outputs)}.",
                status=400,
                hint="Leave 'outputs' out to receive all of them.",
            )
        outputs = {name: outputs[name] for name in requested}
    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = str(model_version)
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = [
        _output_tensor(name, datatype, values) for name, (datatype, values) in outputs.items()
    ]
    return response


def oip_error(error: LooplineError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the protocol's error body, ``{"error": message}``.

    The message lists the located problems and the hint, since the body has room for one string.
    An error that is not a :class:`~loopline.errors.ServingError` is a 500.

    Example:
        >>> oip_error(ServingError("Unknown model.", status=404))
        (404, {'error': 'Unknown model.'})
    """
    return int(getattr(error, "status", 500)), {"error": str(error)}


def _output_tensor(name: str, datatype: str, values: Sequence[Any]) -> dict[str, Any]:
    if datatype not in DATATYPES:
        raise ValueError(
            f"output {name!r}: datatype {datatype!r} is not one of {sorted(DATATYPES)}"
        )
    rows = list(values.tolist() if isinstance(values, np.ndarray) else values)
    shape = [len(rows)]
    data = rows
    if rows and all(isinstance(row, list | tuple) for row in rows):
        widths = {len(row) for row in rows}
        if len(widths) != 1:
            raise ValueError(f"output {name!r}: rows hold different numbers of values {widths}")
        shape.append(widths.pop())
        data = [item for row in rows for item in row]
    plain = [value.item() if isinstance(value, np.generic) else value for value in data]
    for position, value in enumerate(plain):
        # tensor data holds numbers, strings and booleans only: JSON has no NaN and the
        # protocol's schema no null (MLServer sends null; that body fails the schema)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(
                f"output {name!r}: element {position} is {value!r}, which a tensor cannot hold"
            )
    return {"name": name, "datatype": datatype, "shape": shape, "data": plain}
