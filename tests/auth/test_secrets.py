"""Password hashes and token strings."""

from __future__ import annotations

from loopline.auth import hash_password, verify_password
from loopline.auth._secrets import make_token, split_token


def test_password_round_trip() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password(stored, "correct horse battery")


def test_wrong_password_is_refused() -> None:
    stored = hash_password("correct horse battery")
    assert not verify_password(stored, "correct horse batterY")


def test_hash_is_salted_and_self_describing() -> None:
    first, second = hash_password("same password"), hash_password("same password")
    assert first != second
    scheme, n, r, p, _salt, _digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "5")
    assert "same password" not in first


def test_missing_or_malformed_hash_never_matches() -> None:
    assert not verify_password(None, "anything at all")
    assert not verify_password("scrypt$3$8$1$AA$AA", "anything at all")
    assert not verify_password("plain-text-password", "plain-text-password")


def test_token_string_splits_into_prefix_and_secret() -> None:
    token, prefix, secret = make_token()
    assert token == f"ll_{prefix}_{secret}"
    assert split_token(token) == (prefix, secret)


def test_malformed_token_strings_are_rejected() -> None:
    for text in ("", "ll_", "ll_abc_def", "xx_0123456789ab_secret", "ll_0123456789ab_"):
        assert split_token(text) is None
