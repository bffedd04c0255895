"""The MLflow scoring protocol (``POST /invocations``), as ``mlflow models serve`` speaks it.

Requests are ``application/json`` bodies holding exactly one of four keys, or ``text/csv``:

=====================  =========================================================================
``dataframe_split``    ``{"columns": [...], "data": [[...], ...], "index": [...]}``, what
                       ``pandas.DataFrame.to_json(orient="split")`` writes; ``index`` is ignored
``dataframe_records``  ``[{"col": value, ...}, ...]``, what ``to_json(orient="records")`` writes
``instances``          a list of objects, one per row (TF-serving row format); or an object of
                       columns, like ``inputs``
``inputs``             an object of column name to list of values (TF-serving columnar format);
                       an object of single values is one row; or a list of objects, one per row
``text/csv``           a header row and one line per record (``DataFrame.to_csv()``; a first
                       column with an empty header, pandas' index, is dropped)
=====================  =========================================================================

A list of lists (``{"inputs": [[1, 2]]}``) carries no column names, so a tabular model cannot
take it: it is refused with 400. ``params`` may accompany the data key but must be empty:
loopline models take no inference parameters.

Status codes and messages follow ``mlflow/pyfunc/scoring_server``: 400 with error code
``BAD_REQUEST`` for a body that is not valid JSON or not one of the formats, 415 for another
content type, a charset other than UTF-8 or unknown content-type parameters. Errors use MLflow's
body, ``{"error_code": ..., "message": ...}``; MLflow adds extra keys to it (``stack_trace``), and
so do we: ``problems``, the located field problems. One deliberate difference: MLflow answers a
415 with a plain-text body; here it has the same JSON shape as every other error.

Dates and timestamps travel as ISO-8601 strings: ``to_json`` writes them as epoch milliseconds
unless given ``date_format="iso"``, and a number in a date column is refused as the wrong type.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from loopline.errors import LooplineError, ServingError
from loopline.training._signature import Signature

__all__ = [
    "CONTENT_TYPES",
    "INPUT_FORMATS",
    "invocation_response",
    "mlflow_error",
    "parse_invocation",
]

#: The media types ``/invocations`` accepts, as MLflow lists them.
CONTENT_TYPES = ("text/csv", "application/json")
#: The JSON keys that carry the data; a request has exactly one of them.
INPUT_FORMATS = ("dataframe_records", "dataframe_split", "inputs", "instances")
_PARAMS = "params"
_REQUIRED_FORMAT = (
    "The input must be a JSON dictionary with exactly one of the input fields "
    "{'dataframe_records', 'dataframe_split', 'inputs', 'instances'}"
)
_FORMAT_HINT = (
    'Send {"dataframe_split": df.to_json(orient="split") parsed}, '
    '{"dataframe_records": [{...}, ...]}, {"instances": [{...}, ...]} or '
    '{"inputs": {"column": [...], ...}}, or the CSV of df.to_csv().'
)

# MLflow's HTTP_STATUS_TO_ERROR_CODE (mlflow/exceptions.py); other 4xx are BAD_REQUEST here.
_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_INTEGER = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)


def parse_invocation(
    body: bytes, content_type: str | None, *, signature: Signature | None = None
) -> list[dict[str, Any]]:
    """The rows of an ``/invocations`` request, for :func:`~._inputs.validate_records`.

    Args:
        body: The raw request body.
        content_type: The ``Content-Type`` header, parameters included.
        signature: The model's inputs; when given, CSV cells are read as the declared types
            (``"007"`` stays a string in a string column). Without it each CSV cell is read as
            a number or boolean when it looks like one. JSON values are never converted.

    Returns:
        One mapping of column name to value per row, in request order.

    Raises:
        ServingError: 415 for a missing or unsupported content type, charset or content-type
            parameter; 400 for a body that is not valid UTF-8, JSON or CSV, or not one of the
            accepted formats, with a message that names the formats.

    Example:
        >>> parse_invocation(b'{"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}',
        ...                  "application/json")
        [{'a': 1}, {'a': 2}]
    """
    media_type = _media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_request(f"The body is not valid UTF-8: {exc}.") from exc
    if media_type == "text/csv":
        return _csv_records(text, signature)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad_request(
            f"Invalid input. Ensure that input is a valid JSON formatted string. Error: '{exc}'."
        ) from exc
    return _json_records(data)


def invocation_response(predictions: list[Any]) -> dict[str, Any]:
    """The body MLflow's scoring server answers with: ``{"predictions": [...]}``.

    numpy values become Python ones, and NaN or infinite floats become ``null`` so the body is
    valid JSON.

    Example:
        >>> invocation_response([0, 1.5])
        {'predictions': [0, 1.5]}
    """
    return {"predictions": [_plain(value) for value in predictions]}


def mlflow_error(error: LooplineError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and MLflow-shaped body for an error raised while serving ``/invocations``.

    A 422 (the request's values do not fit the model) becomes 400 ``BAD_REQUEST``: MLflow
    reports a failed schema enforcement that way, and its clients expect it. Other statuses are
    kept, with MLflow's error code for them (``BAD_REQUEST`` for 4xx codes MLflow has no name for,
    such as 413 and 415). An error that is not a :class:`~loopline.errors.ServingError` is a 500.

    Returns:
        ``(status, {"error_code": ..., "message": ..., "problems": [...]})``; ``problems`` is
        present when the error locates field problems.

    Example:
        >>> mlflow_error(ServingError("Bad.", status=400))
        (400, {'error_code': 'BAD_REQUEST', 'message': 'Bad.'})
    """
    status = int(getattr(error, "status", 500))
    if status == 422:
        status = 400
    code = _ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    body: dict[str, Any] = {"error_code": code, "message": str(error)}
    if error.problems:
        body["problems"] = [problem.to_dict() for problem in error.problems]
    return status, body


# --- content type ------------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    if not content_type or not content_type.strip():
        raise _unsupported("The request has no Content-Type; send application/json or text/csv.")
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    media_type = media_type.lower()
    values = {}
    for parameter in parameters:
        if parameter:
            key, _, value = parameter.partition("=")
            values[key.strip().lower()] = value.strip().strip('"')
    charset = values.pop("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise _unsupported("The scoring server only supports UTF-8.")
    if values:
        raise _unsupported(f"Unrecognized content type parameters: {', '.join(sorted(values))}.")
    if media_type not in CONTENT_TYPES:
        raise _unsupported(
            "This predictor only supports the following content types: "
            f"{list(CONTENT_TYPES)}. Got {content_type!r}."
        )
    return media_type


def _unsupported(message: str) -> ServingError:
    return ServingError(
        message,
        status=415,
        hint="Set Content-Type to application/json (UTF-8) or text/csv.",
    )


def _bad_request(message: str, hint: str = _FORMAT_HINT) -> ServingError:
    return ServingError(message, status=400, hint=hint)


# --- JSON formats ------------------------------------------------------------------------------


def _json_records(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        received = "a list" if isinstance(data, list) else f"a JSON {_json_kind(data)}"
        raise _bad_request(f"{_REQUIRED_FORMAT}. Received {received}.")
    formats = [key for key in data if key in INPUT_FORMATS]
    unknown = [key for key in data if key not in INPUT_FORMATS and key != _PARAMS]
    if len(formats) != 1 or unknown:
        raise _bad_request(
            f"{_REQUIRED_FORMAT}, and optionally 'params'. "
            f"Received dictionary with input fields: {list(data)}."
        )
    params = data.get(_PARAMS)
    if params is not None and not isinstance(params, dict):
        raise _bad_request(f"params must be an object; got {_json_kind(params)}.")
    if params:
        raise _bad_request(
            f"This model takes no inference params; got params {sorted(params)}.",
            hint="Leave params out (or empty).",
        )
    key = formats[0]
    return _READERS[key](data[key])


def _split_records(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict):
        raise _bad_request(
            f"Invalid input. Dataframe split format must be a dictionary. Got {_json_kind(split)}."
        )
    keys = set(split)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise _bad_request(
            "Invalid input. Dataframe split format must have 'data' field and optionally "
            f"'columns' and 'index' fields. Got {sorted(keys)}."
        )
    columns = split.get("columns")
    if columns is None:
        raise _bad_request(
            "dataframe_split has no 'columns': a tabular model needs the column names to match "
            "values to its inputs."
        )
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise _bad_request("dataframe_split 'columns' must be a list of column names (strings).")
    if len(set(columns)) != len(columns):
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        raise _bad_request(f"dataframe_split 'columns' names {repeated} more than once.")
    rows = split["data"]
    if not isinstance(rows, list):
        raise _bad_request(
            f"dataframe_split 'data' must be a list of rows; got {_json_kind(rows)}."
        )
    width = len(columns)
    for position, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _json_kind(row)
            raise _bad_request(
                f"dataframe_split 'data' row {position} must be a list of {width} values, one per "
                f"column; got {got}."
            )
    index = split.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise _bad_request("dataframe_split 'index' must be a list with one entry per row.")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _records_list(records: Any, key: str = "dataframe_records") -> list[dict[str, Any]]:
    if not isinstance(records, list):
        raise _bad_request(
            f"Invalid input. {key} must be a list of records. Got {_json_kind(records)}."
        )
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise _bad_request(
                f"{key} must be a list of objects, one per row; item {position} is "
                f"{_json_kind(record)}. A list of lists has no column names, which a tabular "
                "model needs."
            )
    return records


def _columns_records(columns: dict[str, Any], key: str) -> list[dict[str, Any]]:
    lists = [isinstance(values, list) for values in columns.values()]
    if not any(lists):  # an object of scalars is one row
        return [dict(columns)]
    if not all(lists):
        raise _bad_request(
            f"{key} mixes lists and single values; give every column a list of values, one per row."
        )
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise _bad_request(
            f"Invalid input. The length of values for each input/column name are not the same: "
            f"{lengths}."
        )
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _tensor_records(data: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return _columns_records(data, key)
    return _records_list(data, key)


_READERS: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
    "dataframe_split": _split_records,
    "dataframe_records": _records_list,
    "instances": lambda data: _tensor_records(data, "instances"),
    "inputs": lambda data: _tensor_records(data, "inputs"),
}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# --- CSV ---------------------------------------------------------------------------------------


def _csv_records(text: str, signature: Signature | None) -> list[dict[str, Any]]:
    hint = "Send the output of DataFrame.to_csv(): a header row, then one line per record."
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise _bad_request(f"The CSV body cannot be read: {exc}.", hint) from exc
    if not lines:
        raise _bad_request("The CSV body is empty; it needs a header row.", hint)
    header, rows = lines[0], lines[1:]
    skip = 1 if header and header[0] == "" else 0  # pandas writes its index under an empty name
    names = header[skip:]
    if any(name == "" for name in names) or len(set(names)) != len(names):
        raise _bad_request("The CSV header must name each column once, with no empty names.", hint)
    types = {field.name: field.logical_type for field in signature.inputs} if signature else {}
    readers = [_CSV_READERS.get(types.get(name, ""), _csv_guess) for name in names]
    width = len(header)
    records = []
    for number, row in enumerate(rows, start=2):
        if len(row) != width:
            raise _bad_request(
                f"CSV line {number} has {len(row)} values; the header has {width} columns.", hint
            )
        records.append(
            {name: read(cell) for name, read, cell in zip(names, readers, row[skip:], strict=True)}
        )
    return records


def _csv_number(cell: str) -> Any:
    if cell == "":
        return None
    if _INTEGER.fullmatch(cell):
        return int(cell)
    if _FLOAT.fullmatch(cell):
        return float(cell)
    return cell  # validation reports it as the wrong type


def _csv_boolean(cell: str) -> Any:
    if cell == "":
        return None
    lowered = cell.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return cell


def _csv_text(cell: str) -> Any:
    return None if cell == "" else cell


def _csv_guess(cell: str) -> Any:
    value = _csv_number(cell)
    return _csv_boolean(value) if isinstance(value, str) else value


_CSV_READERS: dict[str, Callable[[str], Any]] = {
    "integer": _csv_number,
    "number": _csv_number,
    "boolean": _csv_boolean,
    "string": _csv_text,
    "date": _csv_text,
    "timestamp": _csv_text,
    "time": _csv_text,
}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
