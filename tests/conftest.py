"""Shared fixtures: stores on SQLite and PostgreSQL, and throwaway projects."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from threadpoolctl import threadpool_limits

from loopline._workspace import Workspace
from loopline.settings import load_settings
from loopline.store import Store, open_store

# The suite runs in two xdist workers on two cores; a two-thread OpenMP pool in each worker
# oversubscribes them and tree ensembles then slow down tenfold. One thread per worker.
threadpool_limits(limits=1)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit-default"
POSTGRES_URL = os.environ.get(
    "LOOPLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is down: say so loudly rather than skip silently
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on each back end."""
    opened = open_store(database_url)
    yield opened
    opened.dispose()


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A copy of the bundled credit-default example."""
    target = tmp_path / "credit-default"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def workspace(example_project: Path, database_url: str) -> Iterator[Workspace]:
    """A workspace on the example project, with its store on each back end."""
    env = {"LOOPLINE_DATABASE_URL": database_url, "LOOPLINE_ACTOR": "tester"}
    ws = Workspace(load_settings(env, project_dir=example_project))
    yield ws
    ws.close()
