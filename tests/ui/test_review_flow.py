"""A reviewer works the queue in a real browser; decisions become feedback, metrics and audit."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from loopline.review import get_case
from loopline.store import Feedback, list_audit
from tests.ui.conftest import CHROMIUM, UIServer, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


def _metric(page: Page, ui: UIServer, name: str) -> str:
    page.goto(f"{ui.url}/ui/metrics")
    return page.locator(f'#metrics-table tr[data-metric="{name}"] td').inner_text().strip()


def _feedback(ui: UIServer, case_id: str) -> list[tuple[str, object, str | None]]:
    """The feedback recorded for the case's prediction (source ``review``, or ``audit`` for a
    random audit sample)."""
    with ui.ws.store.transaction() as session:
        case = get_case(session, case_id)
        rows = session.scalars(select(Feedback).where(Feedback.prediction_id == case.prediction_id))
        found = [(f.source, f.label["value"], f.actor) for f in rows]
        expected_source = "audit" if case.audit_sample else "review"
    assert all(source == expected_source for source, _, _ in found)
    return [("review", label, actor) for _, label, actor in found]


def test_reviewer_overrides_the_top_case_with_the_keyboard(browser: Browser, ui: UIServer) -> None:
    page = sign_in(browser, ui, "rita")
    decided_before = int(_metric(page, ui, "decided"))
    backlog_before = int(_metric(page, ui, "backlog"))
    page.goto(f"{ui.url}/ui/?status=open&reason=low_confidence")
    top = page.locator("a.case-link").first
    case_id = (top.get_attribute("href") or "").rsplit("/", 1)[1]
    top.click()
    expect(page.locator("#lease")).to_contain_text("Nobody holds this case")
    page.click("#claim")
    expect(page.locator("#lease")).to_contain_text("You hold this case")
    screenshot(page, "case")
    recommended = page.locator("#recommended").inner_text()
    other = "0" if recommended == "1" else "1"
    page.keyboard.press("o")
    expect(page.locator("#label")).to_be_focused()
    page.select_option("#label", other)
    page.fill("#comment", "<b>income verified</b> by phone")
    page.locator("#override").press("Enter")
    expect(page.locator("#decided-label")).to_have_text(other)
    expect(page.locator("#history q")).to_have_text("<b>income verified</b> by phone")
    expect(page.locator("#audit")).to_contain_text("case.decide by rita")
    assert _feedback(ui, case_id) == [("review", int(other), "rita")]
    with ui.ws.store.transaction() as session:
        audit = list_audit(session, action="case.decide", target=case_id)
        assert [(e.actor, e.after) for e in audit] == [
            ("rita", {"action": "override", "label": int(other)})
        ]
    assert int(_metric(page, ui, "decided")) == decided_before + 1
    assert int(_metric(page, ui, "backlog")) == backlog_before - 1
    assert _metric(page, ui, "override_rate").endswith("%")
    page.goto(f"{ui.url}/ui/?status=all")
    screenshot(page, "queue")


def test_next_case_claims_it_and_a_accepts_the_recommendation(
    browser: Browser, ui: UIServer
) -> None:
    page = sign_in(browser, ui, "rita")
    page.keyboard.press("n")
    expect(page.locator("#lease")).to_contain_text("You hold this case")
    case_id = page.url.split("/ui/cases/")[1].split("?")[0]
    recommended = page.locator("#recommended").inner_text()
    page.keyboard.press("a")
    expect(page.locator(".banner-ok")).to_contain_text("Accepted")
    expect(page.locator("#decided-label")).to_have_text(recommended)
    assert _feedback(ui, case_id) == [("review", int(recommended), "rita")]


def test_case_page_shows_drivers_and_flags_out_of_range_inputs(
    browser: Browser, ui: UIServer
) -> None:
    page = sign_in(browser, ui, "rob")
    page.goto(f"{ui.url}/ui/?reason=out_of_range&status=all")
    page.locator("a.case-link").first.click()
    flagged = page.locator(".inputs-table tr.flagged")
    expect(flagged.first).to_be_visible()
    drivers = page.locator("#drivers .driver")
    assert 1 <= drivers.count() <= 8
    effects = [text.strip() for text in drivers.locator(".driver-effect").all_inner_texts()]
    assert all(e.endswith("pp") and e[0] in "+-" for e in effects)
    magnitudes = [abs(float(e.split()[0])) for e in effects]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_queue_filters_and_pages_in_the_store(browser: Browser, ui: UIServer) -> None:
    page = sign_in(browser, ui, "vic")
    page.goto(f"{ui.url}/ui/?status=all&limit=25")
    total = int(page.locator("#case-count").inner_text().split()[0].replace(",", ""))
    assert total > 25
    expect(page.locator(".queue-table tbody tr")).to_have_count(25)
    page.click("a[rel=next]")
    expect(page.locator(".pager")).to_contain_text("Showing 26\N{EN DASH}")
    page.select_option("select[name=reason]", "rule")
    expect(page).to_have_url(f"{ui.url}/ui/?status=all&reason=rule&limit=25")
    chips = page.locator(".queue-table tbody tr .chips")
    expect(chips).to_have_count(3)
    for index in range(3):
        expect(chips.nth(index)).to_contain_text("Business rule")
