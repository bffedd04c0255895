"""Web sessions for the UI: a random session secret in an HttpOnly cookie, and a CSRF token.

Both are 256-bit random values handed to the browser once; the store keeps only their SHA-256.
A cookie-authenticated write must echo the CSRF token (header or form field), which a forged
cross-site request cannot know.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loopline.auth._errors import AccountError
from loopline.auth._permissions import SCOPES, Principal
from loopline.auth._secrets import digest, new_secret
from loopline.auth._users import get_user
from loopline.store import User, WebSession, record_audit, utcnow

__all__ = [
    "SESSION_LIFETIME",
    "check_csrf",
    "create_web_session",
    "end_web_session",
    "session_principal",
]

#: How long a web session lasts after sign-in.
SESSION_LIFETIME = timedelta(hours=12)


def create_web_session(
    session: Session, user: str, *, lifetime: timedelta = SESSION_LIFETIME
) -> tuple[str, str]:
    """Start a web session for ``user`` (after they proved who they are).

    Also deletes the user's expired sessions, and records ``user.sign_in`` in the audit trail.

    Args:
        session: The transaction to work in.
        user: The user's name.
        lifetime: How long the session lasts.

    Returns:
        ``(session_secret, csrf_token)``: the cookie value and the token the UI must echo on
        writes. Neither is stored; they cannot be shown again.

    Raises:
        AccountError: No such user, or the user is disabled.
    """
    owner = get_user(session, user)
    if owner.disabled:
        raise AccountError(f"User {user!r} is disabled; they cannot sign in.")
    now = utcnow()
    session.execute(
        delete(WebSession).where(WebSession.user_id == owner.id, WebSession.expires_at <= now)
    )
    secret, csrf = new_secret(), new_secret()
    row = WebSession(
        secret_hash=digest(secret),
        csrf_hash=digest(csrf),
        user_id=owner.id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=user,
        action="user.sign_in",
        target_type="user",
        target=user,
        after={"session": row.id, "expires_at": row.expires_at.isoformat()},
    )
    return secret, csrf


def _live(session: Session, secret: str) -> tuple[WebSession, User] | None:
    row = session.execute(
        select(WebSession, User).join(User).where(WebSession.secret_hash == digest(secret))
    ).one_or_none()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= utcnow() or user.disabled:
        return None
    return web_session, user


def session_principal(session: Session, secret: str) -> Principal | None:
    """The principal a session cookie acts as, or ``None`` if unknown, expired or disabled."""
    live = _live(session, secret)
    if live is None:
        return None
    _, user = live
    return Principal(user.name, user.role, frozenset(SCOPES), "session")


def check_csrf(session: Session, secret: str, csrf: str | None) -> bool:
    """Whether ``csrf`` is the CSRF token of the live session ``secret`` (constant time)."""
    live = _live(session, secret)
    if live is None or not csrf:
        return False
    return hmac.compare_digest(digest(csrf), live[0].csrf_hash)


def end_web_session(session: Session, secret: str) -> bool:
    """Sign out: delete the session. Returns whether there was a session to end."""
    row = session.execute(
        select(WebSession, User.name).join(User).where(WebSession.secret_hash == digest(secret))
    ).one_or_none()
    if row is None:
        return False
    web_session, name = row
    session.delete(web_session)
    record_audit(
        session,
        actor=name,
        action="user.sign_out",
        target_type="user",
        target=name,
        before={"session": web_session.id},
    )
    return True
