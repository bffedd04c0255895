"""Deployments: which model versions a use case serves, with roles and traffic weights.

Strategies:

- ``direct``: the model becomes the champion and takes all traffic.
- ``canary``: the model takes the first canary step's share (e.g. 5 %) next to the champion;
  :func:`advance_canary` moves it along the steps, :func:`rollback_deployment` ends it.
- ``ab``: the model is a challenger with the given share; units are assigned by a salted hash of
  their key, the salt being the experiment's, so assignment is the same on every replica.
- ``shadow``: the model gets a copy of every request off the response path; callers only ever
  see the champion's answer.

Every change writes a new revision (append-only); replicas poll for the latest one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline._vocabulary import STRATEGIES
from loopline.errors import RegistryError
from loopline.lineage import add_edge, add_node
from loopline.registry import current_alias, get_version, promote
from loopline.spec import RolloutSpec
from loopline.store import Deployment, ModelVersion, record_audit

__all__ = [
    "STRATEGIES",
    "Arm",
    "advance_canary",
    "current_deployment",
    "deploy",
    "rollback_deployment",
]


@dataclass(frozen=True)
class Arm:
    """One model in a deployment: its role and share of traffic."""

    model: str
    model_version_id: int
    version: int
    role: str  # champion | challenger | canary | shadow
    weight: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__)


def _salt(experiment: str) -> str:
    """The routing salt of an experiment: derived from what it compares, so the same deployment
    assigns the same units to the same arms on every replica, after restarts and in re-runs
    (a seeded demo gives the same split), while different experiments split units independently."""
    return hashlib.sha256(experiment.encode()).hexdigest()[:16]


def _arm(version: ModelVersion, role: str, weight: float) -> dict[str, Any]:
    return Arm(
        f"{version.use_case}@{version.version}", version.id, version.version, role, weight
    ).to_dict()


def current_deployment(session: Session, use_case: str) -> Deployment | None:
    """The latest deployment revision of a use case."""
    return session.scalar(
        select(Deployment)
        .where(Deployment.use_case == use_case)
        .order_by(Deployment.revision.desc())
        .limit(1)
    )


def _write(
    session: Session,
    use_case: str,
    *,
    strategy: str,
    arms: list[dict[str, Any]],
    salt: str,
    state: dict[str, Any],
    actor: str,
    reason: str | None,
) -> Deployment:
    previous = current_deployment(session, use_case)
    row = Deployment(
        use_case=use_case,
        revision=(previous.revision if previous else 0) + 1,
        strategy=strategy,
        arms=arms,
        salt=salt,
        state=state,
        actor=actor,
        reason=reason,
    )
    session.add(row)
    session.flush()
    node = add_node(
        session,
        "deployment",
        f"{use_case}#{row.revision}",
        label=f"{use_case} revision {row.revision}",
        strategy=strategy,
    )
    for arm in arms:
        add_edge(
            session,
            add_node(session, "model_version", arm["model"]),
            node,
            "deployed_as_" + arm["role"],
        )
    record_audit(
        session,
        actor=actor,
        action="deployment.change",
        target_type="deployment",
        target=f"{use_case}#{row.revision}",
        use_case=use_case,
        before={"revision": previous.revision, "arms": previous.arms} if previous else None,
        after={"strategy": strategy, "arms": arms},
        reason=reason,
    )
    return row


def deploy(
    session: Session,
    ref: str,
    *,
    strategy: str,
    actor: str,
    reason: str | None = None,
    rollout: RolloutSpec | None = None,
    weight: float = 0.5,
) -> Deployment:
    """Deploy a model version with ``strategy``; its gates must pass as for a promotion.

    Raises:
        RegistryError: Unknown strategy, a rejected model, or no champion to run next to.
        GateFailedError: The model's gates do not allow it.
    """
    if not 0.0 < weight < 1.0:
        raise RegistryError(
            f"A challenger's weight must be between 0 and 1, got {weight}.",
            hint="Use e.g. --weight 0.5 for an even split.",
        )
    if strategy not in STRATEGIES:
        raise RegistryError(
            f"Unknown strategy {strategy!r}.", hint=f"Use one of: {', '.join(STRATEGIES)}."
        )
    version = get_version(session, ref)
    use_case = version.use_case
    if strategy == "direct":
        promote(session, ref, to="champion", actor=actor, reason=reason)
        return _write(
            session,
            use_case,
            strategy="direct",
            arms=[_arm(version, "champion", 1.0)],
            salt=_salt(f"{use_case}:direct:{version.version}"),
            state={},
            actor=actor,
            reason=reason,
        )
    champion = current_alias(session, use_case, "champion")
    if champion is None:
        raise RegistryError(
            f"{use_case} has no champion to run a {strategy} next to.",
            hint=f"Deploy a first model with: loopline deploy {ref} --strategy direct",
        )
    if champion.id == version.id:
        raise RegistryError(f"{ref} is already the champion.")
    role = {"canary": "canary", "ab": "challenger", "shadow": "shadow"}[strategy]
    promote(session, ref, to=role, actor=actor, reason=reason)
    if strategy == "shadow":
        arms = [_arm(champion, "champion", 1.0), _arm(version, "shadow", 0.0)]
        state: dict[str, Any] = {}
    elif strategy == "canary":
        steps = list((rollout or RolloutSpec()).steps)
        arms = [_arm(champion, "champion", 1.0 - steps[0]), _arm(version, "canary", steps[0])]
        state = {"steps": steps, "step": 0, "min_requests": (rollout or RolloutSpec()).min_requests}
    else:
        arms = [_arm(champion, "champion", 1.0 - weight), _arm(version, "challenger", weight)]
        state = {"experiment": f"{use_case}:{champion.version}-vs-{version.version}"}
    return _write(
        session,
        use_case,
        strategy=strategy,
        arms=arms,
        salt=_salt(f"{use_case}:{strategy}:{champion.version}-vs-{version.version}"),
        state=state,
        actor=actor,
        reason=reason,
    )


def advance_canary(
    session: Session, use_case: str, *, actor: str, reason: str | None = None
) -> Deployment:
    """Move a canary to its next step; past the last step it becomes the champion."""
    current = current_deployment(session, use_case)
    if current is None or current.strategy != "canary":
        raise RegistryError(f"{use_case} has no canary in progress.")
    steps, step = list(current.state["steps"]), int(current.state["step"]) + 1
    canary = next(a for a in current.arms if a["role"] == "canary")
    if step >= len(steps) or steps[step] >= 1.0:
        version = session.get_one(ModelVersion, canary["model_version_id"])
        promote(session, f"{use_case}@{version.version}", to="champion", actor=actor, reason=reason)
        return _write(
            session,
            use_case,
            strategy="direct",
            arms=[_arm(version, "champion", 1.0)],
            salt=current.salt,
            state={},
            actor=actor,
            reason=reason or "canary completed",
        )
    champion = next(a for a in current.arms if a["role"] == "champion")
    arms = [{**champion, "weight": 1.0 - steps[step]}, {**canary, "weight": steps[step]}]
    return _write(
        session,
        use_case,
        strategy="canary",
        arms=arms,
        salt=current.salt,
        state={**current.state, "step": step},
        actor=actor,
        reason=reason,
    )


def rollback_deployment(
    session: Session, use_case: str, *, actor: str, reason: str | None = None
) -> Deployment:
    """Serve only the champion again, ending any canary, A/B test or shadow (audited).

    When the current deployment is the champion alone, the champion alias itself goes back one
    step (see :func:`loopline.registry.rollback`).
    """
    from loopline.registry import rollback

    current = current_deployment(session, use_case)
    if current is None:
        raise RegistryError(f"{use_case} has no deployment to roll back.")
    others = [a for a in current.arms if a["role"] != "champion"]
    if others:
        for arm in others:
            version = session.get_one(ModelVersion, arm["model_version_id"])
            version.state = "archived"
        champion = next(a for a in current.arms if a["role"] == "champion")
        return _write(
            session,
            use_case,
            strategy="direct",
            arms=[{**champion, "weight": 1.0}],
            salt=current.salt,
            state={},
            actor=actor,
            reason=reason or "rollback",
        )
    _, restored = rollback(session, use_case, actor=actor, reason=reason)
    return _write(
        session,
        use_case,
        strategy="direct",
        arms=[_arm(restored, "champion", 1.0)],
        salt=current.salt,
        state={},
        actor=actor,
        reason=reason or "rollback",
    )
