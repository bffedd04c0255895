"""The experiments pages in headless Chromium: the list, an experiment in full, its actions."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from statsmodels.stats.proportion import proportion_confint  # type: ignore[import-untyped]

from loopline.experiments import experiment_dict, get_experiment, running_experiment
from loopline.store import AuditEvent
from loopline.ui._experiments_view import arms_chart, difference_chart, looks_charts
from tests.ui.conftest import MAINTAINER, UIServer, csrf_token, screenshot, sign_in_to


def _experiment(console: UIServer) -> dict[str, Any]:
    with console.ws.store.transaction() as session:
        row = running_experiment(session, console.ws.project.spec.name)
        assert row is not None, "the console fixture runs an A/B test"
        return experiment_dict(row)


def test_a_viewer_reads_the_list_and_an_experiment(browser: Browser, console: UIServer) -> None:
    record = _experiment(console)
    page = sign_in_to(browser, console, "vic", "/ui/experiments")
    row = page.locator(f"#experiments-table tr[data-experiment='{record['id']}']")
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_contain_text(f"{record['champion']} → {record['challenger']}")
    screenshot(page, "console-experiments")
    row.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(f"Experiment {record['id']}")
    analysis = record["analysis"]
    for role in ("champion", "challenger"):
        arm = page.locator(f"#arms-table tr[data-arm='{role}']")
        expect(arm.locator(".ex-estimate")).to_have_text(
            f"{analysis['arms'][role]['estimate']:,.4f}"
        )
    expect(page.locator("#decision [data-decision]")).to_have_attribute(
        "data-decision", record["decision"]
    )
    expect(page.locator("#decision-reason")).to_have_text(record["reason"])
    expect(page.locator("[data-metric='planned_n'] .stat-value")).to_have_text(
        f"{record['config']['planned_n']:,}"
    )
    # charts: a point and an error bar per arm, the difference against zero, the looks
    assert page.locator("#arms-chart svg circle.estimate").count() == 2
    assert page.locator("#arms-chart svg line.error-bar").count() == 2
    assert page.locator("#difference-chart svg circle.estimate").count() == 2
    assert page.locator("#p-chart svg path").count() >= 1
    assert page.locator("#cs-chart svg path").count() >= 1
    expect(page.locator("#srm")).to_contain_text(" : ".join(map(str, analysis["srm"]["observed"])))
    expect(page.locator("#guardrails tr[data-guardrail='latency_ms']")).to_contain_text("holds")
    screenshot(page, "console-experiment")
    # no buttons for a viewer, and forged posts are refused
    assert page.locator("#stop-experiment, #analyze-experiment").count() == 0
    for action in ("stop", "analyze"):
        forged = page.request.post(
            f"{console.url}/ui/experiments/{record['id']}/{action}",
            form={"csrf_token": csrf_token(page), "reason": "forged"},
            max_redirects=0,
        )
        assert forged.status == 403
    confirm = page.goto(f"{console.url}/ui/experiments/{record['id']}/stop")
    assert confirm is not None
    assert confirm.status == 403
    assert _experiment(console)["looks"] == record["looks"]
    page.context.close()


def test_an_unknown_experiment_is_a_404(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/experiments")
    answer = page.goto(f"{console.url}/ui/experiments/9999")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator(".error-card")).to_contain_text("No experiment '9999'")
    page.context.close()


def test_a_maintainer_analyses_now(browser: Browser, console: UIServer) -> None:
    before = _experiment(console)
    page = sign_in_to(browser, console, MAINTAINER, f"/ui/experiments/{before['id']}")
    page.click("#analyze-experiment")
    expect(page.locator(".banner-ok")).to_contain_text("Analysed")
    after = _experiment(console)
    assert after["looks"] == before["looks"] + 1
    assert after["analysis"]["at"] > before["analysis"]["at"]
    page.context.close()


def test_a_maintainer_stops_it_with_a_reason_after_confirming(
    browser: Browser, console: UIServer
) -> None:
    record = _experiment(console)
    page = sign_in_to(browser, console, MAINTAINER, f"/ui/experiments/{record['id']}")
    try:
        page.click("#stop-experiment")
        expect(page.locator("#confirm-stop h1")).to_contain_text("Stop experiment")
        screenshot(page, "console-experiment-stop")
        # no reason: refused (forged past the browser's required field)
        empty = page.request.post(
            f"{console.url}/ui/experiments/{record['id']}/stop",
            form={"csrf_token": csrf_token(page), "reason": "  "},
            max_redirects=0,
        )
        assert empty.status == 400
        assert "A reason is required" in empty.text()
        assert _experiment(console)["status"] == "running"
        page.fill("#reason", "challenger retrained on the wrong window")
        page.click("#confirm-stop-button")
        expect(page.locator(".banner-ok")).to_contain_text("Stopped")
        expect(page.locator("#decision .ex-status")).to_have_text("stopped")
        with console.ws.store.transaction() as session:
            event = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "experiment.stop")
                .order_by(AuditEvent.id.desc())
            ).first()
            assert event is not None
            assert (event.actor, event.target) == (MAINTAINER, str(record["id"]))
            assert event.reason == "challenger retrained on the wrong window"
        assert page.locator("#stop-experiment, #analyze-experiment").count() == 0
    finally:  # the fixture is shared with the other console areas: put the running test back
        with console.ws.store.transaction() as session:
            row = get_experiment(session, record["id"])
            row.status, row.decision, row.reason, row.decided_at = "running", None, None, None
        page.context.close()


def test_the_arm_intervals_are_wilson_as_statsmodels_computes_them(console: UIServer) -> None:
    analysis = _experiment(console)["analysis"]
    for arm in analysis["arms"].values():
        successes = round(arm["estimate"] * arm["labelled"])
        low, high = proportion_confint(successes, arm["labelled"], alpha=0.05, method="wilson")
        assert (arm["ci_low"], arm["ci_high"]) == pytest.approx((low, high), abs=1e-9)
    svg = arms_chart(analysis)
    assert svg is not None
    assert svg.count('class="estimate"') == 2


def test_charts_wait_for_data() -> None:
    assert arms_chart({}) is None
    assert difference_chart({"arms": {}, "comparison": None}) is None
    assert looks_charts([{"sequential_p": None}], 0.05) == {"p_chart": None, "cs_chart": None}
    looks = [
        {
            "at": "2025-01-01T00:00:00+00:00",
            "sequential_p": 0.8,
            "difference": 0.01,
            "ci_low": -0.2,
            "ci_high": 0.22,
        },
        {
            "at": "2025-01-02T00:00:00+00:00",
            "sequential_p": 0.03,
            "difference": 0.02,
            "ci_low": 0.001,
            "ci_high": 0.05,
        },
    ]
    charts = looks_charts(looks, 0.05)
    assert charts["p_chart"] is not None
    assert "<title>target 0.05</title>" in charts["p_chart"]
    assert charts["cs_chart"] is not None
    assert "<polygon" in charts["cs_chart"]
