"""The HTTP side of auth: a FastAPI dependency per permission, session cookies, error responses.

Wiring, in the app factory::

    auth = Authenticator(ws.store, ws.settings)
    app.add_exception_handler(AuthError, auth_error_handler)

    @app.post("/api/v1/predict/{use_case}")
    async def predict(..., principal: Principal = Depends(auth.require("predict"))): ...

A request authenticates with ``Authorization: Bearer ll_<prefix>_<secret>`` (an API token) or
with the ``loopline_session`` cookie (the web UI). A cookie-authenticated unsafe request (POST,
PUT, PATCH, DELETE) must also carry the session's CSRF token in the ``X-CSRF-Token`` header or in
an ``application/x-www-form-urlencoded`` field ``csrf_token``; the token is checked against the
hash stored with the session. With ``settings.auth`` off, every request is an anonymous admin.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loopline.auth._errors import AuthError
from loopline.auth._permissions import SCOPES, Principal, check_permission
from loopline.auth._secrets import digest
from loopline.auth._sessions import (
    SESSION_LIFETIME,
    check_csrf,
    create_web_session,
    end_web_session,
    session_principal,
)
from loopline.auth._tokens import authenticate_token
from loopline.auth._users import authenticate_password
from loopline.settings import Settings
from loopline.store import Store

__all__ = [
    "ANONYMOUS",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Authenticator",
    "auth_error_handler",
    "clear_session_cookie",
    "set_session_cookie",
]

SESSION_COOKIE = "loopline_session"
CSRF_COOKIE = "loopline_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

#: The principal of every request when authentication is off (local experiments only).
ANONYMOUS = Principal("anonymous", "admin", frozenset(SCOPES), "anonymous")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_MAX_FORM_BYTES = 64 * 1024  # a form carrying a CSRF token is small; bigger writes use the header
_CACHE_LIMIT = 10_000

Lookup = Callable[[Session, str], Principal | None]


class Authenticator:
    """Authenticates requests against the store and checks their permissions.

    Args:
        store: The metadata store holding users, tokens and sessions.
        settings: ``settings.auth`` off makes every request an anonymous admin.
        cache_seconds: How long a successful token or session lookup is reused, sparing the
            database on the prediction path. A token's revocation or expiry, a disabled user
            or a session ended on another replica takes effect within this time; 0 disables
            the cache.
    """

    def __init__(self, store: Store, settings: Settings, *, cache_seconds: float = 5.0) -> None:
        self.store = store
        self.settings = settings
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Principal]] = {}

    def require(self, permission: str) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency that authenticates the request and demands ``permission``.

        Use it as ``Depends(auth.require("predict"))``; it returns the :class:`Principal` and
        also leaves it in ``request.state.principal`` (for the audit trail's actor).

        Raises:
            ValueError: ``permission`` is unknown (at route definition, not per request).
        """
        check_permission(permission)

        async def dependency(request: Request) -> Principal:
            principal = await self.authenticate(request)
            if not principal.allows(permission):
                held = principal.role
                if principal.via == "token":
                    held += f", token scopes: {', '.join(sorted(principal.scopes))}"
                raise AuthError(
                    f"{principal.name} ({held}) may not do this: it needs the {permission!r} "
                    "permission.",
                    code="forbidden",
                    hint="Ask an admin for a role or a token scope that grants it.",
                )
            request.state.principal = principal
            return principal

        dependency.__name__ = f"require_{permission}"
        return dependency

    async def authenticate(self, request: Request) -> Principal:
        """Who the request acts as (a token, a session or, with auth off, anonymous).

        Raises:
            AuthError: No credentials, invalid ones (401), or a missing CSRF token (403).
        """
        if not self.settings.auth:
            return ANONYMOUS
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError(
                    "The Authorization header is not of the form 'Bearer <token>'.",
                    hint="Send 'Authorization: Bearer ll_<prefix>_<secret>'.",
                )
            principal = await self._lookup("token", token.strip(), authenticate_token)
            if principal is None:
                raise AuthError(
                    "The API token is invalid, expired or revoked.",
                    hint="Create a new one with `loopline tokens create`.",
                )
            return principal
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise AuthError(
                "This needs authentication, and the request carried none.",
                hint="Send 'Authorization: Bearer <token>' with an API token, or sign in.",
            )
        principal = await self._lookup("session", secret, session_principal)
        if principal is None:
            raise AuthError("The session has expired or ended.", hint="Sign in again.")
        if request.method.upper() not in _SAFE_METHODS:
            csrf = request.headers.get(CSRF_HEADER) or await _form_csrf(request)
            if not await run_in_threadpool(self._check_csrf, secret, csrf):
                raise AuthError(
                    f"A {request.method} with a session cookie needs the session's CSRF token; "
                    f"it was {'wrong' if csrf else 'missing'}.",
                    code="csrf-failed",
                    hint=f"Send it in the {CSRF_HEADER} header or the {CSRF_FIELD} form field.",
                )
        return principal

    async def sign_in(
        self, request: Request, response: Response, name: str, password: str
    ) -> Principal:
        """Check a password, start a web session and set its cookies on ``response``.

        Raises:
            AuthError: Wrong name or password, or a disabled user (one message for all).
        """

        def work() -> tuple[Principal, str, str] | None:
            with self.store.transaction() as session:
                principal = authenticate_password(session, name, password)
                if principal is None:
                    return None
                secret, csrf = create_web_session(session, principal.name)
                return principal, secret, csrf

        result = await run_in_threadpool(work)
        if result is None:
            raise AuthError("Wrong user name or password.", hint="Check both and try again.")
        principal, secret, csrf = result
        set_session_cookie(response, secret, csrf=csrf, secure=request.url.scheme == "https")
        return principal

    async def sign_out(self, request: Request, response: Response) -> None:
        """End the request's web session (if any) and clear its cookies on ``response``."""
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            self._cache.pop(("session", digest(secret)), None)

            def work() -> None:
                with self.store.transaction() as session:
                    end_web_session(session, secret)

            await run_in_threadpool(work)
        clear_session_cookie(response, secure=request.url.scheme == "https")

    async def _lookup(self, kind: str, credential: str, find: Lookup) -> Principal | None:
        key = (kind, digest(credential))
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]

        def work() -> Principal | None:
            with self.store.transaction() as session:
                return find(session, credential)

        principal = await run_in_threadpool(work)
        if principal is not None and self.cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.cache_seconds, principal)
        return principal

    def _check_csrf(self, secret: str, csrf: str | None) -> bool:
        with self.store.transaction() as session:
            return check_csrf(session, secret, csrf)


async def _form_csrf(request: Request) -> str | None:
    """The ``csrf_token`` field of a small URL-encoded form body, if there is one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length", "")
    if content_type != "application/x-www-form-urlencoded" or not length.isdigit():
        return None
    if int(length) > _MAX_FORM_BYTES:
        return None
    body = await request.body()  # Starlette caches it: the route can still read the body
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=100)
    except ValueError:
        return None
    values = fields.get(CSRF_FIELD)
    return values[0] if values else None


def set_session_cookie(
    response: Response,
    secret: str,
    *,
    secure: bool,
    csrf: str | None = None,
    max_age: int = int(SESSION_LIFETIME.total_seconds()),
) -> None:
    """Set the session cookie (HttpOnly, SameSite=Strict) and, if given, the CSRF cookie.

    The CSRF cookie is readable by the UI's script (not HttpOnly), which echoes it in the
    ``X-CSRF-Token`` header; the server checks it against the stored hash, not the cookie.

    Args:
        response: The response to set the cookies on.
        secret: The session secret from ``create_web_session``.
        secure: Mark the cookies Secure (send over HTTPS only); pass whether the request is.
        csrf: The CSRF token from ``create_web_session``.
        max_age: Cookie lifetime in seconds (the session's lifetime by default).
    """
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    if csrf is not None:
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=secure, samesite="strict"
        )


def clear_session_cookie(response: Response, *, secure: bool = False) -> None:
    """Remove the session and CSRF cookies from the browser."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")


async def auth_error_handler(request: Request, exc: Exception) -> Response:
    """Render an :class:`AuthError` as ``{"error": …}`` with its status and challenge headers.

    Register it with ``app.add_exception_handler(AuthError, auth_error_handler)``.
    """
    if not isinstance(exc, AuthError):  # registered for AuthError only; never expected
        raise exc
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=exc.headers)
