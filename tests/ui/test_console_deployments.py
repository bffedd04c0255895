"""The deployments page in headless Chromium: what serves, canary and shadow figures, actions.

Reading happens on the shared ``console`` project; changes (a canary, a shadow, a promotion,
the rollback) happen on a copy of it served by a second server, so other test modules sharing
the ``console`` fixture see it unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from loopline._api_serving import deploy_model
from loopline._workspace import Workspace
from loopline.errors import RegistryError
from loopline.serving import current_deployment
from loopline.serving._log import LoggedRequest, write_records
from loopline.settings import load_settings
from loopline.store import AuditEvent, Deployment
from loopline.ui._deployments_view import (
    acting_as,
    canary_progress,
    required_reason,
    shadow_agreement,
)
from tests.serving.conftest import copy_project
from tests.ui.conftest import MAINTAINER, UIServer, csrf_token, screenshot, sign_in_to, start

USE_CASE = "credit-default"


def copy_of(console: UIServer, root: Path) -> UIServer:
    """A second server over a copy of the console's project (database copied consistently)."""
    source = console.ws.settings.project_dir
    target = root / source.name
    copy_project(source, target)
    env = {"LOOPLINE_ACTOR": "tester", "LOOPLINE_AUTH": "on"}
    return start(Workspace(load_settings(env, project_dir=target)))


@pytest.fixture(scope="module")
def copy(console: UIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    server = copy_of(console, tmp_path_factory.mktemp("deployments"))
    yield server
    server.stop()
    server.ws.close()


def _current(server: UIServer) -> Deployment:
    with server.ws.store.transaction() as session:
        row = current_deployment(session, USE_CASE)
        assert row is not None
        session.expunge(row)
        return row


def _audit(server: UIServer, action: str) -> AuditEvent:
    with server.ws.store.transaction() as session:
        row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def _record(
    model: str, at: datetime, *, request_id: str, prediction: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "prediction_id": uuid.uuid4().hex,
        "request_id": request_id,
        "use_case": USE_CASE,
        "model_version": model,
        "arm": extra.pop("arm", "champion"),
        "unit_key": None,
        "decision": "auto",
        "reasons": [],
        "prediction": prediction,
        "probability": 0.5,
        "confidence": 0.5,
        "latency_ms": 1.0,
        "shadow": extra.pop("shadow", False),
        "at": at,
        "inputs": extra.pop("inputs", {"x": 1}),
    }


# -- the view functions ------------------------------------------------------------------------


def test_shadow_agreement_pairs_each_shadow_answer_with_the_served_one(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    served = [0, 1, 1, 0, 1]
    shadow = [0, 1, 0, 0, 0]
    records = []
    for i, (a, b) in enumerate(zip(served, shadow, strict=True)):
        inputs = {"row": i}
        records.append(_record("uc@1", now, request_id=f"r{i // 2}", prediction=a, inputs=inputs))
        records.append(
            _record("uc@2", now, request_id=f"r{i // 2}", prediction=b, inputs=inputs, shadow=True)
        )
    # a shadow answer whose served answer is not logged, and one from before the revision
    records.append(_record("uc@2", now, request_id="lost", prediction=1, shadow=True))
    records.append(
        _record("uc@2", now - timedelta(days=2), request_id="r0", prediction=1, shadow=True)
    )
    write_records(tmp_path, LoggedRequest.from_rows(records))
    result = shadow_agreement(tmp_path, USE_CASE, "uc@2", now - timedelta(minutes=1))
    agree = sum(a == b for a, b in zip(served, shadow, strict=True))
    assert result == {"shadow_rows": 6, "pairs": 5, "agree": agree, "rate": agree / 5}
    assert shadow_agreement(tmp_path / "none", USE_CASE, "uc@2", now)["rate"] is None


def test_canary_progress_counts_the_canary_answers_of_this_revision(tmp_path: Path) -> None:
    began = datetime.now(timezone.utc) - timedelta(minutes=5)
    records = [
        _record("uc@2", began + timedelta(seconds=i), request_id=f"c{i}", prediction=1)
        for i in range(7)
    ]
    records += [_record("uc@1", began, request_id="champion", prediction=0)]
    records += [_record("uc@2", began - timedelta(minutes=1), request_id="before", prediction=1)]
    write_records(tmp_path, LoggedRequest.from_rows(records))
    deployment = {
        "strategy": "canary",
        "arms": [
            {"model": "uc@1", "role": "champion", "weight": 0.95},
            {"model": "uc@2", "role": "canary", "weight": 0.05},
        ],
        "state": {"steps": [0.05, 0.25, 1.0], "step": 0, "min_requests": 20},
        "created_at": began,
    }
    progress = canary_progress(tmp_path, USE_CASE, deployment)
    assert progress is not None
    assert (progress["step"], progress["steps"], progress["requests"]) == (1, 3, 7)
    assert progress["share"] == pytest.approx(7 / 20)
    assert canary_progress(tmp_path, USE_CASE, {**deployment, "strategy": "direct"}) is None


def test_a_change_needs_a_short_reason() -> None:
    assert required_reason("  drift on LIMIT_BAL ") == "drift on LIMIT_BAL"
    for bad in ("", "   ", None, "x" * 2001):
        with pytest.raises(RegistryError):
            required_reason(bad)


def test_acting_as_changes_only_the_actor(console: UIServer) -> None:
    acting = acting_as(console.ws, "mia")
    assert acting.actor == "mia"
    assert acting.store is console.ws.store
    assert console.ws.actor == "tester"


# -- the page ----------------------------------------------------------------------------------


def test_a_viewer_sees_what_serves_and_cannot_change_it(
    browser: Browser, console: UIServer
) -> None:
    current = _current(console)
    with console.ws.store.transaction() as session:
        revisions = session.scalar(select(func.count()).select_from(Deployment))
    page = sign_in_to(browser, console, "vic", "/ui/deployments")
    expect(page.locator("h1")).to_have_text("Deployments")
    expect(page.locator("[data-metric=revision] .stat-value")).to_have_text(str(current.revision))
    expect(page.locator("[data-metric=strategy] .stat-value")).to_have_text(current.strategy)
    arms = page.locator("#arms tr.arm-row")
    assert arms.count() == len(current.arms)
    for arm in current.arms:
        row = page.locator(f"#arms tr[data-model='{arm['model']}']")
        assert row.get_attribute("data-role") == arm["role"]
        expect(row.locator("td.num")).to_have_text(f"{arm['weight'] * 100:.0f}%")
    assert page.locator("#history tr.revision-row").count() == revisions
    # no buttons for a viewer, and a forged post is refused with nothing changed
    assert page.locator("#deployment-actions").count() == 0
    forged = page.request.post(
        f"{console.url}/ui/deployments/rollback",
        form={"csrf_token": csrf_token(page), "reason": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert _current(console).revision == current.revision
    screenshot(page, "console-deployments")
    page.context.close()


def test_a_maintainer_sees_the_actions_and_the_model_links(
    browser: Browser, console: UIServer
) -> None:
    current = _current(console)
    page = sign_in_to(browser, console, MAINTAINER, "/ui/deployments")
    others = [a["model"] for a in current.arms if a["role"] != "champion"]
    assert page.locator("#deployment-actions .promote-action").count() == len(others)
    expect(page.locator("#rollback-action summary")).to_be_visible()
    champion = next(a["model"] for a in current.arms if a["role"] == "champion")
    page.click(f"#arms a[href='/ui/models/{champion}']")
    expect(page.locator("h1")).to_have_text(champion)
    page.context.close()


def test_canary_progress_and_shadow_agreement_show_on_the_page(
    browser: Browser, copy: UIServer
) -> None:
    deploy_model(copy.ws, f"{USE_CASE}@2", strategy="canary", reason="canary test")
    canary = _current(copy)
    logged = copy.ws.settings.home / "predictions"
    after = canary.created_at.replace(tzinfo=timezone.utc) + timedelta(seconds=1)
    write_records(
        logged,
        LoggedRequest.from_rows(
            [_record(f"{USE_CASE}@2", after, request_id=f"c{i}", prediction=1) for i in range(9)]
        ),
    )
    page = sign_in_to(browser, copy, MAINTAINER, "/ui/deployments")
    steps = canary.state["steps"]
    expect(page.locator("#canary-progress h2")).to_have_text(f"Canary: step 1 of {len(steps)}")
    expect(page.locator("#canary-requests")).to_contain_text(
        f"9 of {canary.state['min_requests']:,} requests"
    )
    screenshot(page, "console-deployments-canary")
    deploy_model(copy.ws, f"{USE_CASE}@2", strategy="shadow", reason="shadow test")
    shadow = _current(copy)
    after = shadow.created_at.replace(tzinfo=timezone.utc) + timedelta(seconds=1)
    pairs = [(0, 0), (1, 1), (1, 0), (0, 0)]
    records = []
    for i, (served, copied) in enumerate(pairs):
        records.append(_record(f"{USE_CASE}@1", after, request_id=f"s{i}", prediction=served))
        records.append(
            _record(f"{USE_CASE}@2", after, request_id=f"s{i}", prediction=copied, shadow=True)
        )
    write_records(logged, LoggedRequest.from_rows(records))
    page.reload()
    section = page.locator(f".shadow-agreement[data-model='{USE_CASE}@2']")
    expect(section).to_contain_text("75.0% of 4 shadow answers agree")
    screenshot(page, "console-deployments-shadow")
    page.context.close()


def test_a_change_without_a_reason_is_refused(browser: Browser, copy: UIServer) -> None:
    before = _current(copy).revision
    page = sign_in_to(browser, copy, MAINTAINER, "/ui/deployments")
    answer = page.request.post(
        f"{copy.url}/ui/deployments/rollback",
        form={"csrf_token": csrf_token(page), "reason": "  "},
        max_redirects=0,
    )
    assert answer.status == 400
    assert "A reason is required" in answer.text()
    assert _current(copy).revision == before
    page.context.close()


def test_a_maintainer_promotes_the_shadow_to_champion(browser: Browser, copy: UIServer) -> None:
    before = _current(copy)
    assert before.strategy == "shadow"
    page = sign_in_to(browser, copy, MAINTAINER, "/ui/deployments")
    action = page.locator(f".promote-action[data-model='{USE_CASE}@2']")
    action.locator("summary").click()
    action.locator("textarea").fill("shadow agrees; ship it")
    action.locator("button.promote-confirm").click()
    expect(page.locator(".banner-ok")).to_contain_text("Promoted")
    after = _current(copy)
    assert after.revision == before.revision + 1
    assert [(a["model"], a["role"], a["weight"]) for a in after.arms] == [
        (f"{USE_CASE}@2", "champion", 1.0)
    ]
    audit = _audit(copy, "deployment.change")
    assert (audit.actor, audit.reason, audit.target) == (
        MAINTAINER,
        "shadow agrees; ship it",
        f"{USE_CASE}#{after.revision}",
    )
    page.context.close()


def test_a_maintainer_rolls_back_in_the_browser(browser: Browser, copy: UIServer) -> None:
    before = _current(copy)
    page = sign_in_to(browser, copy, MAINTAINER, "/ui/deployments")
    page.click("#rollback-action summary")
    page.fill("#rollback-reason", "complaints after the promotion")
    page.click("#rollback-confirm")
    expect(page.locator(".banner-ok")).to_contain_text("Rolled back")
    after = _current(copy)
    assert after.revision == before.revision + 1
    assert [a["model"] for a in after.arms] == [f"{USE_CASE}@1"]
    expect(page.locator("[data-metric=revision] .stat-value")).to_have_text(str(after.revision))
    for action in ("model.rollback", "deployment.change"):
        audit = _audit(copy, action)
        assert (audit.actor, audit.reason) == (MAINTAINER, "complaints after the promotion")
    screenshot(page, "console-deployments-rolled-back")
    page.context.close()
