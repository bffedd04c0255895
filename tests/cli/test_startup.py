"""The command line starts without loading libraries its command does not need.

Every CLI module is imported to register its commands, so a library one of them imported at
the top was loaded by every command, ``loopline --help`` included (seconds, on each call).
"""

from __future__ import annotations

import json
import subprocess
import sys

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


def _loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after running ``code`` in a new Python."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
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
