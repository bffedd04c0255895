"""The errors of the auth domain: who may not do what, and accounts that cannot change.

::

    LooplineError
    ├── AuthError       a request lacks credentials (401) or rights (403); has ``status``
    └── AccountError    a user or token does not exist, or cannot change as asked

``AuthError`` carries one of three stable codes, each with its HTTP status:

| code            | status | meaning                                                         |
|-----------------|--------|-----------------------------------------------------------------|
| `auth-required` | 401    | no credentials, or they are invalid, expired or revoked         |
| `forbidden`     | 403    | the credentials are valid but do not grant the permission       |
| `csrf-failed`   | 403    | a cookie-authenticated write came without the right CSRF token  |

Messages never contain a secret: they name the permission needed and what was presented.
"""

from __future__ import annotations

from loopline.errors import LooplineError

__all__ = ["AUTH_ERROR_STATUS", "AccountError", "AuthError"]

#: The HTTP status of each ``AuthError`` code.
AUTH_ERROR_STATUS: dict[str, int] = {"auth-required": 401, "forbidden": 403, "csrf-failed": 403}


class AuthError(LooplineError):
    """A request is not authenticated, or not allowed to do what it asks.

    Args:
        message: What was needed and what was presented (never a secret).
        code: ``auth-required`` (401), ``forbidden`` (403) or ``csrf-failed`` (403).
        hint: What to do about it.

    Attributes:
        status: The HTTP status the code maps to.
    """

    code = "auth-required"

    def __init__(self, message: str, *, code: str = "auth-required", hint: str | None = None):
        if code not in AUTH_ERROR_STATUS:
            raise ValueError(f"unknown AuthError code {code!r}; use one of {AUTH_ERROR_STATUS}")
        super().__init__(message, hint=hint)
        self.code = code
        self.status = AUTH_ERROR_STATUS[code]

    @property
    def headers(self) -> dict[str, str]:
        """Headers the HTTP response must carry: a ``WWW-Authenticate`` challenge on 401."""
        if self.status == 401:
            return {"WWW-Authenticate": 'Bearer realm="loopline"'}
        return {}


class AccountError(LooplineError):
    """A user or token does not exist, or cannot change as asked (unknown role, last admin…)."""

    code = "account-error"
