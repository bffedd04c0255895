"""The role and scope matrix, checked cell by cell against an independent copy."""

from __future__ import annotations

import doctest

import pytest

import loopline.auth as auth
from loopline.auth import PERMISSIONS, ROLES, SCOPES, AuthError, Principal
from loopline.errors import LooplineError

EXPECTED_ROLES = {
    "viewer": {"read"},
    "reviewer": {"read", "feedback", "review"},
    "maintainer": {"read", "feedback", "review", "predict", "train", "deploy", "promote"},
    "admin": set(PERMISSIONS),
}
EXPECTED_SCOPES = {
    "predict": {"predict"},
    "feedback": {"feedback"},
    "review": {"review", "read"},
    "admin": set(PERMISSIONS),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_session_principal_follows_role_matrix(role: str, permission: str) -> None:
    principal = Principal("someone", role, frozenset(SCOPES), "session")
    assert principal.allows(permission) == (permission in EXPECTED_ROLES[role])


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_admin_token_follows_scope_matrix(scope: str, permission: str) -> None:
    principal = Principal("root", "admin", frozenset({scope}), "token")
    assert principal.allows(permission) == (permission in EXPECTED_SCOPES[scope])


def test_token_cannot_exceed_its_owners_role() -> None:
    principal = Principal("vic", "viewer", frozenset({"admin"}), "token")
    assert principal.permissions == {"read"}


def test_unknown_permission_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        Principal("a", "admin", frozenset(SCOPES), "session").allows("delete-everything")


def test_auth_error_codes_map_to_statuses() -> None:
    codes = ("auth-required", "forbidden", "csrf-failed")
    statuses = {code: AuthError("x", code=code).status for code in codes}
    assert statuses == {"auth-required": 401, "forbidden": 403, "csrf-failed": 403}
    assert issubclass(AuthError, LooplineError)
    assert AuthError("x").headers["WWW-Authenticate"].startswith("Bearer")


def test_public_surface_is_sorted_and_public() -> None:
    def key(item: str) -> tuple[int, str]:
        return (0 if item.isupper() else 1 if item[:1].isupper() else 2), item

    assert auth.__all__ == sorted(auth.__all__, key=key)
    assert all(hasattr(auth, name) and not name.startswith("_") for name in auth.__all__)


@pytest.mark.parametrize("module", [auth._permissions, auth._secrets])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
