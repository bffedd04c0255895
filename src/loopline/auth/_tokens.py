"""API tokens: create (the secret is shown once), revoke, list, and authenticate.

A token reads ``ll_<prefix>_<secret>``. The prefix is stored in clear to find the row and to
name the token in lists and the audit trail; of the secret only its SHA-256 is stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.auth._errors import AccountError
from loopline.auth._permissions import ROLE_PERMISSIONS, SCOPE_PERMISSIONS, SCOPES, Principal
from loopline.auth._secrets import digest, make_token, split_token
from loopline.auth._users import get_user
from loopline.store import ApiToken, User, record_audit, utcnow

__all__ = ["TokenInfo", "authenticate_token", "create_token", "list_tokens", "revoke_token"]

#: ``last_used_at`` is written at most this often per token, to keep reads cheap.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never its secret or its hash.

    Attributes:
        prefix: The token's public prefix (``ll_<prefix>_…``).
        user: The owner's name.
        name: What the token is for.
        scopes: What the token may do, within its owner's role.
        created_at: When it was created (UTC).
        expires_at: When it stops working, if ever.
        revoked_at: When it was revoked, if it was.
        last_used_at: When it last authenticated a request (to the minute).
    """

    prefix: str
    user: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the token works now (not revoked, not expired)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    @classmethod
    def of(cls, token: ApiToken, user: str) -> TokenInfo:
        """The shareable view of a token row."""
        return cls(
            prefix=token.prefix,
            user=user,
            name=token.name,
            scopes=tuple(token.scopes),
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``--json`` and the HTTP API."""
        return {**asdict(self), "scopes": list(self.scopes), "active": self.active}


def _checked_scopes(user: User, scopes: Collection[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise AccountError(
            f"Unknown or missing token scopes: {unknown or 'none given'}.",
            hint=f"Give one or more of: {', '.join(SCOPES)}.",
        )
    beyond = [s for s in SCOPES if s in scopes and not SCOPE_PERMISSIONS[s] <= _role(user)]
    if beyond:
        raise AccountError(
            f"User {user.name!r} is a {user.role}; a token of theirs cannot have the scopes "
            f"{beyond}.",
            hint="Choose scopes the user's role allows (see `loopline.auth` for the matrix).",
        )
    return [s for s in SCOPES if s in scopes]


def _role(user: User) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(user.role, frozenset())


def create_token(
    session: Session,
    user: str,
    scopes: Collection[str],
    *,
    name: str,
    expires_in: timedelta | None = None,
    actor: str,
) -> str:
    """Create an API token for ``user`` and return it: the only time the secret is seen.

    Args:
        session: The transaction to work in.
        user: The owner's name; the token acts as them, limited to ``scopes``.
        scopes: Some of ``predict``, ``feedback``, ``review``, ``admin``, within the owner's role.
        name: What the token is for (shown in lists).
        expires_in: How long it works; ``None`` for no expiry.
        actor: Who creates it, for the audit trail.

    Raises:
        AccountError: No such user, a disabled user, a bad scope, or a non-positive expiry.
    """
    owner = get_user(session, user)
    if owner.disabled:
        raise AccountError(f"User {user!r} is disabled; they cannot get new tokens.")
    chosen = _checked_scopes(owner, scopes)
    if expires_in is not None and expires_in <= timedelta(0):
        raise AccountError(f"The expiry must be in the future; got {expires_in}.")
    if not name.strip() or len(name) > 200:
        raise AccountError("A token needs a name of 1 to 200 characters, saying what it is for.")
    token, prefix, secret = make_token()
    expires_at = None if expires_in is None else utcnow() + expires_in
    row = ApiToken(
        prefix=prefix,
        secret_hash=digest(secret),
        user_id=owner.id,
        name=name,
        scopes=chosen,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="token.create",
        target_type="api_token",
        target=prefix,
        after={"user": user, "name": name, "scopes": chosen, "expires_at": _iso(expires_at)},
    )
    return token


def revoke_token(session: Session, prefix: str, *, actor: str) -> TokenInfo:
    """Revoke a token at once. Revoking a revoked token changes nothing and records nothing.

    Args:
        session: The transaction to work in.
        prefix: The token's prefix, with or without the leading ``ll_``.
        actor: Who revokes it, for the audit trail.

    Raises:
        AccountError: No token has that prefix.
    """
    prefix = prefix.removeprefix("ll_").split("_")[0]
    row = session.execute(
        select(ApiToken, User.name).join(User).where(ApiToken.prefix == prefix)
    ).one_or_none()
    if row is None:
        raise AccountError(
            f"There is no token with prefix {prefix!r}.",
            hint="See `loopline tokens list` for the prefixes.",
        )
    token, owner = row
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_audit(
            session,
            actor=actor,
            action="token.revoke",
            target_type="api_token",
            target=prefix,
            before={"revoked_at": None},
            after={"user": owner, "revoked_at": _iso(token.revoked_at)},
        )
    return TokenInfo.of(token, owner)


def list_tokens(session: Session, user: str | None = None) -> list[TokenInfo]:
    """Every token (or ``user``'s), newest first, without secrets."""
    query = select(ApiToken, User.name).join(User).order_by(ApiToken.id.desc())
    if user is not None:
        query = query.where(User.name == user)
    return [TokenInfo.of(token, owner) for token, owner in session.execute(query)]


def authenticate_token(session: Session, secret: str) -> Principal | None:
    """The principal a token string acts as, or ``None`` if it is unknown, wrong, expired,
    revoked, or its owner is disabled.

    Updates the token's ``last_used_at`` when it is more than a minute old.
    """
    parts = split_token(secret)
    if parts is None:
        return None
    prefix, token_secret = parts
    row = session.execute(
        select(ApiToken, User).join(User).where(ApiToken.prefix == prefix)
    ).one_or_none()
    if row is None:
        return None
    token, user = row
    if not hmac.compare_digest(digest(token_secret), token.secret_hash):
        return None
    now = utcnow()
    if token.revoked_at is not None or user.disabled:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return Principal(user.name, user.role, frozenset(token.scopes), "token")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
