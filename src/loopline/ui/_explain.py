"""What drove one prediction: per-row effects of each input against a typical value.

For each input field, the field alone is replaced by a *reference* value — the median (numbers)
or the most frequent value (categories) of the data the model was trained on, from the dataset
version's profile — and the model is asked again. The effect of the field is the model's output
for the case minus its output with the reference: for a binary model, the change in the
positive-class probability; for a multiclass model, in the probability of the recommended class;
for a regression, in the predicted value. It is a one-at-a-time explanation: it shows what
moved this row away from a typical one, not an additive attribution.

Without a profile (a model registered from elsewhere), references fall back to the signature:
the middle of the expected range, or the first allowed value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from loopline.registry import get_version
from loopline.serving._inputs import validate_records
from loopline.store import Contract, DatasetVersion, ModelVersion, Run
from loopline.training import InputField, Signature, TrainedModel

__all__ = ["Driver", "ModelFacts", "drivers", "model_facts", "outside_expected"]

_NUMERIC = ("integer", "number")


@dataclass(frozen=True)
class Driver:
    """One input's effect on this prediction.

    Attributes:
        name: The input field.
        value: Its value in the case.
        reference: The typical value it was compared with.
        effect: Output for the case minus output with the reference (probability or value).
    """

    name: str
    value: Any
    reference: Any
    effect: float


@dataclass(frozen=True)
class ModelFacts:
    """What the case page needs to know about the model version behind a case.

    Attributes:
        signature: The inputs the model takes, their ranges and the classes.
        references: Typical value of each input (from the training data's profile).
        descriptions: What each input means (from the data contract), when documented.
    """

    signature: Signature
    references: dict[str, Any]
    descriptions: dict[str, str]


def model_facts(session: Session, model_version: str) -> ModelFacts:
    """Signature, reference values and field descriptions of ``model_version`` (``name@N``).

    Raises:
        RegistryError: There is no such model version.
    """
    version: ModelVersion = get_version(session, model_version)
    signature = Signature.from_dict(version.signature)
    run = session.get(Run, version.run_id)
    dataset = (
        session.get(DatasetVersion, run.dataset_version_id)
        if run is not None and run.dataset_version_id is not None
        else None
    )
    profile = dataset.profile.get("columns", {}) if dataset is not None else {}
    contract = (
        session.get(Contract, dataset.contract_id)
        if dataset is not None and dataset.contract_id is not None
        else None
    )
    references = {}
    for field in signature.inputs:
        reference = _reference(field, profile.get(field.name) or {})
        if reference is not None:
            references[field.name] = reference
    return ModelFacts(
        signature, references, _descriptions(contract.body if contract is not None else {})
    )


def _reference(field: InputField, profile: Mapping[str, Any]) -> Any:
    """The typical value of a field: profile median or mode, else the signature's middle."""
    top = profile.get("top") or []
    median = (profile.get("quantiles") or {}).get("0.5")
    if field.categorical and top:
        return top[0]["value"]
    if field.logical_type in _NUMERIC and median is not None:
        return round(median) if field.logical_type == "integer" else float(median)
    if top:
        return top[0]["value"]
    if field.allowed:
        return field.allowed[0]
    if field.minimum is not None and field.maximum is not None:
        middle = (field.minimum + field.maximum) / 2
        return round(middle) if field.logical_type == "integer" else middle
    return None


def _descriptions(body: Mapping[str, Any]) -> dict[str, str]:
    """Column descriptions from a stored ODCS contract document."""
    found: dict[str, str] = {}
    for table in body.get("schema") or []:
        for prop in (table.get("properties") or []) if isinstance(table, dict) else []:
            if isinstance(prop, dict) and prop.get("name") and prop.get("description"):
                found[str(prop["name"])] = str(prop["description"])
    return found


def outside_expected(field: InputField, value: Any) -> bool:
    """Whether ``value`` lies outside the field's expected range or allowed set."""
    if value is None:
        return False
    if field.allowed is not None:
        return value not in field.allowed and str(value) not in {str(a) for a in field.allowed}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if field.minimum is not None and value < field.minimum:
        return True
    return field.maximum is not None and value > field.maximum


def drivers(
    model: TrainedModel,
    inputs: Mapping[str, Any],
    references: Mapping[str, Any],
    *,
    recommended: Any = None,
    top: int = 8,
) -> list[Driver]:
    """The ``top`` inputs whose actual value moved the model's output most from the reference.

    Raises:
        ServingError: The case's inputs no longer fit the model's signature.
        Exception: Whatever the model raises (callers show the page without drivers).
    """
    signature = model.signature
    base = {name: inputs.get(name) for name in signature.names}
    compared = [
        (name, references[name])
        for name in signature.names
        if name in references and references[name] != base[name]
    ]
    if not compared:
        return []
    variants = [base] + [{**base, name: reference} for name, reference in compared]
    frame, _ = validate_records(variants, signature, max_rows=len(variants))
    outputs = _outputs(model, frame, recommended)
    found = [
        Driver(name, base[name], reference, float(outputs[0] - outputs[index]))
        for index, (name, reference) in enumerate(compared, start=1)
        if math.isfinite(float(outputs[0] - outputs[index]))
    ]
    found = [d for d in found if abs(d.effect) > 1e-9]
    found.sort(key=lambda d: (-abs(d.effect), d.name))
    return found[:top]


def _outputs(model: TrainedModel, frame: Any, recommended: Any) -> npt.NDArray[np.float64]:
    if model.task == "binary_classification":
        return model.positive_proba(frame)
    if model.task == "multiclass_classification":
        classes = [str(c) for c in model.classes]
        column = classes.index(str(recommended)) if str(recommended) in classes else 0
        return np.asarray(model.predict_proba(frame)[:, column], dtype=np.float64)
    return np.asarray(model.predict(frame), dtype=np.float64)
