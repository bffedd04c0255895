"""Authentication and authorisation: users with roles, scoped API tokens, web sessions with CSRF
protection, and the FastAPI dependency every endpoint uses.

See :mod:`loopline.auth._permissions` for the role and scope matrix. Secrets are hashed (scrypt
for passwords, SHA-256 for random tokens) and compared in constant time; every change to users
and tokens is audited.
"""

from __future__ import annotations

from loopline.auth._errors import AccountError, AuthError
from loopline.auth._fastapi import (
    ANONYMOUS,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Authenticator,
    auth_error_handler,
    clear_session_cookie,
    set_session_cookie,
)
from loopline.auth._permissions import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    SCOPE_PERMISSIONS,
    SCOPES,
    Principal,
)
from loopline.auth._secrets import hash_password, verify_password
from loopline.auth._sessions import (
    SESSION_LIFETIME,
    check_csrf,
    create_web_session,
    end_web_session,
    session_principal,
)
from loopline.auth._tokens import (
    TokenInfo,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from loopline.auth._users import (
    UserInfo,
    add_user,
    authenticate_password,
    disable_user,
    list_users,
    set_password,
)

__all__ = [
    "ANONYMOUS",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SCOPES",
    "SCOPE_PERMISSIONS",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "AccountError",
    "AuthError",
    "Authenticator",
    "Principal",
    "TokenInfo",
    "UserInfo",
    "add_user",
    "auth_error_handler",
    "authenticate_password",
    "authenticate_token",
    "check_csrf",
    "clear_session_cookie",
    "create_token",
    "create_web_session",
    "disable_user",
    "end_web_session",
    "hash_password",
    "list_tokens",
    "list_users",
    "revoke_token",
    "session_principal",
    "set_password",
    "set_session_cookie",
    "verify_password",
]
