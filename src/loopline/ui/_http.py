"""Small HTTP helpers of the UI: form bodies, safe redirect targets, the sign-in form token.

The sign-in form carries its own token (a double-submitted cookie): there is no session yet to
bind a CSRF token to, and without it another site could sign a visitor in to an account of its
choosing.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

__all__ = [
    "LOGIN_COOKIE",
    "LOGIN_FIELD",
    "MAX_FORM_BYTES",
    "case_url",
    "check_login_token",
    "new_login_token",
    "read_form",
    "redirect",
    "safe_next",
    "set_login_cookie",
]

MAX_FORM_BYTES = 64 * 1024
LOGIN_COOKIE = "loopline_login"
LOGIN_FIELD = "login_token"
_LOGIN_PATH = "/ui/login"


async def read_form(request: Request) -> dict[str, str]:
    """The first value of each field of a small URL-encoded form (empty for anything else)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        return {}
    body = await request.body()  # cached by Starlette: the CSRF check may have read it already
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
    except ValueError:
        return {}
    return {key: values[0] for key, values in fields.items() if values}


def safe_next(target: str | None, default: str = "/ui/") -> str:
    """``target`` if it is a path inside the UI, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith("/ui"):
        return default
    if parts.path.startswith("//"):
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


def case_url(case_id: str, **query: str) -> str:
    """The case page's URL, with an optional query (values must be plain words)."""
    suffix = "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())
    return f"/ui/cases/{quote(case_id, safe='')}" + (f"?{suffix}" if suffix else "")


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other: after a form post the browser fetches ``url`` with GET."""
    return RedirectResponse(url, status_code=303)


def new_login_token() -> str:
    """A fresh random token for one sign-in form."""
    return secrets.token_urlsafe(32)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """Set the sign-in form's token as a cookie only the sign-in path sees."""
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=_LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def check_login_token(request: Request, submitted: str | None) -> bool:
    """Whether the sign-in form came back with the token its cookie holds."""
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
