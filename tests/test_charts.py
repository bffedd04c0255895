"""Server-side SVG charts: what is drawn follows the data (parsed as XML, not string-matched)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from loopline.charts import Series, heatmap, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_a_heatmap_has_a_cell_per_value_shaded_by_size_and_outlined_when_flagged() -> None:
    svg = ET.fromstring(
        heatmap(
            ["a", "b"],
            ["t1", "t2", "t3"],
            [[0.0, 0.15, None], [0.3, 0.6, 0.05]],
            flags=[[False, False, False], [True, True, False]],
            title="drift",
            scale=0.3,
        )
    )
    cells = {(r.get("data-row"), r.get("data-column")): r for r in svg.iter(f"{SVG}rect")}
    assert len(cells) == 6
    assert cells[("a", "t1")].get("fill") == "rgb(255,255,255)"
    assert cells[("a", "t2")].get("fill") == "rgb(255,127,127)"
    assert cells[("b", "t1")].get("fill") == "rgb(255,0,0)"
    assert cells[("b", "t2")].get("fill") == "rgb(255,0,0)"  # capped at the scale
    assert cells[("a", "t3")].get("fill") == "#e5e7eb"  # not measured
    outlined = {k for k, r in cells.items() if r.get("stroke") == "#111827"}
    assert outlined == {("b", "t1"), ("b", "t2")}


def test_a_line_chart_draws_bands_and_a_target_line() -> None:
    svg = ET.fromstring(
        line_chart(
            [
                Series(
                    "with band",
                    [0, 1, 2],
                    [0.7, 0.8, None],
                    low=[0.6, 0.7, None],
                    high=[0.8, 0.9, None],
                ),
                Series("plain", [0, 1, 2], [0.5, 0.55, 0.6]),
            ],
            title="t",
            x_label="x",
            y_label="y",
            target=0.75,
            x_labels=["mon", "tue", "wed"],
        )
    )
    polygons = list(svg.iter(f"{SVG}polygon"))
    assert len(polygons) == 1  # only the series with an interval
    assert len(polygons[0].get("points", "").split()) == 4  # two points up, two back
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert "target 0.75" in titles
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"mon", "tue", "wed"} <= set(labels)
