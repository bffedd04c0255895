"""Secrets: scrypt password hashes, API token strings, and SHA-256 digests of random secrets.

Passwords are hashed with scrypt (standard library, memory-hard) under a random 16-byte salt and
stored as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in unpadded URL-safe base64), so
the cost can be raised later without invalidating old hashes. API tokens and session secrets
are 256-bit random values: a single SHA-256 is enough for them (nothing to brute-force), and only
that digest is stored. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = [
    "TOKEN_MARK",
    "check_password_strength",
    "digest",
    "hash_password",
    "make_token",
    "new_secret",
    "split_token",
    "verify_password",
]

TOKEN_MARK = "ll"  # noqa: S105  (the public marker of token strings, not a secret)
_PREFIX_BYTES = 6  # 12 hex characters: enough to be unique, short enough to show in lists
_SECRET_BYTES = 32

# scrypt cost: N=2**14, r=8, p=5 is one of OWASP's equivalent minimums (16 MiB, ~150 ms a hash);
# it bounds memory per concurrent sign-in better than N=2**17, p=1 (128 MiB) for the same work.
_N, _R, _P = 2**14, 8, 5
_MAX_N = 2**20  # refuse absurd stored parameters rather than exhaust memory
_MIN_PASSWORD = 8
_MAX_PASSWORD = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=32
    )


def check_password_strength(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, or ``None`` if it will do."""
    if len(password) < _MIN_PASSWORD:
        return f"it has {len(password)} characters; at least {_MIN_PASSWORD} are needed"
    if len(password) > _MAX_PASSWORD:
        return f"it has more than {_MAX_PASSWORD} characters"
    return None


def hash_password(password: str) -> str:
    """Hash a password for storage (a fresh random salt each time).

    Example:
        >>> stored = hash_password("correct horse")
        >>> stored.startswith("scrypt$"), verify_password(stored, "correct horse")
        (True, True)
    """
    salt = secrets.token_bytes(16)
    digest_ = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest_)}"


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password`, in constant time.

    A missing or malformed hash never matches; it still costs one hash, so the time taken
    does not tell an attacker whether the account exists or has a password.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, hash_text = (stored or "").split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = _unb64(salt_text), _unb64(hash_text)
        n_valid = 1 < n <= _MAX_N and n & (n - 1) == 0
        if scheme != "scrypt" or not (n_valid and 0 < r <= 32 and 0 < p <= 16):
            raise ValueError(scheme)
    except ValueError:
        _scrypt(password[:_MAX_PASSWORD], b"\0" * 16, _N, _R, _P)
        return False
    actual = _scrypt(password[:_MAX_PASSWORD], salt, n, r, p)
    return len(password) <= _MAX_PASSWORD and hmac.compare_digest(actual, expected)


def digest(secret: str) -> str:
    """The hex SHA-256 of a random secret: what is stored instead of it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh 256-bit random secret, URL-safe."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def make_token() -> tuple[str, str, str]:
    """A new API token: ``(token, prefix, secret)`` where ``token = ll_<prefix>_<secret>``."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = new_secret()
    return f"{TOKEN_MARK}_{prefix}_{secret}", prefix, secret


def split_token(token: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a token string, or ``None`` when it is not shaped like one."""
    mark, _, rest = token.strip().partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != TOKEN_MARK or len(prefix) != 2 * _PREFIX_BYTES or not secret or len(secret) > 200:
        return None
    if any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix, secret
