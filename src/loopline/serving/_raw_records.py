"""A native request's records as the JSON text the client sent: counted in the server, parsed
where they are scored.

The server needs only three things from a ``{"records": [...], "unit_key": ...}`` body before it
hands the rows to the model stage: its keys, its ``unit_key`` (to route it) and how many rows it
carries (row limits, micro-batch sizes). :func:`native_payload` scans the body once with
msgspec, which finds the ``records`` array and counts its elements without building a Python
object per row, and keeps the array's text as :class:`RawRecords`. The model stage (a process
of its own by default) parses that text with orjson, as the server would have: the server no
longer builds 500 dictionaries per 500-row request, pickles them to the model process, nor does
the model process unpickle them. A body the scan cannot take (not JSON, not an object, records
not an array) is parsed whole with orjson instead, so its error is the one it always was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from loopline.errors import ServingError

__all__ = ["RawRecords", "native_payload", "parse_body"]

_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])


@dataclass(frozen=True, slots=True)
class RawRecords:
    """The ``records`` array of a request as JSON text, and how many elements it holds."""

    text: bytes
    count: int

    def __len__(self) -> int:
        return self.count

    def parse(self) -> list[Any]:
        """The records, parsed as the whole body would have been.

        Raises:
            ServingError: 400, the text is not JSON orjson accepts (a number out of a double's
                range, a lone surrogate: the scan in the server checks syntax only).
        """
        records: list[Any] = parse_body(self.text)
        return records


def parse_body(body: bytes) -> Any:
    """``body`` parsed as JSON.

    Raises:
        ServingError: 400, naming where the JSON is broken.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServingError(f"The body is not valid JSON: {exc}.", status=400) from exc


def native_payload(body: bytes) -> Any:
    """A native prediction body, its ``records`` as :class:`RawRecords` when they are an array
    and every other value parsed; anything else (not JSON, not an object) exactly as
    :func:`parse_body` returns or raises it."""
    try:
        fields = _OBJECT.decode(body)
    except msgspec.DecodeError:  # not an object of JSON values: the whole parse says what
        return parse_body(body)
    payload: dict[str, Any] = {}
    for key, raw in fields.items():
        if key == "records":
            try:
                count = len(_ELEMENTS.decode(raw))
            except msgspec.DecodeError:  # not an array: the caller says what it must be
                payload[key] = parse_body(bytes(raw))
            else:
                payload[key] = RawRecords(bytes(raw), count)
        else:
            payload[key] = parse_body(bytes(raw))
    return payload
