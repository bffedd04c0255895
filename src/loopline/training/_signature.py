"""A model's input signature, derived from the data contract: what a request must contain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loopline.data import Contract

__all__ = ["InputField", "Signature", "signature_from_contract"]

_NUMERIC = ("integer", "number")
# an integer column with at most this many allowed values is treated as a category
_MAX_CATEGORY_CODES = 50


@dataclass(frozen=True)
class InputField:
    """One input column: its type, whether it may be null, and its expected range or set."""

    name: str
    logical_type: str
    required: bool
    categorical: bool
    allowed: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Signature:
    """The inputs a model version accepts and what it predicts."""

    task: str
    target: str
    inputs: tuple[InputField, ...]
    classes: tuple[Any, ...] = ()
    positive_class: Any = None
    dropped: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        """Input column names, in order."""
        return [f.name for f in self.inputs]

    @property
    def numeric(self) -> list[str]:
        """Columns fed to the model as numbers."""
        return [f.name for f in self.inputs if not f.categorical]

    @property
    def categorical(self) -> list[str]:
        """Columns fed to the model as categories (one-hot encoded)."""
        return [f.name for f in self.inputs if f.categorical]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored with the model version."""
        return {
            "task": self.task,
            "target": self.target,
            "inputs": [
                asdict(f) | {"allowed": list(f.allowed) if f.allowed else None} for f in self.inputs
            ],
            "classes": list(self.classes),
            "positive_class": self.positive_class,
            "dropped": list(self.dropped),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """Rebuild a signature stored with :meth:`to_dict`."""
        inputs = tuple(
            InputField(**{**f, "allowed": tuple(f["allowed"]) if f.get("allowed") else None})
            for f in data["inputs"]
        )
        return cls(
            task=data["task"],
            target=data["target"],
            inputs=inputs,
            classes=tuple(data.get("classes", ())),
            positive_class=data.get("positive_class"),
            dropped=tuple(data.get("dropped", ())),
        )


def signature_from_contract(
    contract: Contract,
    *,
    task: str,
    target: str,
    drop: tuple[str, ...] = (),
    classes: tuple[Any, ...] = (),
    positive_class: Any = None,
) -> Signature:
    """The inputs of a model trained on data under ``contract``: all columns but target and drops.

    Strings and booleans are categorical; so are integers with a declared set of allowed values
    (codes such as EDUCATION 1-4). Ranges come from ``minimum``/``maximum`` (exclusive bounds
    are kept as the bound itself; they describe the expected range, not a strict check).
    """
    allowed = {
        check.column: tuple(check.params["values"])
        for check in contract.checks
        if check.kind == "allowed_values" and check.column is not None
    }
    fields = []
    for column in contract.columns:
        if column.name == target or column.name in drop:
            continue
        values = allowed.get(column.name)
        categorical = column.logical_type not in _NUMERIC or (
            values is not None and len(values) <= _MAX_CATEGORY_CODES
        )
        options = column.options
        minimum = options.get("minimum", options.get("exclusiveMinimum"))
        maximum = options.get("maximum", options.get("exclusiveMaximum"))
        fields.append(
            InputField(
                name=column.name,
                logical_type=column.logical_type,
                required=column.required,
                categorical=categorical,
                allowed=values,
                minimum=float(minimum) if isinstance(minimum, int | float) else None,
                maximum=float(maximum) if isinstance(maximum, int | float) else None,
            )
        )
    return Signature(
        task=task,
        target=target,
        inputs=tuple(fields),
        classes=classes,
        positive_class=positive_class,
        dropped=drop,
    )
