"""The data pages in headless Chromium: datasets and versions, one version, a diff.

Reading happens on the shared ``console`` project; the diff needs a dataset with two versions,
so it runs on a copy of the project (served by a second server) with a small dataset added.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from loopline import _api
from loopline.charts import histogram
from loopline.data import load_contract
from loopline.data._datasets import load_version
from loopline.data._ingest import ingest_frame
from loopline.errors import DatasetError
from loopline.store import Dataset, DatasetVersion, IngestBatch
from loopline.ui._data_view import Window, quarantine_page, version_detail, version_rows
from tests.ui.conftest import MAINTAINER, UIServer, screenshot, sign_in_to
from tests.ui.test_console_deployments import copy_of

DIFF_SET = "credit-sample"


def _quarantined(console: UIServer, name: str, version: int) -> int:
    with console.ws.store.transaction() as session:
        return sum(
            session.scalars(
                select(IngestBatch.rows_quarantined)
                .join(DatasetVersion, DatasetVersion.id == IngestBatch.version_id)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(Dataset.name == name, DatasetVersion.version == version)
            )
        )


def _all_versions(console: UIServer) -> list[tuple[str, int, int]]:
    with console.ws.store.transaction() as session:
        rows = session.execute(
            select(Dataset.name, DatasetVersion.version, DatasetVersion.row_count)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .order_by(Dataset.name, DatasetVersion.version.desc())
        ).all()
        return [(name, version, count) for name, version, count in rows]


@pytest.fixture(scope="module")
def copy(console: UIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A copy of the console with ``credit-sample`` @1 (rows 0-499) and @2 (rows 100-699)."""
    server = copy_of(console, tmp_path_factory.mktemp("data"))
    ws = server.ws
    rows = load_version(ws, "credit@1").head(700)
    contract = load_contract(ws.project.resolve(ws.project.spec.data.contract))

    def work() -> None:  # off this thread: Playwright's sync API holds an event loop here
        ingest_frame(ws, rows.slice(0, 500), dataset=DIFF_SET, contract=contract)
        ingest_frame(
            ws, rows.slice(100, 600), dataset=DIFF_SET, contract=contract, mode="overwrite"
        )

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(work).result()
    yield server
    server.stop()
    ws.close()


def test_a_viewer_sees_every_dataset_and_its_versions(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/data")
    expect(page.locator("h1")).to_have_text("Data")
    versions = _all_versions(console)
    rows = page.locator("#version-list tr.version-row")
    expect(rows).to_have_count(len(versions))
    for name, number, count in versions:
        row = page.locator(f"tr.version-row[data-ref='{name}@{number}']")
        expect(row.locator("[data-field=rows]")).to_have_text(f"{count:,}")
    quarantined = _quarantined(console, "credit", 1)
    assert quarantined > 0
    credit = page.locator("tr.version-row[data-ref='credit@1']")
    expect(credit.locator("[data-field=quarantined]")).to_have_text(f"{quarantined:,}")
    expect(credit).to_have_attribute("data-status", "quarantined")
    expect(credit).to_contain_text("credit 1.0.0")
    screenshot(page, "console-data")
    # a dataset card filters the list to its versions
    page.click(".dl-dataset[data-dataset='credit']")
    expect(page.locator("#version-list tr.version-row")).to_have_count(1)
    page.click("a.version-link")
    expect(page.locator("h1")).to_have_text("credit@1")
    page.context.close()


def test_a_version_shows_its_report_profile_and_quarantine(
    browser: Browser, console: UIServer
) -> None:
    page = sign_in_to(browser, console, MAINTAINER, "/ui/data/credit/1")
    with console.ws.store.transaction() as session:
        stored = session.scalars(
            select(DatasetVersion)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(Dataset.name == "credit", DatasetVersion.version == 1)
        ).one()
        checks, columns = stored.report["checks"], list(stored.profile["columns"])
    # every check with its status and failing count; failing ones show their samples
    expect(page.locator("#validation-report tr.check-row")).to_have_count(len(checks))
    failed = [c for c in checks if c["status"] == "failed" and c["failing_count"]]
    assert failed
    for check in failed:
        row = page.locator(f"tr.check-row[data-check='{check['name']}']")
        expect(row).to_have_attribute("data-status", "failed")
        expect(row.locator("[data-field=failing]")).to_have_text(f"{check['failing_count']:,}")
        expect(row.locator(".dl-sample")).to_have_count(len(check["sample"]))
    # the profile: one row per column, a histogram per numeric column
    expect(page.locator("#profile tr.profile-row")).to_have_count(len(columns))
    bars = page.locator("#profile tr[data-column='LIMIT_BAL'] svg rect.bar")
    expect(bars).to_have_count(20)
    # the quarantine: a page of 50 rows, the per-check counts as the API gives them
    total = _quarantined(console, "credit", 1)
    expect(page.locator("#quarantine tr.quarantine-row")).to_have_count(min(50, total))
    expect(page.locator("#quarantine-pager .page-range")).to_have_text(
        f"1\N{EN DASH}50 of {total:,}"
    )
    summary = _api.quarantine_summary(_api.quarantine(console.ws, "credit"))
    for check, count in summary.items():
        chip = page.locator(f"#quarantine-by-check [data-check='{check}']")
        expect(chip).to_have_text(f"{check}: {count:,}")
    screenshot(page, "console-data-version")
    page.click("#quarantine-pager a[rel=next]")
    expect(page.locator("#quarantine-pager .page-range")).to_have_text(
        f"51\N{EN DASH}100 of {total:,}"
    )
    # and on to its lineage
    page.click("#lineage-link")
    expect(page.locator("#node-details")).to_have_attribute("data-node", "dataset_version:credit@1")
    page.context.close()


def test_the_profile_histogram_matches_numpy(console: UIServer) -> None:
    detail = version_detail(console.ws, "credit", 1)
    chart = next(c["histogram"] for c in detail["profile"] if c["column"] == "LIMIT_BAL")
    drawn = [int(n.replace(",", "")) for n in re.findall(r"\): ([\d,]+)</title>", chart)]
    values = load_version(console.ws, "credit@1").get_column("LIMIT_BAL").to_numpy()
    expected, _ = np.histogram(values, bins=20, range=(values.min(), values.max()))
    assert drawn == expected.tolist()


def test_the_quarantine_pages_slice_the_rows_in_batch_order(console: UIServer) -> None:
    whole = _api.quarantine(console.ws, "credit")
    second = quarantine_page(console.ws, "credit", 1, Window(offset=10, limit=7))
    assert second["total"] == whole.height
    assert [r["row"] for r in second["rows"]] == whole["_loopline_row"][10:17].to_list()
    assert second["pages"] == {
        "first": 11,
        "last": 17,
        "total": whole.height,
        "previous": 3,
        "next": 17,
        "limit": 7,
    }


def test_version_rows_are_paginated_in_the_store(console: UIServer) -> None:
    everything = _all_versions(console)
    with console.ws.store.transaction() as session:
        total, rows = version_rows(session, Window(offset=1, limit=1))
    assert total == len(everything)
    assert [(r["dataset"], r["version"]) for r in rows] == [everything[1][:2]]


def test_bad_page_parameters_and_unknown_versions_are_refused(console: UIServer) -> None:
    with pytest.raises(DatasetError, match="offset"):
        Window.from_query({"offset": "-3"})
    with pytest.raises(DatasetError, match="limit"):
        Window.from_query({"limit": "100000"})
    with pytest.raises(DatasetError, match="no version 99"):
        version_detail(console.ws, "credit", 99)
    # the pages need a session
    anonymous = httpx.get(f"{console.url}/ui/data/credit/1", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/ui/login")


def test_an_unknown_version_is_a_404_page(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/data")
    answer = page.goto(f"{console.url}/ui/data/credit/99")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("main")).to_contain_text("no version 99")
    answer = page.goto(f"{console.url}/ui/data/credit/1?q_limit=lots")
    assert answer is not None
    assert answer.status == 400
    page.context.close()


def test_a_diff_shows_rows_added_and_removed_by_key(browser: Browser, copy: UIServer) -> None:
    expected = _api.diff(copy.ws, f"{DIFF_SET}@1", f"{DIFF_SET}@2")
    assert expected["rows"]["key"] == ["ID"]
    page = sign_in_to(browser, copy, "vic", f"/ui/data/{DIFF_SET}/2")
    page.click("#diff-link")
    expect(page.locator("h1")).to_have_text(f"{DIFF_SET}@1 → {DIFF_SET}@2")
    expect(page.locator("[data-metric=added] .stat-value")).to_have_text("+200")
    expect(page.locator("[data-metric=removed] .stat-value")).to_have_text("\N{MINUS SIGN}100")
    assert (expected["rows"]["added"], expected["rows"]["removed"]) == (200, 100)
    expect(page.locator("[data-metric=changed] .stat-value")).to_have_text("0")
    expect(page.locator("#schema-same")).to_be_visible()
    shown = page.locator("#distribution-changes tr.distribution-row")
    expect(shown).to_have_count(len(expected["distributions"]))
    biggest = max(
        (d for d in expected["distributions"] if d.get("mean_shift_sd") is not None),
        key=lambda d: abs(d["mean_shift_sd"]),
    )
    row = page.locator(f"tr.distribution-row[data-column='{biggest['column']}']")
    expect(row).to_contain_text(f"{biggest['mean_shift_sd']:,.3f}")
    screenshot(page, "console-data-diff")
    page.context.close()


def test_histogram_draws_one_bar_per_bin() -> None:
    svg = histogram([0.0, 1.0, 2.0, 3.0], [5, 0, 10], title="x")
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 3
    assert heights[2] == 2 * heights[0]
    assert heights[1] == 0
    with pytest.raises(ValueError, match="one more edge"):
        histogram([0.0, 1.0], [1, 2], title="x")
