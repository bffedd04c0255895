"""The command line: help, init/check round trip, --json everywhere, friendly errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loopline.cli import app, main

COMMANDS = [
    "serve",
    "deploy",
    "deployments",
    "review",
    "feedback",
    "users",
    "tokens",
    "init",
    "check",
    "ingest",
    "contract",
    "datasets",
    "train",
    "models",
    "rollback",
    "lineage",
    "audit",
    "db",
    "demo",
    "worker",
    "jobs",
    "up",
    "retrain",
    "monitor",
    "experiments",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert f" {command} " in out


def test_every_leaf_command_has_json_option() -> None:
    import typer.main

    group = typer.main.get_command(app)
    leaves = []

    def collect(command: object, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                collect(sub, f"{path} {name}")
        else:
            leaves.append((path, command))

    collect(group, "loopline")
    assert len(leaves) >= 12
    for path, command in leaves:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}  # type: ignore[attr-defined]
        assert "--json" in options, path


def test_init_then_check_round_trips(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "init", "churn", "--json")
    assert code == 0
    assert json.loads(out)["valid"] is True
    monkeypatch.chdir(tmp_path / "churn")
    code, out, _ = run(capsys, "check", "--json")
    assert code == 0
    assert json.loads(out)["checked"] == ["loopline.yaml", "contracts/churn.yaml"]


def test_init_refuses_to_overwrite(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init", "churn")[0] == 0
    code, _, err = run(capsys, "init", "churn")
    assert code == 3
    assert "nothing was written" in err


def test_check_lists_every_problem_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "churn")
    project = tmp_path / "churn" / "loopline.yaml"
    text = (
        project.read_text()
        .replace("review: 5", "reviw: 5")
        .replace("target: label", "target: lable")
    )
    project.write_text(text)
    code, out, _ = run(capsys, "--project", str(tmp_path / "churn"), "check", "--json")
    assert code == 1
    problems = {(p["path"], p["code"]) for p in json.loads(out)["problems"]}
    assert ("objective.costs.reviw", "unknown-key") in problems
    assert ("objective.costs.review", "missing-key") in problems


def test_check_finds_target_missing_from_contract(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "churn")
    project = tmp_path / "churn" / "loopline.yaml"
    project.write_text(project.read_text().replace("target: label", "target: lable"))
    code, out, _ = run(capsys, "--project", str(tmp_path / "churn"), "check", "--json")
    assert code == 1
    [problem] = json.loads(out)["problems"]
    assert (problem["path"], problem["code"], problem["line"]) == (
        "objective.target",
        "unknown-column",
        7,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "No project file"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: 5\nobjective: 7\n", "problem"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_bad_project_files_get_clear_errors_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "loopline.yaml").write_text(content)
    code, out, err = run(capsys, "--project", str(tmp_path), "check")
    assert code in (1, 3)
    assert expected in out + err
    assert "Traceback" not in out + err


def test_unreachable_database_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_DATABASE_URL", "postgresql://x@127.0.0.1:1/db?connect_timeout=2")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 4
    assert "Cannot reach the metadata store" in err
    assert "Traceback" not in err


def test_errors_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "--project", str(tmp_path), "datasets", "show", "nope@1", "--json")
    assert code == 3
    error = json.loads(out)["error"]
    assert error["code"] == "dataset-error"
    assert "No dataset named 'nope'" in error["message"]


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--project", str(tmp_path), "datasets", "show", "x@1", "--debug")
    assert code == 3
    assert "Traceback" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingest")
    assert code == 2
    assert "Missing argument" in err


def test_db_upgrade_reports_revision(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "db", "upgrade", "--json")
    assert code == 0
    first = json.loads(out)
    assert first["from"] is None
    assert first["to"]
    code, out, _ = run(capsys, "db", "upgrade", "--json")
    assert json.loads(out)["from"] == first["to"]


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("loopline")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "ingest" in done.stdout
