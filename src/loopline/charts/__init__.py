"""Server-side SVG charts for model cards, reports and the web console."""

from __future__ import annotations

from loopline.charts._intervals import interval_chart
from loopline.charts._svg import Series, bar_chart, heatmap, line_chart

__all__ = ["Series", "bar_chart", "heatmap", "interval_chart", "line_chart"]
