"""The command line starts without loading libraries its command does not need.

Every CLI module is imported to register its commands, so a library one of them imported at
the top was loaded by every command, ``loopline --help`` included (seconds, on each call).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Data, model, web and database libraries: none is needed to show the help.
HEAVY = (
    "alembic",
    "deltalake",
    "fastapi",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "statsmodels",
    "uvicorn",
)


def _loaded_after(code: str, cwd: Path | None = None) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after running ``code`` in a new Python
    (in ``cwd``, with authentication off)."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    env = {**os.environ, "LOOPLINE_AUTH": "off", "LOOPLINE_ACTOR": "tester"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cwd,
        env=env,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_help_loads_no_data_model_or_database_library() -> None:
    code = "from loopline.cli import main\nmain(['--help'])"
    assert _loaded_after(code) == []


def test_every_command_is_still_registered() -> None:
    # the commands' modules are imported (their libraries are not): the help lists them all
    done = subprocess.run(
        [sys.executable, "-c", "from loopline.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for command in ("init", "ingest", "train", "models", "serve", "deploy", "review", "monitor"):
        assert f" {command} " in done.stdout, command


def test_reading_the_registry_does_not_load_scikit_learn() -> None:
    # `loopline models list` reads the store: training's libraries load with a model
    assert "sklearn" not in _loaded_after("import loopline._api_models")


#: Libraries a command that only reads the metadata store does not need (Alembic: only when
#: the store has a migration to run).
DATA_AND_MODELS = {
    "alembic",
    "deltalake",
    "pandas",
    "polars",
    "pyarrow",
    "scipy",
    "sklearn",
    "statsmodels",
}


@pytest.mark.parametrize(
    "command",
    [
        ["datasets", "list"],
        ["models", "list"],
        ["review", "list"],
        ["audit"],
        ["lineage", "up", "credit@1"],
    ],
    ids=" ".join,
)
def test_reading_commands_load_no_data_or_model_library(
    command: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.serving.conftest import deployed_project

    ws = deployed_project(tmp_path_factory.mktemp("startup"), auth=False)
    ws.close()
    project = Path(ws.settings.project_dir)
    code = f"from loopline.cli import main\nassert main({command!r}) == 0"
    assert set(_loaded_after(code, cwd=project)) & DATA_AND_MODELS == set()
