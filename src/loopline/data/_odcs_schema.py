"""Validate a contract document against the vendored ODCS v3.1.0 JSON Schema.

The schema ships as package data (``loopline/data/schemas``, see its ``SOURCE.md``). JSON Schema
errors are translated into located :class:`~loopline.errors.Problem` objects: unknown keys get a
"did you mean" suggestion, cascades of ``oneOf`` and ``unevaluatedProperties`` errors are
reduced to the one mistake that caused them.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import ValidationError, best_match

from loopline.data._check_model import OPERATORS
from loopline.errors import Problem
from loopline.spec import LocatedYAML

__all__ = ["ODCS_SCHEMA_FILE", "known_keys", "odcs_schema", "schema_problems"]

#: The vendored schema's file name inside ``loopline/data/schemas``.
ODCS_SCHEMA_FILE = "odcs-json-schema-v3.1.0.json"
_LIST_LIMIT = 15

Loc = tuple[str | int, ...]


@functools.cache
def odcs_schema() -> dict[str, Any]:
    """The ODCS v3.1.0 JSON Schema, loaded once from package data."""
    text = resources.files("loopline.data").joinpath("schemas", ODCS_SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Any:
    schema = odcs_schema()
    cls = validators.validator_for(schema)
    return cls(schema)


def schema_problems(located: LocatedYAML) -> list[Problem]:
    """Every way ``located.data`` breaks the ODCS schema, as located problems (deduplicated)."""
    problems: dict[tuple[Loc, str, str], Problem] = {}
    for error in _validator().iter_errors(located.data):
        for problem in _translate(error, located):
            problems.setdefault((problem.loc, problem.code, problem.msg), problem)
    return list(problems.values())


def known_keys(node: Mapping[str, Any]) -> set[str]:
    """Every key a schema node declares, following ``$ref``, ``allOf``, ``oneOf``, ``then``."""
    found: set[str] = set()
    root = odcs_schema()
    pending = [node]
    visited: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        found.update(current.get("properties", {}))
        ref = current.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            pending.append(root["$defs"][ref.removeprefix("#/$defs/")])
        for key in ("allOf", "anyOf", "oneOf"):
            pending.extend(current.get(key, []))
        pending.extend(
            current[key] for key in ("then", "else") if isinstance(current.get(key), dict)
        )
    return found


def _translate(error: ValidationError, located: LocatedYAML) -> Iterator[Problem]:
    loc: Loc = tuple(error.absolute_path)
    kind = error.validator
    instance = error.instance

    def problem(where: Loc, code: str, msg: str, value: Any = None) -> Problem:
        return Problem(loc=where, code=code, msg=msg, value=value, line=located.line_of(where))

    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        known = sorted(known_keys(error.schema))
        for key in instance:
            if key not in known:
                yield problem((*loc, str(key)), "unknown-key", _unknown_key(str(key), known))
        return
    if kind == "required" and isinstance(instance, dict):
        for key in error.validator_value:
            if key not in instance:
                yield problem((*loc, key), "missing-key", f"the key {key!r} is required here")
        return
    if kind == "enum":
        allowed = [str(item) for item in error.validator_value]
        close = difflib.get_close_matches(str(instance), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        msg = f"{instance!r} is not allowed here{hint} (allowed: {', '.join(allowed)})"
        yield problem(loc, "invalid-value", msg, instance)
        return
    if kind == "type":
        found = type(instance).__name__
        quote = " (quote it to make it a string)" if error.validator_value == "string" else ""
        msg = f"expected a value of type {error.validator_value}, found {found}{quote}"
        yield problem(loc, "wrong-type", msg, _shown(instance))
        return
    if kind in ("oneOf", "anyOf"):
        yield from _translate_choice(error, located, loc)
        return
    yield problem(loc, "invalid-value", error.message, _shown(instance))


def _translate_choice(error: ValidationError, located: LocatedYAML, loc: Loc) -> Iterator[Problem]:
    instance = error.instance
    operators = _operator_keys(error.validator_value)
    if operators and isinstance(instance, dict):
        present = [key for key in operators if key in instance]
        line = located.line_of(loc)
        if not present:
            msg = f"a quality metric needs one comparison: {', '.join(operators)}"
            yield Problem(loc=loc, code="missing-key", msg=msg, line=line)
            return
        if len(present) > 1:
            msg = f"a quality item takes one comparison, found {', '.join(present)}; keep one"
            yield Problem(loc=loc, code="invalid-value", msg=msg, line=line)
            return
        deeper = [e for e in error.context or [] if len(e.absolute_path) > len(loc)]
        for sub in deeper:
            yield from _translate(sub, located)
        return
    if error.context:
        yield from _translate(best_match(error.context), located)
        return
    yield Problem(loc=loc, code="invalid-value", msg=error.message, line=located.line_of(loc))


def _operator_keys(choices: Any) -> list[str]:
    if not isinstance(choices, list):
        return []
    keys = [key for choice in choices for key in choice.get("required", [])]
    return keys if keys and all(key in OPERATORS for key in keys) else []


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    if len(known) <= _LIST_LIMIT:
        return f"unknown key {key!r} (allowed here: {', '.join(known)})"
    return f"unknown key {key!r}; see the ODCS v3.1.0 standard for the keys allowed here"


def _shown(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else None
