"""Everything the case page shows, gathered in one place (blocking: run it in a thread).

The case and its history come fresh from the store; the model version's facts (signature,
reference values, field descriptions) are immutable and cached; the model itself is the one the
server already serves when it can be, else it is loaded from the registry once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopline._workspace import Workspace
from loopline.errors import LooplineError
from loopline.registry import get_version, load_model
from loopline.review import case_dict, case_history, get_case
from loopline.serving._runtime import Runtime
from loopline.store import list_audit, utcnow
from loopline.training import InputField, TrainedModel
from loopline.ui._explain import Driver, ModelFacts, drivers, model_facts, outside_expected

__all__ = ["CaseView", "CaseViews", "Lease"]

_LOG = logging.getLogger("loopline.ui")
_CACHED_MODELS = 4
_CACHED_FACTS = 32


@dataclass(frozen=True)
class Lease:
    """Who may act on a case now, from the point of view of one person.

    Attributes:
        holder: Who holds a live lease, if anyone.
        until: When that lease ends.
        mine: The viewer holds it.
        can_claim: The viewer may claim it now (a reviewer, not held by someone else).
        can_act: The viewer may decide it now (a reviewer holding the lease).
    """

    holder: str | None
    until: datetime | None
    mine: bool
    can_claim: bool
    can_act: bool


@dataclass
class CaseView:
    """The case page's data."""

    case: dict[str, Any]
    lease: Lease
    inputs: list[dict[str, Any]]
    classes: list[Any]
    drivers: list[Driver]
    drivers_note: str | None
    output_kind: str
    target: str
    positive_class: Any
    threshold: float | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)


def _lease(info: dict[str, Any], actor: str, can_review: bool, now: datetime) -> Lease:
    until = info["lease_expires_at"]
    live = info["claimed_by"] is not None and until is not None and until > now
    holder = info["claimed_by"] if live else None
    mine = live and holder == actor
    open_to_me = info["status"] != "decided" and not (
        info["status"] == "second_review" and (info["decision"] or {}).get("by") == actor
    )
    return Lease(
        holder=holder,
        until=until if live else None,
        mine=mine,
        can_claim=can_review and open_to_me and not (live and not mine),
        can_act=can_review and open_to_me and mine,
    )


def _input_rows(
    inputs: dict[str, Any], flagged: list[str], facts: ModelFacts | None
) -> list[dict[str, Any]]:
    fields: dict[str, InputField] = (
        {f.name: f for f in facts.signature.inputs} if facts is not None else {}
    )
    names = list(fields) + [name for name in inputs if name not in fields]
    rows = []
    for name in names:
        spec = fields.get(name)
        value = inputs.get(name)
        outside = spec is not None and outside_expected(spec, value)
        rows.append(
            {
                "name": name,
                "value": value,
                "expected": _expected(spec),
                "reference": facts.references.get(name) if facts is not None else None,
                "description": facts.descriptions.get(name) if facts is not None else None,
                "flagged": name in flagged or outside,
            }
        )
    return rows


def _expected(spec: InputField | None) -> str:
    if spec is None:
        return ""
    if spec.allowed is not None:
        return "one of " + ", ".join(str(a) for a in spec.allowed)
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum:,.10g} to {spec.maximum:,.10g}"
    if spec.minimum is not None:
        return f"at least {spec.minimum:,.10g}"
    if spec.maximum is not None:
        return f"at most {spec.maximum:,.10g}"
    return ""


class CaseViews:
    """Builds :class:`CaseView` objects for the workspace, caching per model version.

    Args:
        ws: The workspace.
        runtime: The serving runtime, whose loaded models are reused.
    """

    def __init__(self, ws: Workspace, runtime: Runtime) -> None:
        self.ws = ws
        self.runtime = runtime
        self._lock = threading.Lock()
        self._facts: OrderedDict[str, ModelFacts] = OrderedDict()
        self._models: OrderedDict[str, TrainedModel] = OrderedDict()

    def facts(self, model_version: str) -> ModelFacts:
        """Signature, references and descriptions of a model version (cached; immutable).

        Raises:
            RegistryError: The model version does not exist.
        """
        with self._lock:
            if model_version in self._facts:
                return self._facts[model_version]
        with self.ws.store.transaction() as session:
            found = model_facts(session, model_version)
        with self._lock:
            self._facts[model_version] = found
            while len(self._facts) > _CACHED_FACTS:
                self._facts.popitem(last=False)
        return found

    def model(self, model_version: str) -> TrainedModel:
        """The model of a version: the served one, else loaded from the registry (cached)."""
        for use_case in self.runtime.use_cases.values():
            for served in use_case.models.values():
                if served.name == model_version:
                    return served.model
        with self._lock:
            if model_version in self._models:
                return self._models[model_version]
        with self.ws.store.transaction() as session:
            version = get_version(session, model_version)
            prefix, manifest = version.artifact_prefix, version.manifest_sha256
        loaded = load_model(self.ws.objects, prefix, manifest)
        with self._lock:
            self._models[model_version] = loaded
            while len(self._models) > _CACHED_MODELS:
                self._models.popitem(last=False)
        return loaded

    def classes(self, model_version: str) -> list[Any]:
        """The labels an override may choose: the model version's classes."""
        facts = self.facts(model_version)
        if facts.signature.classes:
            return list(facts.signature.classes)
        return list(self.model(model_version).classes)

    def build(self, case_id: str, *, actor: str, can_review: bool) -> CaseView:
        """The page's data for ``case_id`` as ``actor`` sees it.

        Raises:
            ReviewError: No such case (404).
        """
        with self.ws.store.transaction() as session:
            case = get_case(session, case_id)
            events = case_history(session, case)
            info = case_dict(case, events)
            audit = [
                {"at": e.at, "actor": e.actor, "action": e.action, "after": e.after or {}}
                for e in reversed(list_audit(session, target=case.uid, limit=20))
            ]
        facts: ModelFacts | None
        try:
            facts = self.facts(info["model_version"])
        except LooplineError as error:
            _LOG.warning("no facts for %s: %s", info["model_version"], error.message)
            facts = None
        model, found, note = self._explain(info, facts)
        signature = facts.signature if facts is not None else None
        task = signature.task if signature is not None else ""
        return CaseView(
            case=info,
            lease=_lease(info, actor, can_review, utcnow()),
            inputs=_input_rows(info["inputs"], info["out_of_range"], facts),
            classes=list(signature.classes) if signature is not None else [],
            drivers=found,
            drivers_note=note,
            output_kind="value" if task == "regression" else "probability",
            target=signature.target if signature is not None else "",
            positive_class=signature.positive_class if signature is not None else None,
            threshold=model.threshold
            if model is not None and model.task == "binary_classification"
            else None,
            audit=audit,
        )

    def _explain(
        self, info: dict[str, Any], facts: ModelFacts | None
    ) -> tuple[TrainedModel | None, list[Driver], str | None]:
        """The model behind the case and the inputs that drove it (or why they are missing)."""
        if facts is None:
            return None, [], "The model version of this case is no longer in the registry."
        model = None
        try:
            model = self.model(info["model_version"])
            found = drivers(
                model,
                info["inputs"],
                facts.references,
                recommended=info["recommendation"].get("prediction"),
            )
        except Exception as exc:  # the user's model (or its artifact) failed: show the rest
            _LOG.warning("explaining case %s failed", info["id"], exc_info=True)
            return (
                model,
                [],
                f"The model could not be asked about this case ({type(exc).__name__}).",
            )
        if not found:
            return model, [], "Every input has its typical value: nothing stands out."
        return model, found, None
