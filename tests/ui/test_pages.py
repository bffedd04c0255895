"""The UI over plain HTTP: sign-in, sign-out, redirects and headers (no browser needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from loopline._workspace import Workspace
from tests.ui.conftest import PASSWORD, UIServer, start


def _login_form(client: httpx.Client) -> str:
    page = client.get("/ui/login")
    found = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _sign_in(client: httpx.Client, name: str, password: str, **extra: str) -> httpx.Response:
    token = _login_form(client)
    form = {"login_token": token, "name": name, "password": password, **extra}
    return client.post("/ui/login", data=form)


@pytest.fixture
def client(ui: UIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.url, timeout=30) as opened:
        yield opened


def test_root_leads_to_the_queue(client: httpx.Client) -> None:
    assert client.get("/").headers["location"] == "/ui/"


def test_pages_send_strangers_to_sign_in_and_back(client: httpx.Client) -> None:
    answer = client.get("/ui/cases/abc?notice=claimed")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui/cases/abc%3Fnotice%3Dclaimed"


def test_sign_in_goes_to_the_page_asked_for(client: httpx.Client) -> None:
    answer = _sign_in(client, "rita", PASSWORD, next="/ui/metrics")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/metrics"
    assert client.get("/ui/metrics").status_code == 200


def test_sign_in_never_redirects_off_site(client: httpx.Client) -> None:
    answer = _sign_in(client, "rita", PASSWORD, next="https://evil.example/ui/")
    assert answer.headers["location"] == "/ui/"


def test_a_wrong_password_signs_nobody_in(client: httpx.Client) -> None:
    answer = _sign_in(client, "rita", "not the password")
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "loopline_session" not in client.cookies


def test_sign_in_without_the_form_token_is_refused(client: httpx.Client) -> None:
    answer = client.post("/ui/login", data={"name": "rita", "password": PASSWORD})
    assert answer.status_code == 403
    assert "loopline_session" not in client.cookies


def test_sign_out_ends_the_session(client: httpx.Client, ui: UIServer) -> None:
    _sign_in(client, "rita", PASSWORD)
    session = client.cookies["loopline_session"]
    answer = client.post("/ui/logout", data={"csrf_token": client.cookies["loopline_csrf"]})
    assert answer.headers["location"] == "/ui/login?notice=signed-out"
    with httpx.Client(base_url=ui.url, cookies={"loopline_session": session}) as replay:
        assert replay.get("/ui/").status_code == 303


def test_pages_forbid_inline_script_and_framing(client: httpx.Client) -> None:
    page = client.get("/ui/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/ui/static/ui.css").status_code == 200


def test_without_authentication_the_queue_opens_directly(ui: UIServer) -> None:
    open_ws = Workspace(ui.ws.settings.evolve(auth=False))
    server = start(open_ws)
    try:
        with httpx.Client(base_url=server.url) as anonymous:
            assert anonymous.get("/ui/login").headers["location"] == "/ui/"
            queue = anonymous.get("/ui/")
            assert queue.status_code == 200
            assert "Review next case" in queue.text
            assert "Sign out" not in queue.text
    finally:
        server.stop()
        open_ws.close()
