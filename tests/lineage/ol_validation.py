"""Check OpenLineage events against the official schemas vendored in tests/specs/openlineage.

The core schema checks an event's shape but lets any object through as a facet, so each facet is
also checked against its own facet schema, found by the facet's name and where it sits (a run,
job, dataset, input or output facet). Formats (``date-time``, ``uri``, ``uuid``) are checked
too: jsonschema skips them unless asked.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs" / "openlineage" / "spec"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

# Where a facet sits in a RunEvent -> the core definition its schema must extend.
_KINDS = {
    ("run", "facets"): "RunFacet",
    ("job", "facets"): "JobFacet",
    ("dataset", "facets"): "DatasetFacet",
    ("dataset", "inputFacets"): "InputDatasetFacet",
    ("dataset", "outputFacets"): "OutputDatasetFacet",
}

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urllib.parse.urlsplit(value).scheme
    return bool(_SCHEME.match(scheme)) and not any(char.isspace() for char in value)


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36 and all(value[position] == "-" for position in (8, 13, 18, 23))


formats = FormatChecker(formats=())
formats.checks("date-time")(_is_date_time)
formats.checks("uri")(_is_uri)
formats.checks("uuid")(_is_uuid)


@functools.cache
def _schemas() -> tuple[Registry, dict[tuple[str, str], str]]:
    """The registry of vendored schemas, and each facet's definition URL by (kind, name)."""
    documents = [json.loads(path.read_text()) for path in sorted(SPEC_DIR.rglob("*.json"))]
    registry: Registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in documents
    )
    facets: dict[tuple[str, str], str] = {}
    for document in documents:
        for name, reference in document.get("properties", {}).items():
            definition = reference["$ref"].removeprefix("#/$defs/")
            base = document["$defs"][definition]["allOf"][0]["$ref"]
            kind = base.rpartition("/")[2]
            if (kind, name) in facets:
                raise RuntimeError(f"two vendored schemas for {kind} {name!r}; keep one")
            facets[kind, name] = f"{document['$id']}#/$defs/{definition}"
    return registry, facets


@functools.cache
def _validator(reference: str) -> Draft202012Validator:
    registry, _ = _schemas()
    return Draft202012Validator({"$ref": reference}, registry=registry, format_checker=formats)


def _errors(instance: Any, reference: str, where: str) -> list[str]:
    return [
        f"{where}{''.join(f'[{part!r}]' for part in error.absolute_path)}: {error.message}"
        for error in _validator(reference).iter_errors(instance)
    ]


def _facet_groups(event: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Each facets object in the event: (kind, location, the object)."""
    for part in ("run", "job"):
        node = event.get(part)
        if isinstance(node, dict) and "facets" in node:
            yield _KINDS[part, "facets"], f"{part}.facets", node["facets"]
    for side in ("inputs", "outputs"):
        datasets = event.get(side)
        for index, dataset in enumerate(datasets if isinstance(datasets, list) else []):
            for key in ("facets", "inputFacets", "outputFacets"):
                if isinstance(dataset, dict) and key in dataset:
                    kind = _KINDS["dataset", key]
                    yield kind, f"{side}[{index}].{key}", dataset[key]


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the OpenLineage 2-0-2 RunEvent or its facet schemas.

    Args:
        event: A RunEvent, as sent (a dict from JSON).

    Returns:
        One message per problem, each starting with where it is; empty when the event is valid.
    """
    problems = _errors(event, f"{CORE_ID}#/$defs/RunEvent", "event")
    _, known = _schemas()
    for kind, where, facets in _facet_groups(event):
        if not isinstance(facets, dict):
            continue  # the core schema has reported it
        for name, facet in facets.items():
            reference = known.get((kind, name))
            if reference is None:
                problems.append(f"{where}.{name}: no vendored schema for a {kind} named {name!r}")
                continue
            problems.extend(_errors(facet, reference, f"{where}.{name}"))
            if isinstance(facet, dict) and facet.get("_schemaURL") != reference:
                problems.append(
                    f"{where}.{name}: _schemaURL is {facet.get('_schemaURL')!r}, "
                    f"expected {reference!r}"
                )
    return problems
