"""Server-side SVG charts for model cards, reports and the web console."""

from __future__ import annotations

from loopline.charts._graph import GraphEdge, GraphNode, layered_graph
from loopline.charts._histogram import histogram
from loopline.charts._intervals import interval_chart
from loopline.charts._svg import Series, bar_chart, heatmap, line_chart

__all__ = [
    "GraphEdge",
    "GraphNode",
    "Series",
    "bar_chart",
    "heatmap",
    "histogram",
    "interval_chart",
    "layered_graph",
    "line_chart",
]
