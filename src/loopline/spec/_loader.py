"""Load ``loopline.yaml``, reporting every problem at once with its key path and line."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from loopline.errors import Problem, ProjectError
from loopline.spec._models import ProjectSpec
from loopline.spec._yaml import LocatedYAML, read_yaml

__all__ = ["PROJECT_FILE", "Project", "find_project_file", "load_project", "validate_model"]

PROJECT_FILE = "loopline.yaml"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Project:
    """A loaded project: its validated spec and where it lives.

    Attributes:
        spec: The validated content of ``loopline.yaml``.
        path: The project file.
    """

    spec: ProjectSpec
    path: Path
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The line in ``loopline.yaml`` of a key path (or of its nearest parent)."""
        return LocatedYAML(None, self.lines).line_of(loc)

    @property
    def root(self) -> Path:
        """The project folder."""
        return self.path.parent

    @property
    def name(self) -> str:
        """The use case's name."""
        return self.spec.name

    def resolve(self, relative: str) -> Path:
        """A path from the project file, made absolute against the project folder."""
        path = Path(relative)
        return path if path.is_absolute() else self.root / path


def find_project_file(start: Path) -> Path:
    """The project file in ``start``, or ``start`` itself when it names a file.

    Raises:
        ProjectError: There is no project file there.
    """
    candidate = start if start.suffix in (".yaml", ".yml") else start / PROJECT_FILE
    if not candidate.is_file():
        raise ProjectError(
            f"No project file at {candidate}.",
            hint="Run the command inside a project folder, pass --project DIR, "
            "or create a project with `loopline init NAME`.",
            source=str(candidate),
        )
    return candidate


def load_project(path: Path | str = ".") -> Project:
    """Read and validate a project.

    Args:
        path: The project folder or its ``loopline.yaml``.

    Raises:
        ProjectError: The file is missing, unreadable or invalid; ``problems`` lists every
            mistake with its key path and line.
    """
    file = find_project_file(Path(path))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(
            f"Cannot read {file}: {exc}.",
            hint="Check that the file exists, is readable and is UTF-8 text.",
            source=str(file),
        ) from exc
    located = read_yaml(text)
    spec = validate_model(ProjectSpec, located, source=str(file), what="project file")
    return Project(spec=spec, path=file.resolve(), lines=located.lines)


def validate_model(model: type[M], located: LocatedYAML, *, source: str, what: str) -> M:
    """Validate YAML data against a pydantic model, turning every error into a located problem.

    Raises:
        ProjectError: With one problem per mistake, all at once.
    """
    problems = list(located.problems)
    data = located.data
    if not problems and not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        problems.append(
            Problem(
                loc=(), code="not-a-mapping", msg=f"the {what} must be a mapping, found {found}"
            )
        )
    if problems:
        raise _error(problems, source, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            if error["type"] == "too_short" and _has_child_error(error, errors):
                continue  # "no valid items left" only repeats the items' own errors
            problems.append(_problem(error, located, model))
        raise _error(problems, source, what) from None


def _error(problems: list[Problem], source: str, what: str) -> ProjectError:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return ProjectError(
        f"{source}: the {what} has {count} {noun}.",
        hint="Fix each line listed; `loopline check` re-validates.",
        problems=sorted(problems, key=lambda p: (p.line or 0, p.path)),
        source=source,
    )


def _problem(error: Any, located: LocatedYAML, model: type[BaseModel]) -> Problem:
    loc = tuple(part for part in error["loc"] if not _is_internal(part))
    kind = error["type"]
    line = located.line_of(loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        key = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        return Problem(
            loc=loc,
            code="unknown-key",
            msg=f"unknown key {key!r}{suggestion} (allowed here: {', '.join(allowed)})",
            line=line,
        )
    if kind == "missing":
        return Problem(loc=loc, code="missing-key", msg="this key is required", line=line)
    message = str(error["msg"]).removeprefix("Value error, ")
    code = "wrong-type" if kind.endswith(("_type", "_parsing")) else "invalid-value"
    value = error.get("input")
    shown = value if isinstance(value, str | int | float | bool) else None
    return Problem(loc=loc, code=code, msg=message, value=shown, line=line)


def _has_child_error(error: Any, errors: list[Any]) -> bool:
    loc = tuple(error["loc"])
    return any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in errors
    )


def _is_internal(part: Any) -> bool:
    # pydantic adds validator names such as "function-before[...]" to some locations.
    return isinstance(part, str) and ("[" in part and "]" in part and "-" in part)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
