"""The monitoring page in headless Chromium, on a project after a short run of the closed loop."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from loopline.store import MonitorReport
from tests.ui.conftest import MAINTAINER, UIServer, csrf_token, screenshot, sign_in_to


def _reports(console: UIServer) -> int:
    with console.ws.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(MonitorReport)) or 0)


def test_a_viewer_sees_drift_performance_quality_business_and_alerts(
    browser: Browser, console: UIServer
) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/monitoring")
    expect(page.locator("h1")).to_have_text("Monitoring")
    # the heatmap has one cell per feature and stored report, alarms outlined
    cells = page.locator("#drift-heatmap svg rect[data-row]")
    assert cells.count() == 23 * _reports(console)
    assert page.locator("#drift-heatmap svg rect[stroke='#111827']").count() > 0
    # the latest window is after the shift: features alarm in the drift table
    assert page.locator("#drift-table tr.alarm").count() > 0
    expect(page.locator("#drift-table")).to_contain_text("LIMIT_BAL")
    # performance over time: realised and estimated lines with their bands
    assert page.locator("#performance-chart svg polygon").count() >= 1
    expect(page.locator("#performance-chart")).to_contain_text("estimated roc_auc")
    expect(page.locator("#data-quality")).to_contain_text("AGE")
    expect(page.locator("#business-metrics")).to_contain_text("automation_rate >= 0.70")
    expect(page.locator("#alert-history")).to_contain_text("drift")
    # a viewer cannot run the monitor: no button, and a forged POST is refused
    assert page.locator("#run-monitor").count() == 0
    before = _reports(console)
    forged = page.request.post(
        f"{console.url}/ui/monitoring/run",
        form={"csrf_token": csrf_token(page)},
        max_redirects=0,
    )
    assert forged.status == 403
    assert _reports(console) == before
    screenshot(page, "console-monitoring")
    page.context.close()


def test_a_maintainer_runs_the_monitor_from_the_page(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, MAINTAINER, "/ui/monitoring")
    before = _reports(console)
    page.click("#run-monitor")
    expect(page.locator(".banner-ok")).to_contain_text("Monitored")
    assert _reports(console) == before + 1
    expect(page.locator("#monitor-stats")).to_contain_text(f"report {before + 1}")
    page.context.close()


def test_the_monitoring_api_serves_the_same_reports(console: UIServer) -> None:
    # authentication is on: no credentials, no reports
    refused = httpx.get(f"{console.url}/api/v1/monitoring/credit-default/reports/latest")
    assert refused.status_code == 401
