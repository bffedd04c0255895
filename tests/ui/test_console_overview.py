"""The overview page in headless Chromium, and its verdict rule against reference intervals."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from statsmodels.stats.proportion import proportion_confint  # type: ignore[import-untyped]

from loopline.monitoring._history import latest_report
from loopline.serving import current_deployment
from loopline.spec._models import SuccessMetric
from loopline.store import utcnow
from loopline.ui._overview_view import alert_counts, backlog, success_verdicts, verdict
from tests.ui.conftest import MAINTAINER, UIServer, screenshot, sign_in_to


def _expected(console: UIServer) -> dict[str, object]:
    spec = console.ws.project.spec
    with console.ws.store.transaction() as session:
        report = latest_report(session, spec.name)
        deployment = current_deployment(session, spec.name)
        alerts = alert_counts(session, spec.name)
        cases = backlog(session, spec.name, utcnow())
    assert report is not None
    assert deployment is not None
    return {
        "success": success_verdicts(spec, report["business"]),
        "report": report,
        "arms": {arm["role"]: arm["model"] for arm in deployment.arms},
        "alerts": alerts,
        "backlog": cases,
    }


@pytest.mark.parametrize("user", ["vic", MAINTAINER])
def test_each_success_metric_shows_its_value_and_verdict(
    browser: Browser, console: UIServer, user: str
) -> None:
    page = sign_in_to(browser, console, user, "/ui/overview")
    expected = _expected(console)
    card = page.locator("section[data-use-case='credit-default']")
    expect(card.locator("h2")).to_have_text("credit-default")
    rows = expected["success"]
    assert isinstance(rows, list)
    assert len(rows) == 3
    for row in rows:
        line = card.locator(f"tr[data-metric='{row['metric']}']")
        expect(line).to_have_attribute("data-verdict", row["verdict"])
        expect(line.locator(".ov-value")).to_have_text(row["shown"])
    # the loop's automation rate is far below its 70% target; the card says missed overall
    expect(card.locator("tr[data-metric='automation_rate']")).to_have_attribute(
        "data-verdict", "missed"
    )
    expect(card.locator(".ov-verdict")).to_have_attribute("data-status", "missed")
    expect(page.locator("#at-risk-rule")).to_contain_text("within 5% of the bound")
    report = expected["report"]
    assert isinstance(report, dict)
    expect(card).to_contain_text(f"monitoring report {report['id']}")
    screenshot(page, f"console-overview-{user}")
    page.context.close()


def test_serving_alerts_and_backlog_come_from_the_store(
    browser: Browser, console: UIServer
) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/overview")
    expected = _expected(console)
    arms, alerts, cases = expected["arms"], expected["alerts"], expected["backlog"]
    assert isinstance(arms, dict)
    assert isinstance(alerts, dict)
    assert isinstance(cases, dict)
    expect(page.locator(".ov-champion")).to_have_text(arms["champion"])
    expect(page.locator(".ov-challenger")).to_have_text(arms["challenger"])  # the A/B test
    assert sum(alerts.values()) > 0  # the loop's segment shift fired drift alerts
    expect(page.locator(".ov-alerts")).to_have_attribute("data-firing", str(sum(alerts.values())))
    for severity, count in alerts.items():
        expect(page.locator(f".ov-sev[data-severity='{severity}']")).to_have_text(
            f"{count} {severity}"
        )
    expect(page.locator(".ov-backlog")).to_have_attribute("data-open", str(cases["open"]))
    expect(page.locator(".ov-backlog")).to_have_attribute("data-overdue", str(cases["overdue"]))
    page.locator(".ov-alerts a.ov-big").click()
    expect(page.locator("h1")).to_have_text("Monitoring")
    page.context.close()


def _metric(text: str) -> SuccessMetric:
    return SuccessMetric.from_text(text)


def test_a_met_metric_near_its_bound_is_at_risk() -> None:
    assert verdict(_metric("automation_rate >= 0.70"), 0.80) == "met"
    assert verdict(_metric("automation_rate >= 0.70"), 0.72) == "at_risk"  # within 5% of 0.70
    assert verdict(_metric("automation_rate >= 0.70"), 0.69) == "missed"
    assert verdict(_metric("review_sla_hours <= 24"), 23.0) == "at_risk"  # 24 * 0.95 = 22.8
    assert verdict(_metric("review_sla_hours <= 24"), 22.0) == "met"
    assert verdict(_metric("review_sla_hours <= 24"), None) == "unknown"


def test_an_interval_straddling_the_bound_is_at_risk() -> None:
    metric = _metric("precision_auto >= 0.60")
    assert verdict(metric, 0.9, (0.55, 0.99)) == "at_risk"
    assert verdict(metric, 0.9, (0.65, 0.99)) == "met"


def test_the_automation_interval_is_wilson_as_statsmodels_computes_it(
    console: UIServer,
) -> None:
    spec = console.ws.project.spec
    success: list[dict[str, object]] = [
        {"metric": m.text, "value": None, "met": None} for m in spec.objective.success
    ]
    success[0]["value"] = 352 / 3000
    business = {
        "predictions": 3000,
        "automation_rate": 352 / 3000,
        "audited": {},
        "success": success,
    }
    row = success_verdicts(spec, business)[0]
    low, high = proportion_confint(352, 3000, alpha=0.05, method="wilson")
    assert row["metric"] == "automation_rate"
    assert row["interval"] == pytest.approx((low, high), abs=1e-9)
    assert row["verdict"] == "missed"
