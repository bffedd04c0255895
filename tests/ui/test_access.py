"""Who may do what in the UI: leases between reviewers, read-only viewers, CSRF on every write."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from loopline.store import Case
from tests.ui.conftest import CHROMIUM, UIServer, csrf_token, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


def _open_case(ui: UIServer) -> str:
    """An open, unclaimed case, from the bottom of the queue (clear of the flow tests)."""
    with ui.ws.store.transaction() as session:
        found = session.scalars(
            select(Case.uid)
            .where(Case.status == "open", Case.claimed_by.is_(None))
            .order_by(Case.priority, Case.id)
            .limit(1)
        ).one()
    return str(found)


def _holder(ui: UIServer, case_id: str) -> tuple[str, str | None]:
    with ui.ws.store.transaction() as session:
        case = session.scalars(select(Case).where(Case.uid == case_id)).one()
        return case.status, case.claimed_by


def _post(page: Page, url: str, form: dict[str, str | float | bool]) -> int:
    """Post a form from inside the signed-in browser context; the response status."""
    return page.request.post(url, form=form, max_redirects=0).status


def test_a_held_case_is_shown_as_held_and_refused_to_another_reviewer(
    browser: Browser, ui: UIServer
) -> None:
    case_id = _open_case(ui)
    rita = sign_in(browser, ui, "rita")
    rita.goto(f"{ui.url}/ui/cases/{case_id}")
    rita.click("#claim")
    rob = sign_in(browser, ui, "rob")
    rob.goto(f"{ui.url}/ui/cases/{case_id}")
    expect(rob.locator("#lease")).to_contain_text("Claimed by rita until")
    expect(rob.locator("#claim")).to_have_count(0)
    expect(rob.locator("#decision button[value=accept]")).to_be_disabled()
    rob.keyboard.press("a")
    url = f"{ui.url}/ui/cases/{case_id}"
    token: dict[str, str | float | bool] = {"csrf_token": csrf_token(rob)}
    assert _post(rob, f"{url}/claim", token) == 409
    assert _post(rob, f"{url}/decision", {**token, "action": "accept"}) == 409
    assert _holder(ui, case_id) == ("claimed", "rita")


def test_a_refused_claim_says_who_holds_the_case(browser: Browser, ui: UIServer) -> None:
    case_id = _open_case(ui)
    rita = sign_in(browser, ui, "rita")
    rob = sign_in(browser, ui, "rob")
    rob.goto(f"{ui.url}/ui/cases/{case_id}")
    rita.goto(f"{ui.url}/ui/cases/{case_id}")
    rita.click("#claim")
    rob.click("#claim")  # his page still offers the claim: the server refuses it
    expect(rob.locator("#action-error")).to_contain_text(f"Case {case_id} is claimed by rita")
    assert _holder(ui, case_id) == ("claimed", "rita")


def test_a_viewer_sees_the_queue_read_only_and_is_refused_actions(
    browser: Browser, ui: UIServer
) -> None:
    vic = sign_in(browser, ui, "vic")
    expect(vic.locator(".queue-table tbody tr").first).to_be_visible()
    expect(vic.locator(".readonly-note")).to_be_visible()
    expect(vic.locator("form[action='/ui/next']")).to_have_count(0)
    case_id = _open_case(ui)
    vic.goto(f"{ui.url}/ui/cases/{case_id}")
    expect(vic.locator("#lease")).to_contain_text("Read-only")
    expect(vic.locator("#decision, #claim")).to_have_count(0)
    url = f"{ui.url}/ui/cases/{case_id}"
    token: dict[str, str | float | bool] = {"csrf_token": csrf_token(vic)}
    assert _post(vic, f"{url}/claim", token) == 403
    assert _post(vic, f"{url}/decision", {**token, "action": "accept"}) == 403
    assert _post(vic, f"{ui.url}/ui/next", token) == 403
    assert _holder(ui, case_id) == ("open", None)


@pytest.mark.parametrize("form", [{}, {"csrf_token": "forged"}], ids=["missing", "forged"])
def test_a_write_without_the_session_csrf_token_is_refused(
    browser: Browser, ui: UIServer, form: dict[str, str | float | bool]
) -> None:
    rita = sign_in(browser, ui, "rita")
    case_id = _open_case(ui)
    response = rita.request.post(f"{ui.url}/ui/cases/{case_id}/claim", form=form, max_redirects=0)
    assert response.status == 403
    assert "CSRF token" in response.text()
    assert _holder(ui, case_id) == ("open", None)
