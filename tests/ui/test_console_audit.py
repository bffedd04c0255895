"""The audit page in headless Chromium, and its store query against ``list_audit``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from loopline.store import AuditEvent, list_audit
from loopline.ui._audit_view import AuditFilter, compact, page_events
from tests.ui.conftest import MAINTAINER, UIServer, screenshot, sign_in_to


def _ids(console: UIServer, **where: str) -> list[int]:
    query = select(AuditEvent.id).order_by(AuditEvent.id.desc())
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    with console.ws.store.transaction() as session:
        return list(session.scalars(query))


def _shown(page: object) -> list[int]:
    rows = page.locator("#audit-table tbody tr")  # type: ignore[attr-defined]
    return [int(rows.nth(i).get_attribute("data-event")) for i in range(rows.count())]


@pytest.mark.parametrize("user", ["vic", MAINTAINER])
def test_the_trail_is_newest_first_and_pages_in_the_store(
    browser: Browser, console: UIServer, user: str
) -> None:
    page = sign_in_to(browser, console, user, "/ui/audit")
    expect(page.locator("h1")).to_have_text("Audit trail")
    everything = _ids(console)
    assert len(everything) > 100
    assert _shown(page) == everything[:50]
    screenshot(page, f"console-audit-{user}")
    page.click("#older")
    expect(page.locator("#audit-range")).to_contain_text("Events 51\u2013100")
    assert _shown(page) == everything[50:100]
    page.context.close()


def test_filters_narrow_the_trail(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/audit")
    page.fill("#f-actor", "tester")
    page.click("#apply-filters")
    expect(page.locator("#f-actor")).to_have_value("tester")
    assert _shown(page) == _ids(console, actor="tester")[:50]
    page.fill("#f-actor", "")
    page.fill("#f-action", "model.")
    page.select_option("#f-target-type", "model_version")
    page.click("#apply-filters")
    shown = _shown(page)
    with console.ws.store.transaction() as session:
        expected = [e.id for e in list_audit(session, action="model.", limit=50)]
    assert shown == expected
    assert len(shown) >= 3
    # the before/after documents, compactly: the state change of a promotion
    promote = page.locator("#audit-table tr[data-action='model.promote']").first
    expect(promote.locator(".au-diff")).to_contain_text('state: "candidate" →')
    screenshot(page, "console-audit-filtered")
    # a range before anything happened matches nothing; a bad date is said, not an error
    page.goto(f"{console.url}/ui/audit?until=2000-01-01")
    expect(page.locator("#audit-range")).to_have_text("No events match.")
    page.goto(f"{console.url}/ui/audit?since=yesterday")
    expect(page.locator("#bad-range")).to_be_visible()
    assert len(_shown(page)) == 50
    page.context.close()


def test_clicking_an_actor_filters_by_them(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/audit")
    page.goto(f"{console.url}/ui/audit?use_case=credit-default&action=model.")
    first = page.locator("#audit-table tbody tr").first
    actor = first.get_attribute("data-actor")
    assert actor is not None
    first.locator("td:nth-child(3) a").click()
    expect(page.locator("#f-actor")).to_have_value(actor)
    expect(page.locator("#f-action")).to_have_value("model.")  # other filters are kept
    actors = page.locator("#audit-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.actor)"
    )
    assert set(actors) == {actor}
    assert (
        _shown(page)
        == [i for i in _ids(console, actor=actor) if i in _shown_model_events(console)][:50]
    )
    page.context.close()


def _shown_model_events(console: UIServer) -> set[int]:
    with console.ws.store.transaction() as session:
        return {e.id for e in list_audit(session, action="model.", limit=10_000)}


def test_the_store_query_agrees_with_list_audit(console: UIServer) -> None:
    with console.ws.store.transaction() as session:
        oldest = session.scalar(select(func.min(AuditEvent.at)))
        assert oldest is not None
        for wanted, kwargs in [
            (AuditFilter(action="case."), {"action": "case."}),
            (AuditFilter(actor="outcomes-feed"), {"actor": "outcomes-feed"}),
            (AuditFilter(since=oldest.isoformat()), {"since": oldest}),
        ]:
            events, more = page_events(session, wanted)
            reference = list_audit(session, limit=51, **kwargs)
            assert [e.id for e in events] == [e.id for e in reference[:50]]
            assert more == (len(reference) > 50)


def test_a_bare_end_date_covers_the_whole_day() -> None:
    wanted = AuditFilter(since="2025-03-01", until="2025-03-02")
    assert wanted.start == datetime(2025, 3, 1, tzinfo=UTC)
    assert wanted.end == datetime(2025, 3, 2, 23, 59, 59, 999_999, tzinfo=UTC)
    assert AuditFilter(until="nonsense").end is None


def test_bad_query_values_fall_back_to_defaults() -> None:
    wanted = AuditFilter.from_query({"page": "-3", "size": "7", "actor": " ann "})
    assert (wanted.page, wanted.size, wanted.actor) == (1, 50, "ann")
    assert wanted.query(page=2) == "actor=ann&page=2"


def test_documents_are_compact_and_cut() -> None:
    assert compact({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert compact({"x": "y" * 500}, limit=20).endswith("…")
    assert len(compact({"x": "y" * 500}, limit=20)) == 20
    assert compact(None) == ""
