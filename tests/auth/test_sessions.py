"""Web sessions: principal from the cookie secret, CSRF tokens, sign-out, expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from loopline.auth import (
    add_user,
    check_csrf,
    create_web_session,
    end_web_session,
    session_principal,
)
from loopline.store import Store, WebSession, list_audit, utcnow


def test_session_secret_gives_the_users_principal(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "reviewer", actor="boss")
        secret, _ = create_web_session(session, "ana")
        principal = session_principal(session, secret)
        assert session_principal(session, "made-up") is None
    assert principal is not None
    assert (principal.name, principal.role, principal.via) == ("ana", "reviewer", "session")


def test_right_csrf_token_is_accepted_forged_or_missing_refused(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "reviewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
        _, other_csrf = create_web_session(session, "ana")
        assert check_csrf(session, secret, csrf)
        assert not check_csrf(session, secret, other_csrf)
        assert not check_csrf(session, secret, csrf + "x")
        assert not check_csrf(session, secret, None)
        assert not check_csrf(session, secret, "")


def test_only_hashes_are_stored(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
        row = session.scalars(select(WebSession)).one()
    assert secret not in row.secret_hash
    assert csrf not in row.csrf_hash
    assert len(row.secret_hash) == len(row.csrf_hash) == 64


def test_expired_session_is_refused(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
        session.scalars(select(WebSession)).one().expires_at = utcnow() - timedelta(seconds=1)
        assert session_principal(session, secret) is None
        assert not check_csrf(session, secret, csrf)


def test_ended_session_is_refused_and_sign_in_out_audited(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", actor="boss")
        secret, _ = create_web_session(session, "ana")
        assert end_web_session(session, secret)
        assert not end_web_session(session, secret)
        assert session_principal(session, secret) is None
        actions = [e.action for e in list_audit(session, actor="ana")]
    assert actions == ["user.sign_out", "user.sign_in"]
