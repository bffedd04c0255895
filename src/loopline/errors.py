"""The one exception tree of loopline.

Every error loopline raises on purpose derives from :class:`LooplineError`, carries a stable
kebab-case ``code`` (documented in ``docs/errors.md``), a message that says what happened, and a
``hint`` that says what to do. Errors from dependencies are translated at the boundary
(``raise ... from exc``) so callers only ever need to catch ours.

Bad *data* (a project file with mistakes, rows that break a contract, an invalid request) is a
structured error carrying a list of :class:`Problem` locations; misuse of the API is a plain
error without them::

    LooplineError
    ├── ProjectError            loopline.yaml missing, unreadable or invalid (has problems)
    ├── SettingsError           a LOOPLINE_* environment variable is invalid
    ├── StoreError              the metadata store cannot be reached or migrated
    ├── ObjectStoreError        an artifact or data file cannot be read or written
    │   └── IntegrityError      a stored object does not match its recorded SHA-256
    ├── ExpressionError         a gate, rule or metric expression does not parse (has problems)
    ├── ContractError           a data contract is invalid (has problems)
    ├── DataError               data cannot be read or does not fit (has problems)
    │   └── BatchRefusedError   a batch was refused as a whole by a contract
    ├── DatasetError            a dataset or version does not exist or cannot be written
    ├── LineageError            a lineage node does not exist, or an event cannot be built
    ├── TrainingError           a model cannot be trained as configured
    ├── RegistryError           a model version does not exist or cannot move as asked
    │   └── GateFailedError     a promotion was refused by failing gates (has problems)
    ├── ServingError            a request cannot be served (has problems and an HTTP status)
    ├── ReviewError             a case or feedback operation is refused (has an HTTP status)
    ├── MonitoringError         no such report or use case to monitor (has an HTTP status)
    ├── ExperimentError         experiment statistics cannot be computed from the numbers given
    ├── JobError                a background job does not exist or cannot change state as asked
    └── UserCodeError           user code (an estimator, a transform) raised
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BatchRefusedError",
    "ContractError",
    "DataError",
    "DatasetError",
    "ExperimentError",
    "ExpressionError",
    "GateFailedError",
    "IntegrityError",
    "JobError",
    "LineageError",
    "LooplineError",
    "MonitoringError",
    "ObjectStoreError",
    "Problem",
    "ProjectError",
    "RegistryError",
    "ReviewError",
    "ServingError",
    "SettingsError",
    "StoreError",
    "TrainingError",
    "UserCodeError",
]


@dataclass(frozen=True)
class Problem:
    """One located problem in a piece of input.

    Attributes:
        loc: Where the problem is: a key path (``("objective", "costs", "review")``) or a
            column and row.
        code: A stable kebab-case code, e.g. ``missing-key`` or ``wrong-type``.
        msg: What is wrong, in a sentence a person can act on.
        value: The offending value, when showing it helps (never a secret).
        line: The 1-based line in the source file, when the input came from a file.
    """

    loc: tuple[str | int, ...]
    code: str
    msg: str
    value: Any = None
    line: int | None = None

    @property
    def path(self) -> str:
        """The location as a dotted key path, with list indexes in brackets."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out or "(top level)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as the CLI's ``--json`` and the HTTP API show it."""
        return {
            "loc": list(self.loc),
            "path": self.path,
            "code": self.code,
            "msg": self.msg,
            "value": _jsonable(self.value),
            "line": self.line,
        }

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.path}: {self.msg}"


class LooplineError(Exception):
    """The root of every error loopline raises on purpose.

    Args:
        message: What happened.
        hint: What to do about it.
        problems: Located problems, for errors about bad input.
        source: The file or object the problems are in, when there is one.
    """

    code: str = "loopline-error"
    #: The CLI's exit status for this kind of error (see docs/cli.md).
    exit_code: int = 3

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: Sequence[Problem] = (),
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source

    def __str__(self) -> str:
        lines = [self.message]
        lines.extend(f"  - {problem}" for problem in self.problems)
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, safe to show a client (no traceback, no secrets)."""
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "source": self.source,
            "problems": [problem.to_dict() for problem in self.problems],
        }


class ProjectError(LooplineError):
    """``loopline.yaml`` is missing, unreadable or invalid."""

    code = "project-invalid"


class SettingsError(LooplineError):
    """A ``LOOPLINE_*`` environment variable has an invalid value."""

    code = "settings-invalid"


class StoreError(LooplineError):
    """The metadata store cannot be reached, migrated or written."""

    code = "store-unavailable"
    exit_code = 4


class ObjectStoreError(LooplineError):
    """An object (artifact, data file) cannot be read or written, or its key is unsafe."""

    code = "object-store-error"
    exit_code = 4


class IntegrityError(ObjectStoreError):
    """A stored object does not match the SHA-256 recorded when it was written."""

    code = "integrity-mismatch"
    exit_code = 3


class ExpressionError(LooplineError):
    """A gate, rule or metric expression does not parse or names something unknown."""

    code = "expression-invalid"


class ContractError(LooplineError):
    """A data contract is invalid."""

    code = "contract-invalid"


class DataError(LooplineError):
    """Data cannot be read, or its shape does not fit what is expected."""

    code = "data-invalid"


class BatchRefusedError(DataError):
    """A whole batch was refused by its contract; nothing from it was stored as a version."""

    code = "batch-refused"
    exit_code = 1


class DatasetError(LooplineError):
    """A dataset or a dataset version does not exist or cannot be written."""

    code = "dataset-error"


class LineageError(LooplineError):
    """A lineage node does not exist or is named wrongly, or an OpenLineage event is invalid."""

    code = "lineage-error"


class TrainingError(LooplineError):
    """A model cannot be trained as configured (target, estimator, split, slice columns…)."""

    code = "training-error"


class RegistryError(LooplineError):
    """A model version does not exist, or cannot change state as asked."""

    code = "registry-error"


class GateFailedError(RegistryError):
    """A model version failed gates it must pass; ``problems`` lists each with value and bound."""

    code = "gate-failed"
    exit_code = 1


class _StatusError(LooplineError):
    """An error that the HTTP layer answers with its own ``status``."""

    def __init__(self, message: str, *, status: int = 400, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.status = status


class ServingError(_StatusError):
    """A prediction request is invalid or cannot be served; ``status`` is the HTTP status.

    ``problems`` locate field-level mistakes (``("records", 3, "AGE")``); the HTTP layer renders
    them in the shape of the protocol the request came in (loopline, MLflow or Open Inference).
    """

    code = "request-invalid"


class ReviewError(_StatusError):
    """A case cannot be claimed or decided as asked, or feedback is refused; ``status`` is HTTP."""

    code = "review-refused"


class MonitoringError(_StatusError):
    """No report, no such use case, or a monitoring run that cannot be made; ``status`` is HTTP."""

    code = "monitoring-error"


class JobError(LooplineError):
    """A background job does not exist, has no handler, or cannot be cancelled or retried."""

    code = "job-error"


class ExperimentError(LooplineError):
    """Experiment statistics cannot be computed: an empty arm, impossible counts, a bad level."""

    code = "experiment-error"


class UserCodeError(LooplineError):
    """User code (an estimator, a transform, a callback) raised an exception.

    The original exception is chained as ``__cause__``; the message names the user code.
    """

    code = "user-code-failed"

    def __init__(self, name: str, action: str, exc: BaseException) -> None:
        super().__init__(
            f"{name} raised {type(exc).__name__} during {action}: {exc}",
            hint=f"The error comes from your code ({name}), not from loopline; "
            "run again with --debug to see its traceback.",
        )
        self.user_code = name
        self.action = action


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return repr(value)
