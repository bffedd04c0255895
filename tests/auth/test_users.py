"""Users: add, list, passwords, disable — each change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loopline.auth import (
    AccountError,
    add_user,
    authenticate_password,
    create_web_session,
    disable_user,
    list_users,
    session_principal,
    set_password,
)
from loopline.store import Store, User, list_audit

PASSWORD = "a long passphrase"


def test_added_user_is_listed_without_password_hash(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "reviewer", PASSWORD, actor="boss")
        users = list_users(session)
    assert [(u.name, u.role, u.has_password, u.disabled) for u in users] == [
        ("ana", "reviewer", True, False)
    ]
    assert set(users[0].to_dict()) == {"name", "role", "disabled", "has_password", "created_at"}


def test_password_is_stored_hashed(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", PASSWORD, actor="boss")
        stored = session.scalars(select(User.password_hash)).one()
    assert stored is not None
    assert stored.startswith("scrypt$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("ana", "overlord", None, "Unknown role"),
        ("bad name", "viewer", None, "not a valid user name"),
        ("anonymous", "viewer", None, "not a valid user name"),
        ("ana", "viewer", "short", "too weak"),
    ],
)
def test_invalid_users_are_refused(
    store: Store, name: str, role: str, password: str | None, message: str
) -> None:
    with store.transaction() as session, pytest.raises(AccountError, match=message):
        add_user(session, name, role, password, actor="boss")


def test_duplicate_user_is_refused(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", actor="boss")
        with pytest.raises(AccountError, match="already exists"):
            add_user(session, "ana", "admin", actor="boss")


def test_password_authenticates_only_with_the_right_password(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "maintainer", PASSWORD, actor="boss")
        good = authenticate_password(session, "ana", PASSWORD)
        assert authenticate_password(session, "ana", "a wrong passphrase") is None
        assert authenticate_password(session, "nobody", PASSWORD) is None
    assert good is not None
    assert (good.name, good.role, good.via) == ("ana", "maintainer", "session")


def test_set_password_replaces_the_old_one(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", PASSWORD, actor="boss")
        set_password(session, "ana", "another passphrase", actor="boss")
        assert authenticate_password(session, "ana", PASSWORD) is None
        assert authenticate_password(session, "ana", "another passphrase") is not None


def test_disabled_user_cannot_sign_in_and_loses_sessions(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "root", "admin", actor="boss")
        add_user(session, "ana", "viewer", PASSWORD, actor="boss")
        secret, _ = create_web_session(session, "ana")
        disable_user(session, "ana", actor="root")
        assert authenticate_password(session, "ana", PASSWORD) is None
        assert session_principal(session, secret) is None


def test_last_enabled_admin_cannot_be_disabled(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "root", "admin", actor="boss")
        with pytest.raises(AccountError, match="last enabled admin"):
            disable_user(session, "root", actor="root")


def test_user_changes_are_audited_without_secrets(store: Store) -> None:
    with store.transaction() as session:
        add_user(session, "root", "admin", actor="boss")
        add_user(session, "ana", "viewer", actor="root")
        set_password(session, "ana", PASSWORD, actor="root")
        disable_user(session, "ana", actor="root")
        events = list_audit(session, action="user.")
    assert [(e.action, e.actor, e.target) for e in reversed(events)] == [
        ("user.add", "boss", "root"),
        ("user.add", "root", "ana"),
        ("user.set_password", "root", "ana"),
        ("user.disable", "root", "ana"),
    ]
    assert all(PASSWORD not in str(e.after) for e in events)
