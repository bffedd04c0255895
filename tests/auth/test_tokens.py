"""API tokens: create, authenticate, revoke, expire; secrets never stored; changes audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.auth import (
    AccountError,
    add_user,
    authenticate_token,
    create_token,
    disable_user,
    list_tokens,
    revoke_token,
)
from loopline.store import ApiToken, Store, list_audit, utcnow


def _token(
    session: Session, role: str = "maintainer", scopes: tuple[str, ...] = ("predict",)
) -> str:
    add_user(session, "ci", role, actor="boss")
    return create_token(session, "ci", scopes, name="pipeline", actor="boss")


def _row(session: Session) -> ApiToken:
    return session.scalars(select(ApiToken)).one()


def test_token_authenticates_as_its_owner_with_its_scopes(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session, scopes=("predict", "feedback"))
        principal = authenticate_token(session, token)
    assert principal is not None
    assert (principal.name, principal.role, principal.via) == ("ci", "maintainer", "token")
    assert principal.scopes == {"predict", "feedback"}
    assert principal.allows("predict")
    assert not principal.allows("deploy")


def test_secret_is_never_stored_in_clear(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        row = _row(session)
    _, prefix, secret = token.split("_", 2)
    assert row.prefix == prefix
    assert len(row.secret_hash) == 64
    assert secret not in row.secret_hash
    assert all(secret not in str(value) for value in vars(row).values())


def test_wrong_secret_with_right_prefix_is_refused(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert authenticate_token(session, forged) is None
        assert authenticate_token(session, "ll_000000000000_nothing") is None
        assert authenticate_token(session, "not a token") is None


def test_revoked_token_stops_working(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        info = revoke_token(session, token.split("_")[1], actor="boss")
        assert authenticate_token(session, token) is None
    assert info.revoked_at is not None
    assert not info.active


def test_expired_token_stops_working(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ci", "maintainer", actor="boss")
        token = create_token(
            session, "ci", ["predict"], name="short", expires_in=timedelta(hours=1), actor="boss"
        )
        assert authenticate_token(session, token) is not None
        _row(session).expires_at = utcnow() - timedelta(seconds=1)
        assert authenticate_token(session, token) is None


def test_disabled_owner_disables_tokens(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        disable_user(session, "ci", actor="boss")
        assert authenticate_token(session, token) is None


def test_last_used_is_written_at_most_once_a_minute(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        authenticate_token(session, token)
        first = _row(session).last_used_at
        authenticate_token(session, token)
        assert _row(session).last_used_at == first
        assert first is not None
        stale = first - timedelta(minutes=2)
        _row(session).last_used_at = stale
        authenticate_token(session, token)
        assert (_row(session).last_used_at or stale) > stale


@pytest.mark.parametrize(
    ("role", "scopes", "message"),
    [
        ("viewer", ("predict",), "cannot have the scopes"),
        ("maintainer", ("admin",), "cannot have the scopes"),
        ("admin", ("root",), "Unknown or missing"),
        ("admin", (), "Unknown or missing"),
    ],
)
def test_scopes_beyond_the_role_are_refused(
    store: Store, role: str, scopes: tuple[str, ...], message: str
) -> None:
    with store.transaction() as session, pytest.raises(AccountError, match=message):
        _token(session, role, scopes)


def test_tokens_are_listed_without_secrets(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        listed = [t.to_dict() for t in list_tokens(session)]
    assert [(t["user"], t["name"], t["scopes"], t["active"]) for t in listed] == [
        ("ci", "pipeline", ["predict"], True)
    ]
    assert token.split("_", 2)[2] not in str(listed)


def test_token_changes_are_audited(store: Store) -> None:
    with store.transaction() as session:
        token = _token(session)
        prefix = token.split("_")[1]
        revoke_token(session, prefix, actor="root")
        revoke_token(session, prefix, actor="root")  # a second revoke changes nothing
        events = list_audit(session, action="token.")
    assert [(e.action, e.actor, e.target) for e in reversed(events)] == [
        ("token.create", "boss", prefix),
        ("token.revoke", "root", prefix),
    ]
    assert token.split("_", 2)[2] not in str([e.after for e in events])
