"""Users: add, change password, disable, list, and sign in with a password.

Every change is recorded in the audit trail in the caller's transaction. Password hashes never
leave this module: :class:`UserInfo` says only whether a user has one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loopline.auth._errors import AccountError
from loopline.auth._permissions import ROLES, SCOPES, Principal
from loopline.auth._secrets import check_password_strength, hash_password, verify_password
from loopline.store import User, WebSession, record_audit

__all__ = [
    "UserInfo",
    "add_user",
    "authenticate_password",
    "disable_user",
    "get_user",
    "list_users",
    "set_password",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
_RESERVED = {"anonymous"}


@dataclass(frozen=True)
class UserInfo:
    """What may be shown about a user (never the password hash).

    Attributes:
        name: The user's unique name.
        role: One of ``admin``, ``maintainer``, ``reviewer``, ``viewer``.
        disabled: Whether the user is locked out (tokens and sessions stop working).
        has_password: Whether the user can sign in to the web UI with a password.
        created_at: When the user was added (UTC).
    """

    name: str
    role: str
    disabled: bool
    has_password: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserInfo:
        """The shareable view of a user row."""
        return cls(
            name=user.name,
            role=user.role,
            disabled=user.disabled,
            has_password=user.password_hash is not None,
            created_at=user.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``--json`` and the HTTP API."""
        return asdict(self)


def get_user(session: Session, name: str) -> User:
    """The user called ``name``.

    Raises:
        AccountError: There is no such user.
    """
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(
            f"There is no user {name!r}.", hint="See `loopline users list` for the users."
        )
    return user


def _checked_password(password: str) -> str:
    problem = check_password_strength(password)
    if problem is not None:
        raise AccountError(
            f"The password is too weak: {problem}.", hint="Choose a longer passphrase."
        )
    return hash_password(password)


def add_user(
    session: Session, name: str, role: str, password: str | None = None, *, actor: str
) -> UserInfo:
    """Add a user with a role, and optionally a password for the web UI.

    Args:
        session: The transaction to work in.
        name: A unique name: letters, digits and ``._@+-``, up to 200 characters.
        role: One of ``admin``, ``maintainer``, ``reviewer``, ``viewer``.
        password: A password (at least 8 characters), or ``None`` for token-only users.
        actor: Who is adding the user, for the audit trail.

    Raises:
        AccountError: The name is taken or invalid, the role unknown, or the password too weak.
    """
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise AccountError(
            f"{name!r} is not a valid user name.",
            hint="Use letters, digits and . _ @ + -, starting with a letter or digit "
            "(and not 'anonymous').",
        )
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}.", hint=f"Use one of: {', '.join(ROLES)}.")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AccountError(f"A user named {name!r} already exists.", hint="Choose another name.")
    password_hash = None if password is None else _checked_password(password)
    user = User(name=name, role=role, password_hash=password_hash, disabled=False)
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="user.add",
        target_type="user",
        target=name,
        after={"role": role, "has_password": password is not None},
    )
    return UserInfo.of(user)


def set_password(session: Session, name: str, password: str | None, *, actor: str) -> None:
    """Set (or with ``None``, remove) a user's password; signs out their web sessions.

    Raises:
        AccountError: There is no such user, or the password is too weak.
    """
    user = get_user(session, name)
    before = user.password_hash is not None
    user.password_hash = None if password is None else _checked_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    record_audit(
        session,
        actor=actor,
        action="user.set_password",
        target_type="user",
        target=name,
        before={"has_password": before},
        after={"has_password": password is not None},
    )


def disable_user(session: Session, name: str, *, actor: str) -> UserInfo:
    """Lock a user out: their tokens and sessions stop working at once.

    Disabling a user who already is disabled changes nothing and records nothing.

    Raises:
        AccountError: There is no such user, or they are the last enabled admin.
    """
    user = get_user(session, name)
    if user.disabled:
        return UserInfo.of(user)
    if user.role == "admin":
        admins = session.scalar(
            select(func.count()).where(User.role == "admin", User.disabled.is_(False))
        )
        if (admins or 0) <= 1:
            raise AccountError(
                f"{name!r} is the last enabled admin; disabling them would lock everyone out.",
                hint="Add another admin first: loopline users add NAME --role admin.",
            )
    user.disabled = True
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    record_audit(
        session,
        actor=actor,
        action="user.disable",
        target_type="user",
        target=name,
        before={"disabled": False},
        after={"disabled": True},
    )
    return UserInfo.of(user)


def list_users(session: Session) -> list[UserInfo]:
    """Every user, by name."""
    return [UserInfo.of(user) for user in session.scalars(select(User).order_by(User.name))]


def authenticate_password(session: Session, name: str, password: str) -> Principal | None:
    """The principal for ``name`` if ``password`` is theirs and they are enabled, else ``None``.

    Takes the same time whether or not the user exists, so it does not reveal user names.
    """
    user = session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else None
    if not verify_password(stored, password) or user is None or user.disabled:
        return None
    return Principal(user.name, user.role, frozenset(SCOPES), "session")
