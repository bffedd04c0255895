"""The lineage pages in headless Chromium: the graph around a node, and a prediction's trail.

The Done-when walk of the console issue: from a single prediction, click through lineage to the
dataset version its model was trained on, and on to that version's data page.
"""

from __future__ import annotations

import re

import polars as pl
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from loopline.charts import GraphEdge, GraphNode, layered_graph
from loopline.errors import LineageError
from loopline.lineage import find_node
from loopline.registry import current_alias
from loopline.store import Case, Dataset, DatasetVersion, LineageEdge, ModelVersion, Run
from loopline.ui._lineage_view import PER_LEVEL, lineage_view, prediction_view, search_target
from tests.ui.conftest import MAINTAINER, UIServer, screenshot, sign_in_to

USE_CASE = "credit-default"


def _escalated_prediction(console: UIServer) -> tuple[str, str, str]:
    """A prediction of the retrained model that went to a person: (id, model version, case)."""
    with console.ws.store.transaction() as session:
        case = session.scalars(
            select(Case)
            .where(Case.model_version == f"{USE_CASE}@2", Case.status == "decided")
            .order_by(Case.id)
            .limit(1)
        ).one()
        return case.prediction_id, case.model_version, case.uid


def _training_data(console: UIServer, model: str) -> str:
    """``name@n`` of the dataset version the run that made ``model`` trained on."""
    number = int(model.rpartition("@")[2])
    with console.ws.store.transaction() as session:
        version = session.scalars(
            select(DatasetVersion)
            .join(Run, Run.dataset_version_id == DatasetVersion.id)
            .join(ModelVersion, ModelVersion.run_id == Run.id)
            .where(ModelVersion.use_case == USE_CASE, ModelVersion.version == number)
        ).one()
        name = session.get(Dataset, version.dataset_id)
        assert name is not None
        return f"{name.name}@{version.version}"


def test_the_graph_opens_on_the_champion_and_recentres_on_a_click(
    browser: Browser, console: UIServer
) -> None:
    with console.ws.store.transaction() as session:
        champion = current_alias(session, USE_CASE, "champion")
        assert champion is not None
        focus = f"model_version:{USE_CASE}@{champion.version}"
    page = sign_in_to(browser, console, "vic", "/ui/lineage")
    graph = page.locator("#lineage-graph svg")
    expect(graph.locator("g.node.focus")).to_have_attribute("data-node", focus)
    expect(page.locator("#node-details")).to_have_attribute("data-node", focus)
    # every node drawn is a link; the summary counts what is drawn
    nodes = graph.locator("g.node")
    summary = page.locator("#graph-summary").inner_text()
    assert nodes.count() == int(summary.split(" nodes")[0])
    assert graph.locator("a g.node").count() == nodes.count()
    # upstream: the run that produced the champion; downstream: its deployments
    expect(page.locator("#edges-upstream")).to_contain_text("produced")
    expect(page.locator("#edges-downstream")).to_contain_text("deployed as champion")
    screenshot(page, "console-lineage")
    page.locator("#lineage-graph svg g.node[data-kind=run]").first.click()
    expect(page.locator("#node-kind")).to_have_text("run")
    expect(page.locator("#lineage-graph svg g.node.focus")).to_have_attribute("data-kind", "run")
    page.context.close()


def test_a_prediction_is_followed_back_to_its_training_data(
    browser: Browser, console: UIServer
) -> None:
    prediction_id, model, case_id = _escalated_prediction(console)
    trained_on = _training_data(console, model)
    page = sign_in_to(browser, console, MAINTAINER, "/ui/lineage")
    page.fill("#lineage-q", prediction_id)
    page.click("#lineage-search button")
    page.wait_for_url(f"**/ui/lineage/prediction/{prediction_id}")
    # the prediction as logged, its case and the labels it got
    logged = (
        pl.scan_parquet(str(console.ws.settings.home / "predictions" / USE_CASE / "*" / "*"))
        .filter(pl.col("prediction_id") == prediction_id)
        .collect()
    )
    assert logged.height == 1
    expect(page.locator("#model-version-link")).to_have_text(model)
    expect(page.locator("#prediction-decision")).to_have_text(logged["decision"][0])
    expect(page.locator("#case-link")).to_have_attribute("href", f"/ui/cases/{case_id}")
    assert page.locator("#prediction-feedback tr.feedback-row").count() >= 1
    # the trail marks the data the model's run trained on
    training = page.locator(".ln-trail-node.ln-training")
    expect(training).to_have_attribute("data-node", f"dataset_version:{trained_on}")
    screenshot(page, "console-lineage-prediction")
    # click through: model version -> its run -> the training data -> the data page
    page.click("#model-version-link")
    expect(page.locator("#node-details")).to_have_attribute("data-node", f"model_version:{model}")
    page.locator("#lineage-graph svg g.node[data-kind=run]").first.click()
    expect(page.locator("#node-kind")).to_have_text("run")
    page.locator(f"#lineage-graph svg g.node[data-node='dataset_version:{trained_on}']").click()
    expect(page.locator("#node-details")).to_have_attribute(
        "data-node", f"dataset_version:{trained_on}"
    )
    page.click("#node-page")
    expect(page.locator("h1")).to_have_text(trained_on)
    page.context.close()


def test_unknown_nodes_and_predictions_are_404_pages(browser: Browser, console: UIServer) -> None:
    page = sign_in_to(browser, console, "vic", "/ui/lineage")
    answer = page.goto(f"{console.url}/ui/lineage?node=dataset_version:nothing@9")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("main")).to_contain_text("No lineage node")
    answer = page.goto(f"{console.url}/ui/lineage/prediction/not-a-prediction")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("main")).to_contain_text("No prediction 'not-a-prediction'")
    page.context.close()


def test_edges_point_left_to_right_and_big_fans_are_capped(console: UIServer) -> None:
    _, model, _ = _escalated_prediction(console)
    trained_on = _training_data(console, model)
    view = lineage_view(console.ws, f"dataset_version:{trained_on}")
    svg = view["graph"]
    boxes = {
        name: float(x)
        for name, x in re.findall(
            r'data-node="([^"]+)"[^>]*><title>[^<]*</title><rect x="([\d.]+)"', svg
        )
    }
    edges = re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', svg)
    assert edges
    assert all(boxes[source] < boxes[target] for source, target in edges)
    # the feedback dataset behind the training data has more labels than a level may draw
    with console.ws.store.transaction() as session:
        feedback = find_node(session, "dataset_version:credit-feedback@1")
        labels = session.scalar(select(func.count()).where(LineageEdge.target_id == feedback.id))
    assert labels is not None
    assert labels > PER_LEVEL
    assert len(boxes) <= 1 + 2 * 6 * PER_LEVEL
    assert any("feedback" in row["kinds"] for row in view["hidden"])


def test_the_search_box_tells_nodes_from_predictions() -> None:
    assert search_target("credit@2") == "/ui/lineage?node=dataset_version:credit@2"
    assert search_target(" run:abc ") == "/ui/lineage?node=run:abc"
    assert search_target("5f2ef32e") == "/ui/lineage/prediction/5f2ef32e"


def test_an_unknown_prediction_raises_a_lineage_error(console: UIServer) -> None:
    with pytest.raises(LineageError, match="No prediction"):
        prediction_view(console.ws, "missing")


def test_layered_graph_places_layers_in_columns() -> None:
    nodes = [
        GraphNode("a", "a", "source_file", -1, href="/x?node=a"),
        GraphNode("b", "b", "dataset_version", 0, focus=True),
        GraphNode("c", "c", "run", 1),
        GraphNode("d", "d", "run", 1),
    ]
    svg = layered_graph(
        nodes,
        [GraphEdge("a", "b", "ingested_into"), GraphEdge("b", "c", "trained_on")],
        title="t",
    )
    xs = dict(re.findall(r'data-node="(\w)"[^>]*><title>[^<]*</title><rect x="([\d.]+)"', svg))
    assert float(xs["a"]) < float(xs["b"]) < float(xs["c"]) == float(xs["d"])
    assert svg.count('<path class="edge"') == 2
    assert '<a href="/x?node=a">' in svg
    assert 'class="node focus" data-node="b"' in svg
