"""The registry: model versions, their states, aliases with history, approvals and rollback.

States move ``candidate → challenger | shadow | canary → champion → archived``; a version that
failed a gate at registration is ``rejected`` and can never serve. Aliases (``champion``,
``challenger``) are append-only events, so "what was in production at time t" is one query and a
rollback is one step back along the champion's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline.errors import GateFailedError, Problem, RegistryError
from loopline.store import AliasEvent, Approval, GateResult, ModelVersion, record_audit, utcnow

__all__ = [
    "ALIASES",
    "STATES",
    "ModelRef",
    "alias_at",
    "approve",
    "archive",
    "blocking_gates",
    "current_alias",
    "get_version",
    "list_versions",
    "parse_model_ref",
    "promote",
    "rollback",
]

STATES = ("candidate", "challenger", "shadow", "canary", "champion", "archived", "rejected")
ALIASES = ("champion", "challenger")
_PROMOTABLE_TO = ("challenger", "shadow", "canary", "champion")


@dataclass(frozen=True)
class ModelRef:
    """A use case and a version or alias: ``credit-default@3``, ``credit-default@champion``."""

    use_case: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.use_case}@{self.version if self.version is not None else self.alias}"


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``USE_CASE@VERSION`` or ``USE_CASE@ALIAS`` (``@champion`` by default)."""
    use_case, _, what = text.partition("@")
    if not use_case:
        raise RegistryError(
            f"{text!r} does not name a model version.",
            hint="Write USE_CASE@VERSION (credit-default@3) or USE_CASE@champion.",
        )
    if not what:
        return ModelRef(use_case, alias="champion")
    if what.isdigit():
        return ModelRef(use_case, version=int(what))
    if what not in ALIASES:
        raise RegistryError(
            f"Unknown alias {what!r} in {text!r}.",
            hint=f"Use a version number or one of: {', '.join(ALIASES)}.",
        )
    return ModelRef(use_case, alias=what)


def list_versions(session: Session, use_case: str | None = None) -> Sequence[ModelVersion]:
    """Model versions, newest first."""
    query = select(ModelVersion).order_by(ModelVersion.use_case, ModelVersion.version.desc())
    if use_case:
        query = query.where(ModelVersion.use_case == use_case)
    return session.scalars(query).all()


def _latest_alias_event(
    session: Session, use_case: str, alias: str, at: datetime | None = None
) -> AliasEvent | None:
    query = select(AliasEvent).where(AliasEvent.use_case == use_case, AliasEvent.alias == alias)
    if at is not None:
        query = query.where(AliasEvent.at <= at)
    return session.scalar(query.order_by(AliasEvent.id.desc()).limit(1))


def current_alias(session: Session, use_case: str, alias: str) -> ModelVersion | None:
    """The version an alias points to now."""
    event = _latest_alias_event(session, use_case, alias)
    if event is None or event.model_version_id is None:
        return None
    return session.get(ModelVersion, event.model_version_id)


def alias_at(session: Session, use_case: str, alias: str, at: datetime) -> ModelVersion | None:
    """The version an alias pointed to at time ``at`` (e.g. what was in production then)."""
    event = _latest_alias_event(session, use_case, alias, at)
    if event is None or event.model_version_id is None:
        return None
    return session.get(ModelVersion, event.model_version_id)


def get_version(session: Session, ref: ModelRef | str) -> ModelVersion:
    """The model version ``ref`` names.

    Raises:
        RegistryError: No such version, or the alias points nowhere.
    """
    ref = parse_model_ref(ref) if isinstance(ref, str) else ref
    if ref.alias is not None:
        found = current_alias(session, ref.use_case, ref.alias)
        if found is None:
            raise RegistryError(
                f"{ref.use_case} has no {ref.alias}.",
                hint=f"Promote a version: loopline models promote {ref.use_case}@N.",
            )
        return found
    found = session.scalar(
        select(ModelVersion).where(
            ModelVersion.use_case == ref.use_case, ModelVersion.version == ref.version
        )
    )
    if found is None:
        count = session.scalar(select(func.count()).where(ModelVersion.use_case == ref.use_case))
        raise RegistryError(
            f"No model version {ref}.",
            hint=f"{ref.use_case} has {count} version(s); see `loopline models list`.",
        )
    return found


def _move_alias(
    session: Session,
    version: ModelVersion | None,
    *,
    use_case: str,
    alias: str,
    actor: str,
    reason: str | None,
) -> None:
    previous = current_alias(session, use_case, alias)
    session.add(
        AliasEvent(
            use_case=use_case,
            alias=alias,
            model_version_id=version.id if version else None,
            previous_version_id=previous.id if previous else None,
            actor=actor,
            reason=reason,
            at=utcnow(),
        )
    )
    if (
        previous is not None
        and (version is None or previous.id != version.id)
        and previous.state == alias
    ):
        previous.state = "archived" if alias == "champion" else "candidate"


def blocking_gates(session: Session, version: ModelVersion) -> list[GateResult]:
    """The latest result of each gate that keeps ``version`` from promotion."""
    results = session.scalars(
        select(GateResult).where(GateResult.model_version_id == version.id).order_by(GateResult.id)
    ).all()
    latest = {result.gate: result for result in results}
    return [r for r in latest.values() if r.verdict in ("failed", "pending")]


def promote(
    session: Session, ref: ModelRef | str, *, to: str, actor: str, reason: str | None = None
) -> ModelVersion:
    """Move a version to ``to`` (challenger, shadow, canary or champion), if its gates allow.

    Raises:
        GateFailedError: A gate failed or awaits approval; each is listed with value and bound.
        RegistryError: The version is rejected or archived, or ``to`` is not a state.
    """
    if to not in _PROMOTABLE_TO:
        raise RegistryError(
            f"Cannot promote to {to!r}.", hint=f"Use one of: {', '.join(_PROMOTABLE_TO)}."
        )
    version = get_version(session, ref)
    if version.state == "archived":
        raise RegistryError(
            f"{version.use_case}@{version.version} is archived.",
            hint="An archived champion comes back with `loopline rollback`; otherwise train anew.",
        )
    if version.state == "rejected":
        raise RegistryError(
            f"{version.use_case}@{version.version} was rejected by its gates and can never serve.",
            hint="Train a new version that passes the gates.",
        )
    blocking = blocking_gates(session, version)
    if blocking:
        problems = [
            Problem(
                loc=("gates", r.gate),
                code=f"gate-{r.verdict}",
                msg=f"{r.gate}: {r.verdict} (measured {r.measured}, bound {r.bound})",
                value=r.measured,
            )
            for r in blocking
        ]
        raise GateFailedError(
            f"{version.use_case}@{version.version} cannot be promoted: "
            f"{len(blocking)} gate(s) not passed.",
            hint="Pending approvals: `loopline models approve`. Failed gates need a new model.",
            problems=problems,
        )
    before = version.state
    if to in ALIASES:
        _move_alias(
            session, version, use_case=version.use_case, alias=to, actor=actor, reason=reason
        )
    version.state = to
    record_audit(
        session,
        actor=actor,
        action="model.promote",
        target_type="model_version",
        target=f"{version.use_case}@{version.version}",
        use_case=version.use_case,
        before={"state": before},
        after={"state": to},
        reason=reason,
    )
    return version


def archive(
    session: Session, ref: ModelRef | str, *, actor: str, reason: str | None = None
) -> ModelVersion:
    """Retire a version; the champion cannot be archived while it serves (roll back first)."""
    version = get_version(session, ref)
    current = current_alias(session, version.use_case, "champion")
    if current is not None and current.id == version.id:
        raise RegistryError(
            f"{version.use_case}@{version.version} is the champion.",
            hint="Promote another version or `loopline rollback` first.",
        )
    before = version.state
    challenger = current_alias(session, version.use_case, "challenger")
    if challenger is not None and challenger.id == version.id:
        _move_alias(
            session, None, use_case=version.use_case, alias="challenger", actor=actor, reason=reason
        )
    version.state = "archived"
    record_audit(
        session,
        actor=actor,
        action="model.archive",
        target_type="model_version",
        target=f"{version.use_case}@{version.version}",
        use_case=version.use_case,
        before={"state": before},
        after={"state": "archived"},
        reason=reason,
    )
    return version


def approve(
    session: Session, ref: ModelRef | str, *, actor: str, reason: str | None = None
) -> ModelVersion:
    """Record a person's approval; approval gates that are now met pass."""
    version = get_version(session, ref)
    if version.state == "rejected":
        raise RegistryError(
            f"{version.use_case}@{version.version} was rejected; approval cannot help."
        )
    session.add(Approval(model_version_id=version.id, actor=actor, reason=reason))
    session.flush()
    count = session.scalar(select(func.count()).where(Approval.model_version_id == version.id)) or 0
    for result in blocking_gates(session, version):
        if result.verdict == "pending" and result.bound is not None and count >= result.bound:
            session.add(
                GateResult(
                    model_version_id=version.id,
                    gate=result.gate,
                    measured=float(count),
                    bound=result.bound,
                    verdict="passed",
                    detail={"approved_by": actor},
                    context="approval",
                )
            )
    record_audit(
        session,
        actor=actor,
        action="model.approve",
        target_type="model_version",
        target=f"{version.use_case}@{version.version}",
        use_case=version.use_case,
        after={"approvals": count},
        reason=reason,
    )
    return version


def rollback(
    session: Session, use_case: str, *, actor: str, reason: str | None = None
) -> tuple[ModelVersion, ModelVersion]:
    """Put the previous champion back; returns ``(previous, restored)``.

    Raises:
        RegistryError: There is no champion, or no earlier one to return to.
    """
    event = _latest_alias_event(session, use_case, "champion")
    if event is None or event.model_version_id is None:
        raise RegistryError(f"{use_case} has no champion to roll back.")
    current = session.get_one(ModelVersion, event.model_version_id)
    target_id = event.previous_version_id
    if target_id is None:
        raise RegistryError(
            f"{use_case}@{current.version} is the first champion; "
            "there is nothing to roll back to.",
            hint="Promote another version instead.",
        )
    restored = session.get_one(ModelVersion, target_id)
    # the event that first made `restored` champion says what came before it: a second rollback
    # goes one step further back instead of undoing the first
    installed = session.scalar(
        select(AliasEvent)
        .where(
            AliasEvent.use_case == use_case,
            AliasEvent.alias == "champion",
            AliasEvent.model_version_id == restored.id,
            AliasEvent.id < event.id,
        )
        .order_by(AliasEvent.id.desc())
        .limit(1)
    )
    _move_alias(session, restored, use_case=use_case, alias="champion", actor=actor, reason=reason)
    latest = _latest_alias_event(session, use_case, "champion")
    if latest is not None:
        latest.previous_version_id = installed.previous_version_id if installed else None
    current.state = "archived"
    restored.state = "champion"
    record_audit(
        session,
        actor=actor,
        action="model.rollback",
        target_type="model_version",
        target=f"{use_case}@{restored.version}",
        use_case=use_case,
        before={"champion": current.version},
        after={"champion": restored.version},
        reason=reason,
    )
    return current, restored
