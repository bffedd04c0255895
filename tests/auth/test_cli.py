"""``loopline users …`` and ``loopline tokens …``, end to end through ``main``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from loopline.auth import authenticate_token
from loopline.cli import (
    _auth,  # noqa: F401  (registers the commands until cli/__init__ does)
    main,
)
from loopline.store import list_audit, open_store


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("LOOPLINE_ACTOR", "operator")
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> Any:
    code = main(["--project", str(project), *args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_users_add_list_disable_round_trip(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_json(capsys, project, "users", "add", "root", "--role", "admin")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    added = run_json(
        capsys, project, "users", "add", "ana", "--role", "reviewer", "--password-stdin"
    )
    assert (added["name"], added["has_password"]) == ("ana", True)
    run_json(capsys, project, "users", "disable", "ana")
    users = run_json(capsys, project, "users", "list")
    assert [(u["name"], u["role"], u["disabled"]) for u in users] == [
        ("ana", "reviewer", True),
        ("root", "admin", False),
    ]


def test_tokens_create_list_revoke_round_trip(
    capsys: pytest.CaptureFixture[str], project: Path, database_url: str
) -> None:
    run_json(capsys, project, "users", "add", "ci", "--role", "maintainer")
    created = run_json(
        capsys, project, "tokens", "create", "--user", "ci", "--scope", "predict",
        "--scope", "feedback", "--name", "pipeline", "--expires-days", "30",
    )  # fmt: skip
    assert created["token"].startswith(f"ll_{created['prefix']}_")
    assert "only this once" in created["warning"]
    listed = run_json(capsys, project, "tokens", "list")
    assert [(t["prefix"], t["scopes"], t["active"]) for t in listed] == [
        (created["prefix"], ["predict", "feedback"], True)
    ]
    assert created["token"] not in json.dumps(listed)
    run_json(capsys, project, "tokens", "revoke", created["prefix"])
    store = open_store(database_url)
    with store.transaction() as session:
        assert authenticate_token(session, created["token"]) is None
        actions = [(e.action, e.actor) for e in list_audit(session, action="token.")]
    store.dispose()
    assert actions == [("token.revoke", "operator"), ("token.create", "operator")]


def test_bad_role_exits_with_a_clear_error(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code = main(["--project", str(project), "users", "add", "ana", "--role", "boss", "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 3
    assert error["code"] == "account-error"
    assert "admin" in error["hint"]
