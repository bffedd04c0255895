"""A real server on loopback with the reviewer UI, real users, real cases, and headless Chromium.

The credit example is ingested, a fast model trained and deployed, and a few hundred real rows
predicted through the HTTP API (with a maintainer's token), so the queue holds real escalated
cases. Users: ``rita`` and ``rob`` (reviewers) and ``vic`` (viewer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from loopline import _api
from loopline._workspace import Workspace
from loopline.auth import CSRF_COOKIE, Authenticator, add_user, create_token
from loopline.serving import create_app
from loopline.settings import load_settings
from loopline.ui import add_ui_routes
from tests.conftest import ROOT
from tests.serving.conftest import copy_project, deployed_project

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
PASSWORD = "correct horse battery staple"
ROWS = 400


@dataclass
class UIServer:
    """The running server, its workspace, and how to reach it."""

    url: str
    ws: Workspace
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(ws: Workspace) -> UIServer:
    """Serve ``ws`` (predict API and UI) on a free loopback port; wait until it is ready."""
    app = create_app(ws, reload_seconds=0.3)
    if not any(getattr(route, "path", "").startswith("/ui") for route in app.routes):
        # until create_app wires the UI itself
        add_ui_routes(app, ws, Authenticator(ws.store, ws.settings), app.state.runtime)
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
                return UIServer(url, ws, server, thread)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError("the server did not become ready")


# The two served projects live for the whole session: with files spread over xdist workers
# (--dist loadfile), a worker leaves and re-enters this package, and a package-scoped fixture
# was built again each time (seven console builds of ~65 s in one run instead of two). The
# browser stays package-scoped: Playwright's sync API keeps an event loop running in the main
# thread, where other packages' tests call asyncio.run().
@pytest.fixture(scope="session")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """The credit example served with authentication on, with escalated cases in the queue."""
    ws = deployed_project(tmp_path_factory.mktemp("ui"), auth=True)
    assert ws.settings.auth
    with ws.store.transaction() as session:
        add_user(session, "ada", "maintainer", actor="tester")
        token = create_token(session, "ada", ["predict"], name="ui tests", actor="tester")
        add_user(session, "rita", "reviewer", PASSWORD, actor="tester")
        add_user(session, "rob", "reviewer", PASSWORD, actor="tester")
        add_user(session, "vic", "viewer", PASSWORD, actor="tester")
    server = start(ws)
    frame = _api.load("credit", project=ws.settings.project_dir).head(ROWS)
    rows: list[dict[str, Any]] = frame.drop("ID", "default_payment_next_month").to_dicts()
    # unusual applicants: outside the contract's ranges and sets, and over the business rule
    rows += [{**row, "AGE": 130, "EDUCATION": 5, "LIMIT_BAL": 900_000} for row in rows[:3]]
    for first in range(0, len(rows), 100):
        answer = httpx.post(
            f"{server.url}/api/v1/predict/credit-default",
            json={"records": rows[first : first + 100]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        answer.raise_for_status()
    yield server
    server.stop()
    ws.close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium (no downloaded browser)."""
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def sign_in(browser: Browser, ui: UIServer, name: str) -> Page:
    """A fresh browser context signed in as ``name`` through the sign-in form, on the queue."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{ui.url}/ui/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Review queue")
    return page


def csrf_token(page: Page) -> str:
    """The session's CSRF token, as the browser holds it."""
    return next(c["value"] for c in page.context.cookies() if c["name"] == CSRF_COOKIE)


def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target))
    return target


MAINTAINER = "mia"
ADMIN = "ann"


@pytest.fixture(scope="session")
def console(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, testrun_uid: str
) -> Iterator[UIServer]:
    """The credit example after a short run of the demo loop, served with authentication on.

    It has what every console page shows: dataset versions with quarantine, a retrained model
    version with an experiment, monitoring reports with drift and alerts, cases and feedback,
    an audit trail. Users: ``ann`` (admin), ``mia`` (maintainer), ``rita`` (reviewer) and
    ``vic`` (viewer), all with :data:`PASSWORD`.

    Building it takes over a minute: under xdist the first worker to build it leaves a copy for
    the workers that need it later (a worker that needs it while another builds builds its own
    rather than wait); each worker serves a copy of its own (tests change what they serve).
    """
    root = tmp_path_factory.mktemp("console")
    if worker_id == "master":
        ws = _console_project(root)
    else:
        shared = tmp_path_factory.getbasetemp().parent / f"console-{testrun_uid}"
        shared.mkdir(exist_ok=True)
        env = {"LOOPLINE_ACTOR": "tester", "LOOPLINE_AUTH": "on"}
        if (shared / "built").exists():
            copy_project(shared / "credit-default", root / "credit-default")
            ws = Workspace(load_settings(env, project_dir=root / "credit-default"))
        else:
            ws = _console_project(root)
            with (shared / "lock").open("w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another worker is leaving its copy
                    pass
                else:
                    if not (shared / "built").exists():
                        copy_project(root / "credit-default", shared / "credit-default")
                        (shared / "built").touch()
    server = start(ws)
    yield server
    server.stop()
    ws.close()


def _console_project(root: Path) -> Workspace:
    """Build the console's project under ``root`` (see :func:`console`)."""
    from loopline.demo._loop import LoopSettings, run_loop

    ws = deployed_project(root, auth=True)
    with ws.store.transaction() as session:
        add_user(session, ADMIN, "admin", PASSWORD, actor="tester")
        add_user(session, MAINTAINER, "maintainer", PASSWORD, actor="tester")
        add_user(session, "rita", "reviewer", PASSWORD, actor="tester")
        add_user(session, "vic", "viewer", PASSWORD, actor="tester")
    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(
            run_loop,
            ws,
            seed=3,
            settings=LoopSettings(windows=5, drift_from=2, rows_per_window=600),
        ).result()
    return ws


def sign_in_to(browser: Browser, server: UIServer, name: str, path: str = "/ui/overview") -> Page:
    """A fresh browser context signed in as ``name``, opened at ``path``."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/ui/login?next={path}")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}*")
    return page
