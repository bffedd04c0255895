"""The FastAPI dependency, on a tiny app built inline and called in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from loopline.auth import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    SCOPE_PERMISSIONS,
    SCOPES,
    Authenticator,
    AuthError,
    add_user,
    auth_error_handler,
    create_token,
    create_web_session,
    revoke_token,
)
from loopline.settings import load_settings
from loopline.store import Store

PASSWORD = "a long passphrase"


def make_app(store: Store, tmp_path: Path, *, auth: str = "on") -> FastAPI:
    settings = load_settings({"LOOPLINE_AUTH": auth}, project_dir=tmp_path)
    authenticator = Authenticator(store, settings, cache_seconds=0)
    app = FastAPI()
    app.add_exception_handler(AuthError, auth_error_handler)

    async def echo(request: Request) -> dict[str, str]:
        return {"user": request.state.principal.name, "body": (await request.body()).decode()}

    for permission in PERMISSIONS:
        dependency = Depends(authenticator.require(permission))
        app.add_api_route(
            f"/{permission}", echo, methods=["GET", "POST"], dependencies=[dependency]
        )

    async def login(request: Request) -> Response:
        data = await request.json()
        response = JSONResponse({"ok": True})
        await authenticator.sign_in(request, response, data["name"], data["password"])
        return response

    async def logout(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        await authenticator.sign_out(request, response)
        return response

    app.add_api_route("/login", login, methods=["POST"])
    app.add_api_route("/logout", logout, methods=["POST"])
    return app


def call(
    app: FastAPI, method: str, path: str, *, base: str = "http://testserver", **kwargs: Any
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def cookie(secret: str) -> dict[str, str]:
    return {"Cookie": f"loopline_session={secret}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_credentials_get_401_with_a_challenge(store: Store, tmp_path: Path) -> None:
    response = call(make_app(store, tmp_path), "GET", "/read")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "auth-required"


@pytest.mark.parametrize("role", ROLES)
def test_session_of_each_role_gets_exactly_its_permissions(
    store: Store, tmp_path: Path, role: str
) -> None:
    with store.transaction() as session:
        add_user(session, "someone", role, actor="boss")
        secret, _ = create_web_session(session, "someone")
    app = make_app(store, tmp_path)
    for permission in PERMISSIONS:
        response = call(app, "GET", f"/{permission}", headers=cookie(secret))
        expected = 200 if permission in ROLE_PERMISSIONS[role] else 403
        assert response.status_code == expected, (role, permission)


@pytest.mark.parametrize("scope", SCOPES)
def test_token_of_each_scope_gets_exactly_its_permissions(
    store: Store, tmp_path: Path, scope: str
) -> None:
    with store.transaction() as session:
        add_user(session, "root", "admin", actor="boss")
        token = create_token(session, "root", [scope], name="t", actor="boss")
    app = make_app(store, tmp_path)
    for permission in PERMISSIONS:
        response = call(app, "POST", f"/{permission}", headers=bearer(token))
        expected = 200 if permission in SCOPE_PERMISSIONS[scope] else 403
        assert response.status_code == expected, (scope, permission)
        if expected == 403:
            assert permission in response.json()["error"]["message"]


def test_revoked_or_malformed_token_gets_401(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        add_user(session, "ci", "maintainer", actor="boss")
        token = create_token(session, "ci", ["predict"], name="t", actor="boss")
    app = make_app(store, tmp_path)
    assert call(app, "POST", "/predict", headers=bearer(token)).status_code == 200
    with store.transaction() as session:
        revoke_token(session, token.split("_")[1], actor="boss")
    assert call(app, "POST", "/predict", headers=bearer(token)).status_code == 401
    assert call(app, "POST", "/predict", headers={"Authorization": token}).status_code == 401


def test_cookie_write_needs_the_sessions_csrf_token(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "reviewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
        _, other_csrf = create_web_session(session, "ana")
    app = make_app(store, tmp_path)
    missing = call(app, "POST", "/review", headers=cookie(secret))
    forged = call(app, "POST", "/review", headers={**cookie(secret), "X-CSRF-Token": other_csrf})
    right = call(app, "POST", "/review", headers={**cookie(secret), "X-CSRF-Token": csrf})
    assert (missing.status_code, forged.status_code, right.status_code) == (403, 403, 200)
    assert missing.json()["error"]["code"] == "csrf-failed"


def test_csrf_token_in_a_form_field_is_accepted_and_body_kept(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "reviewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
    app = make_app(store, tmp_path)
    form = {"csrf_token": csrf, "label": "fraud"}
    response = call(app, "POST", "/review", headers=cookie(secret), data=form)
    assert response.status_code == 200
    assert "label=fraud" in response.json()["body"]
    forged = call(app, "POST", "/review", headers=cookie(secret), data={"csrf_token": "x"})
    assert forged.status_code == 403


def test_auth_off_lets_anonymous_do_everything(store: Store, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, auth="off")
    for permission in PERMISSIONS:
        response = call(app, "POST", f"/{permission}")
        assert response.status_code == 200
        assert response.json()["user"] == "anonymous"


def test_sign_in_sets_strict_httponly_cookies(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", PASSWORD, actor="boss")
    app = make_app(store, tmp_path)
    wrong = call(app, "POST", "/login", json={"name": "ana", "password": "a wrong passphrase"})
    assert wrong.status_code == 401
    response = call(
        app, "POST", "/login", base="https://testserver", json={"name": "ana", "password": PASSWORD}
    )
    session_cookie = next(c for c in response.headers.get_list("set-cookie") if "session" in c)
    assert {"HttpOnly", "SameSite=strict", "Secure"} <= {
        part.strip() for part in session_cookie.split(";")
    }
    secret = response.cookies["loopline_session"]
    assert call(app, "GET", "/read", headers=cookie(secret)).status_code == 200


def test_sign_out_ends_the_session(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        add_user(session, "ana", "viewer", actor="boss")
        secret, csrf = create_web_session(session, "ana")
    app = make_app(store, tmp_path)
    headers = {**cookie(secret), "X-CSRF-Token": csrf}
    response = call(app, "POST", "/logout", headers=headers)
    assert 'loopline_session=""' in response.headers["set-cookie"]
    assert call(app, "GET", "/read", headers=cookie(secret)).status_code == 401


def test_unknown_permission_fails_when_the_route_is_defined(store: Store, tmp_path: Path) -> None:
    settings = load_settings({}, project_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown permission"):
        Authenticator(store, settings).require("superuser")
