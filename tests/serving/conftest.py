"""A real server on loopback, serving a model trained on the bundled example."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn
import yaml

from loopline import _api, _api_models, _api_serving
from loopline._api_models import load_trained_model
from loopline._workspace import Workspace
from loopline.serving import create_app
from loopline.serving._inputs import validate_records
from loopline.training import TrainedModel
from tests.conftest import EXAMPLE


@dataclass
class Server:
    """A running server and the workspace behind it."""

    url: str
    ws: Workspace
    app: Any
    thread: threading.Thread
    server: uvicorn.Server

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(ws: Workspace, *, reload_seconds: float = 0.3) -> Server:
    """Start uvicorn in a thread on a free loopback port; wait until it is ready."""
    app = create_app(ws, reload_seconds=reload_seconds)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url, ws, app, thread, server)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError("the server did not become ready")


#: per test process: the SQLite project deployed_project copies (built on first use)
_TEMPLATE: list[Path] = []


def deployed_project(root: Path, *, auth: bool, database_url: str | None = None) -> Workspace:
    """The credit example under ``root``: ingested, a fast model trained and deployed directly
    (the store: SQLite in the project's home, or ``database_url``).

    On SQLite the project is a copy of one built once per test process (the database copied
    with SQLite's backup API): ingesting and training again for every module cost minutes.
    """
    from loopline.settings import load_settings

    project = root / "credit-default"
    env = {"LOOPLINE_ACTOR": "tester", "LOOPLINE_AUTH": "on" if auth else "off"}
    if database_url is not None:
        env["LOOPLINE_DATABASE_URL"] = database_url
        return _build(project, env)
    if not _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="loopline-test-template-")) / "credit-default"
        atexit.register(shutil.rmtree, template.parent, True)
        _build(template, {**env, "LOOPLINE_AUTH": "off"}).close()
        _TEMPLATE.append(template)
    copy_project(_TEMPLATE[0], project)
    return Workspace(load_settings(env, project_dir=project))


def _build(project: Path, env: dict[str, str]) -> Workspace:
    from loopline.settings import load_settings

    shutil.copytree(EXAMPLE, project)
    path = project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["training"]["params"] = {"max_iter": 30}
    doc["gates"] = ["roc_auc >= 0.7"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws = Workspace(load_settings(env, project_dir=project))
    _api.ingest_path(ws, project / "data" / "credit_default.csv.gz")
    _api_models.train_model(ws)
    _api_serving.deploy_model(ws, "credit-default@1", strategy="direct", reason="test")
    return ws


def copy_project(source: Path, target: Path) -> None:
    """Copy a project folder whose SQLite store may be open (the database copied consistently)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("loopline.db*"))
    database = source / ".loopline" / "loopline.db"
    with (
        contextlib.closing(sqlite3.connect(database)) as src,
        contextlib.closing(sqlite3.connect(target / ".loopline" / "loopline.db")) as dst,
    ):
        src.backup(dst)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The deployed credit example served on loopback, authentication off (see test_auth.py)."""
    ws = deployed_project(tmp_path_factory.mktemp("serving"), auth=False)
    server = start_server(ws)
    yield server
    server.stop()
    ws.close()


@pytest.fixture(scope="module")
def rows(served: Server) -> list[dict[str, Any]]:
    """Real input rows (without ID and target) from the dataset."""
    frame = _api.load("credit", project=served.ws.settings.project_dir).head(600)
    return frame.drop("ID", "default_payment_next_month").to_dicts()


def project_dir(server: Server) -> Path:
    return server.ws.settings.project_dir


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TrainedModel, pd.DataFrame]]:
    """The credit example's model (with its novelty detector) and 600 validated input rows."""
    ws: Workspace = deployed_project(tmp_path_factory.mktemp("scoring"), auth=False)
    try:
        model = load_trained_model(ws, "credit-default@1")
        data = _api.load("credit", project=ws.settings.project_dir).head(600)
        records = data.drop("ID", "default_payment_next_month").to_dicts()
        frame, _ = validate_records(records, model.signature, max_rows=1000)
        yield model, frame
    finally:
        ws.close()
