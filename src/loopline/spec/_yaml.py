"""YAML reading that remembers where every key came from.

PyYAML's composer gives nodes with start marks; we build plain Python data and, beside it, a map
from key paths to 1-based line numbers so that every problem can name its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from loopline.errors import Problem

__all__ = ["LocatedYAML", "read_yaml"]

Path_ = tuple[str | int, ...]


@dataclass
class LocatedYAML:
    """Data read from YAML, with the line of each key path."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, loc: Path_) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def read_yaml(text: str) -> LocatedYAML:
    """Parse YAML text; syntax errors and duplicate keys come back as problems.

    Returns:
        The data (``None`` for an empty document), line numbers and any problems.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        msg = f"not valid YAML: {exc.problem or exc}"
        return LocatedYAML(None, {}, [Problem(loc=(), code="yaml-syntax", msg=msg, line=line)])
    except yaml.YAMLError as exc:
        problem = Problem(loc=(), code="yaml-syntax", msg=f"not valid YAML: {exc}")
        return LocatedYAML(None, {}, [problem])
    located = LocatedYAML(None)
    if node is None:
        return located
    constructor = yaml.SafeLoader("")
    located.data = _build(node, (), located, constructor)
    return located


def _build(node: yaml.Node, path: Path_, out: LocatedYAML, loader: yaml.SafeLoader) -> Any:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, (*path, "?"), out, loader)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            child: Path_ = (*path, str(key))
            if key in result:
                out.problems.append(
                    Problem(
                        loc=child,
                        code="duplicate-key",
                        msg=f"key {key!r} appears twice; the second would silently win",
                        line=key_node.start_mark.line + 1,
                    )
                )
            out.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, out, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), out, loader) for i, item in enumerate(node.value)]
    return _scalar(node, path, out, loader)


def _scalar(node: yaml.Node, path: Path_, out: LocatedYAML, loader: yaml.SafeLoader) -> Any:
    """A scalar's value; one YAML cannot represent (e.g. the date 2024-13-01) is a problem."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:
        out.problems.append(
            Problem(
                loc=path,
                code="invalid-value",
                msg=f"{node.value!r} cannot be read ({exc}); quote it to keep it as text",
                line=node.start_mark.line + 1,
            )
        )
        return node.value
