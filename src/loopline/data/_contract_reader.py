"""Reading a contract document defensively, collecting every problem with its line.

The JSON Schema has already reported shape mistakes; the reader still checks each value's type
before using it, so that one mistake never hides the others.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from loopline.data._check_model import SEVERITIES, Severity
from loopline.errors import Problem
from loopline.spec import LocatedYAML

__all__ = ["Loc", "Reader", "parse_duration", "suggest"]

Loc = tuple[str | int, ...]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: Any) -> float | None:
    """Seconds in a duration such as ``90s``, ``30m``, ``24h``, ``7d`` or ``2w``; else ``None``."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _SECONDS[match.group(2)]


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Reader:
    """Collects located problems while typed getters read a YAML document.

    Args:
        located: The document and its line numbers.
    """

    def __init__(self, located: LocatedYAML) -> None:
        self.located = located
        self.problems: list[Problem] = []

    def add(self, loc: Loc, code: str, msg: str, value: Any = None) -> None:
        """Record a problem at ``loc``."""
        shown = value if isinstance(value, str | int | float | bool) else None
        line = self.located.line_of(loc)
        self.problems.append(Problem(loc=loc, code=code, msg=msg, value=shown, line=line))

    def mapping(self, value: Any) -> Mapping[str, Any]:
        """``value`` when it is a mapping, else an empty one (the schema reported it)."""
        return value if isinstance(value, dict) else {}

    def items(self, value: Any) -> list[Any]:
        """``value`` when it is a list, else an empty one (the schema reported it)."""
        return value if isinstance(value, list) else []

    def text(self, data: Mapping[str, Any], key: str) -> str | None:
        """A string value, or ``None`` when absent or of another type (reported elsewhere)."""
        value = data.get(key)
        return value if isinstance(value, str) else None

    def flag(self, data: Mapping[str, Any], key: str) -> bool:
        """A boolean value; anything but ``true`` reads as false (the schema checks types)."""
        return data.get(key) is True

    def severity(self, value: Any, loc: Loc) -> Severity:
        """A severity, reporting anything but ``warn``, ``error`` or ``reject``."""
        for severity in SEVERITIES:
            if value == severity:
                return severity
        hint = suggest(str(value), SEVERITIES)
        self.add(
            loc,
            "unknown-severity",
            f"unknown severity {value!r}{hint} (use one of {', '.join(SEVERITIES)})",
            value,
        )
        return "error"

    def unknown_keys(self, data: Mapping[str, Any], allowed: Iterable[str], loc: Loc) -> None:
        """Report every key of ``data`` outside ``allowed``, suggesting the closest one."""
        allowed = sorted(allowed)
        for key in data:
            if key not in allowed:
                hint = suggest(str(key), allowed) or f" (allowed here: {', '.join(allowed)})"
                self.add((*loc, str(key)), "unknown-key", f"unknown key {key!r}{hint}")
