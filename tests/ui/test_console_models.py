"""The models pages in headless Chromium: the versions, one version, two compared, the actions.

Reading happens on the shared ``console`` project; the actions (approve, promote, archive) and
the many-versions page run on a copy of it served by a second server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from loopline._api_models import compare_models, show_model
from loopline.registry import current_alias
from loopline.store import Approval, AuditEvent, ModelVersion
from loopline.ui._models_view import compare_view, markdown_html, model_page, page_number
from tests.ui.conftest import MAINTAINER, UIServer, csrf_token, screenshot, sign_in_to
from tests.ui.test_console_deployments import copy_of

USE_CASE = "credit-default"
VERSIONS = 120


@pytest.fixture(scope="module")
def copy(console: UIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A copy of the console with versions 3..120 added (candidates sharing @2's artifact)."""
    server = copy_of(console, tmp_path_factory.mktemp("models"))
    with server.ws.store.transaction() as session:
        model = session.scalars(select(ModelVersion).where(ModelVersion.version == 2)).one()
        for number in range(3, VERSIONS + 1):
            session.add(
                ModelVersion(
                    use_case=USE_CASE,
                    version=number,
                    run_id=model.run_id,
                    state="candidate",
                    artifact_prefix=model.artifact_prefix,
                    manifest_sha256=model.manifest_sha256,
                    signature=model.signature,
                    metrics={**model.metrics, "roc_auc": 0.5 + number / 1000},
                    evaluation=model.evaluation,
                    card=model.card,
                    created_by="bulk",
                )
            )
    yield server
    server.stop()
    server.ws.close()


def _state(server: UIServer, version: int) -> str:
    with server.ws.store.transaction() as session:
        return session.scalars(
            select(ModelVersion.state).where(ModelVersion.version == version)
        ).one()


def _audit(server: UIServer, action: str) -> AuditEvent:
    with server.ws.store.transaction() as session:
        row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        ).first()
        assert row is not None
        session.expunge(row)
        return row


# -- the view functions ------------------------------------------------------------------------


def test_the_card_renderer_escapes_markup_and_keeps_structure() -> None:
    html = str(
        markdown_html(
            "# Card <b>x</b>\n\nIntended `use` <script>alert(1)</script>\n\n"
            "| metric | value |\n|---|---|\n| roc_auc | 0.7 |\n\n- one <i>\n- two\n"
        )
    )
    for tag in ("<script>", "<b>", "<i>"):
        assert tag not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h2>Card &lt;b&gt;x&lt;/b&gt;</h2>" in html
    assert "<code>use</code>" in html
    assert "<th>metric</th><th>value</th>" in html
    assert "<td>roc_auc</td><td>0.7</td>" in html
    assert "<ul><li>one &lt;i&gt;</li><li>two</li></ul>" in html


def test_page_numbers_from_the_query() -> None:
    assert [page_number(t) for t in (None, "", "0", "-2", "abc", "3")] == [1, 1, 1, 1, 1, 3]


def test_a_page_of_versions_past_the_end_is_the_last_page(copy: UIServer) -> None:
    with copy.ws.store.transaction() as session:
        last = model_page(session, USE_CASE, page=99)
        first = model_page(session, USE_CASE, page=1)
    assert (last["total"], last["pages"], last["page"]) == (VERSIONS, 3, 3)
    assert [r["version"] for r in last["rows"]] == list(range(VERSIONS - 100, 0, -1))
    assert [r["version"] for r in first["rows"]] == list(range(VERSIONS, VERSIONS - 50, -1))
    assert next(r for r in last["rows"] if r["version"] == 1)["aliases"] == ["champion"]


def test_compare_marks_which_side_is_better(console: UIServer) -> None:
    view = compare_view(console.ws, f"{USE_CASE}@1", f"{USE_CASE}@2")
    rows = {r["metric"]: r for r in view["metrics"]}
    assert rows["n"]["better"] is None  # a row count is not a quality
    assert rows["roc_auc"]["better"] is (rows["roc_auc"]["difference"] > 0)
    assert rows["ece"]["better"] is (rows["ece"]["difference"] < 0)
    assert view["gaps"]
    for gap in view["gaps"]:
        if gap["difference"]:
            assert gap["better"] is (gap["difference"] < 0)  # a smaller gap is better


# -- the pages ---------------------------------------------------------------------------------


def test_a_viewer_sees_the_versions_with_states_aliases_and_metrics(
    browser: Browser, console: UIServer
) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/models")
    expect(page.locator("h1")).to_have_text("Models")
    with console.ws.store.transaction() as session:
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.version)).all()
        champion = current_alias(session, USE_CASE, "champion")
        assert champion is not None
        expected = [(v.version, v.state, v.metrics) for v in versions]
        champion_version = champion.version
    assert page.locator("tr.model-row").count() == len(expected)
    for number, state, metrics in expected:
        row = page.locator(f"tr.model-row[data-version='{number}']")
        assert row.get_attribute("data-state") == state
        expect(row.locator("[data-metric=roc_auc]")).to_have_text(f"{metrics['roc_auc']:.3f}")
        expect(row.locator("[data-metric=cost_per_1000]")).to_have_text(
            f"{metrics['cost_per_1000']:,.0f}"
        )
        expect(row.locator("[data-metric=threshold]")).to_have_text(f"{metrics['threshold']:.3f}")
    champion_row = page.locator(f"tr.model-row[data-version='{champion_version}']")
    expect(champion_row.locator("[data-alias=champion]")).to_have_count(1)
    screenshot(page, "console-models")
    page.context.close()


def test_a_viewer_opens_a_version_and_cannot_change_it(browser: Browser, console: UIServer) -> None:
    info = show_model(console.ws, f"{USE_CASE}@2")
    page = sign_in_to(browser, console, "vic", "/ui/models")
    page.click(f"a.model-link[href='/ui/models/{USE_CASE}@2']")
    expect(page.locator("h1")).to_have_text(f"{USE_CASE}@2")
    expect(page.locator("#model-state")).to_have_text(info["state"])
    # gates: measured against bound with the verdict, as stored
    for gate in info["gates"]:
        row = page.locator(f"#gates tr[data-gate='{gate['gate']}']")
        assert row.get_attribute("data-verdict") == gate["verdict"]
        expect(row.locator("td.num").first).to_have_text(f"{gate['measured']:,.4f}")
    # the plots stored at training, the slice tables and the card
    assert page.locator("#plots figure[data-plot='reliability.svg'] svg path").count() >= 1
    assert page.locator("#plots figure[data-plot='threshold_cost.svg'] svg").count() == 1
    for column, per_slice in info["evaluation"]["slices"].items():
        table = page.locator(f".slice-table[data-column='{column}'] tbody tr")
        assert table.count() == len(per_slice)
    expect(page.locator("#model-card h2").first).to_have_text(f"Model card: {USE_CASE}@2")
    expect(page.locator("#lineage-link")).to_have_attribute(
        "href", f"/ui/lineage?node=model_version:{USE_CASE}@2"
    )
    screenshot(page, "console-model")
    # no actions for a viewer, and a forged post is refused with nothing changed
    assert page.locator("#model-actions").count() == 0
    for action in ("archive", "promote", "approve"):
        forged = page.request.post(
            f"{console.url}/ui/models/{USE_CASE}@2/{action}",
            form={"csrf_token": csrf_token(page), "reason": "forged"},
            max_redirects=0,
        )
        assert forged.status == 403
    assert _state(console, 2) == info["state"]
    page.context.close()


def test_an_unknown_version_is_not_found(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/models")
    answer = page.goto(f"{console.url}/ui/models/{USE_CASE}@999")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    page.context.close()


def test_two_versions_side_by_side_with_deltas(browser: Browser, console: UIServer) -> None:
    left, right = f"{USE_CASE}@1", f"{USE_CASE}@2"
    compared = compare_models(console.ws, left, right)
    page = sign_in_to(browser, console, "vic", "/ui/models/compare")
    page.select_option("#left", left)
    page.select_option("#right", right)
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**left=*")
    rows = {r["metric"]: r for r in compared["metrics"]}
    assert page.locator("#compare-metrics tbody tr").count() == len(rows)
    auc = page.locator("#compare-metrics tr[data-metric=roc_auc] td")
    expect(auc.nth(3)).to_have_text(f"{rows['roc_auc']['difference']:+.4f}")
    ece_delta = page.locator("#compare-metrics tr[data-metric=ece] .mm-delta")
    lower = rows["ece"]["difference"] < 0  # a smaller calibration error is better
    expect(ece_delta).to_have_class("mm-delta mm-better" if lower else "mm-delta mm-worse")
    assert page.locator("#compare-gates tr[data-gate]").count() >= 1
    assert page.locator("#compare-gaps tr[data-gap]").count() >= 1
    screenshot(page, "console-models-compare")
    page.context.close()


def test_a_hundred_and_twenty_versions_page_by_fifty(browser: Browser, copy: UIServer) -> None:
    page = sign_in_to(browser, copy, "vic", "/ui/models")
    started = time.perf_counter()
    page.goto(f"{copy.url}/ui/models")
    elapsed = time.perf_counter() - started
    print(f"models page with {VERSIONS} versions: {elapsed * 1000:.0f} ms")  # a measurement
    assert page.locator("tr.model-row").count() == 50
    expect(page.locator("#model-count")).to_have_text(f"Versions 1\u201350 of {VERSIONS}")
    page.click("a[rel=next]")
    expect(page.locator("#model-count")).to_have_text(f"Versions 51\u2013100 of {VERSIONS}")
    expect(page.locator("tr.model-row").first).to_have_attribute("data-version", "70")
    page.context.close()


def test_a_maintainer_approves_promotes_and_archives(browser: Browser, copy: UIServer) -> None:
    page = sign_in_to(browser, copy, MAINTAINER, f"/ui/models/{USE_CASE}@2")
    # a reason is required
    answer = page.request.post(
        f"{copy.url}/ui/models/{USE_CASE}@2/approve",
        form={"csrf_token": csrf_token(page), "reason": ""},
        max_redirects=0,
    )
    assert answer.status == 400
    page.click("#approve-action summary")
    page.fill("#approve-reason", "reviewed the slices")
    page.click("#approve-confirm")
    expect(page.locator(".banner-ok")).to_contain_text("Approved")
    expect(page.locator("#approvals")).to_contain_text("mia")
    with copy.ws.store.transaction() as session:
        approvals = session.scalars(select(Approval.actor)).all()
    assert list(approvals) == [MAINTAINER]
    audit = _audit(copy, "model.approve")
    assert (audit.actor, audit.reason) == (MAINTAINER, "reviewed the slices")

    page.click("#promote-action summary")
    page.fill("#promote-reason", "better on recent data")
    page.click("#promote-confirm")
    expect(page.locator(".banner-ok")).to_contain_text("Promoted")
    expect(page.locator("#model-state")).to_have_text("champion")
    assert (_state(copy, 2), _state(copy, 1)) == ("champion", "archived")
    audit = _audit(copy, "model.promote")
    assert (audit.actor, audit.reason, audit.target) == (
        MAINTAINER,
        "better on recent data",
        f"{USE_CASE}@2",
    )
    # the champion cannot be archived: no button for it
    assert page.locator("#archive-action").count() == 0

    page.goto(f"{copy.url}/ui/models/{USE_CASE}@3")
    page.click("#archive-action summary")
    page.fill("#archive-reason", "superseded")
    page.click("#archive-confirm")
    expect(page.locator("#model-state")).to_have_text("archived")
    audit = _audit(copy, "model.archive")
    assert (audit.actor, audit.reason, audit.target) == (MAINTAINER, "superseded", f"{USE_CASE}@3")
    screenshot(page, "console-model-archived")
    page.context.close()
