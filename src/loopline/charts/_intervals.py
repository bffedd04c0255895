"""An SVG interval chart: one row per estimate, a point with its interval as an error bar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from loopline.charts._svg import _COLOURS, _label, _ticks

__all__ = ["interval_chart"]


def interval_chart(
    labels: Sequence[str],
    estimates: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    title: str,
    x_label: str,
    reference: float | None = None,
    width: int = 480,
) -> str:
    """Estimates as points with horizontal error bars (e.g. each arm's metric with its 95% CI).

    ``reference`` draws a dashed vertical line (zero difference, a bound). Rows without an
    estimate show "no data"; an interval missing either end is drawn as the point alone.
    """
    row, left, right, top = 28, 150, 24, 36
    height = top + row * len(labels) + 40
    values = [v for v in (*estimates, *lows, *highs) if v is not None and math.isfinite(v)]
    if reference is not None:
        values.append(reference)
    x0, x1 = (min(values), max(values)) if values else (0.0, 1.0)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = (x1 - x0) * 0.05
    x0, x1 = x0 - pad, x1 + pad
    inner = width - left - right

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * inner

    bottom = top + row * len(labels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    for tick in _ticks(x0, x1):
        parts.append(
            f'<line x1="{px(tick):.1f}" x2="{px(tick):.1f}" y1="{top}" y2="{bottom}" '
            f'stroke="#e5e7eb"/><text x="{px(tick):.1f}" y="{bottom + 14}" '
            f'text-anchor="middle">{_label(tick)}</text>'
        )
    parts.append(
        f'<text x="{left + inner / 2}" y="{height - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    if reference is not None:
        parts.append(
            f'<line x1="{px(reference):.1f}" x2="{px(reference):.1f}" y1="{top - 4}" '
            f'y2="{bottom}" stroke="#b45309" stroke-dasharray="6 3">'
            f"<title>reference {_label(reference)}</title></line>"
        )
    rows = zip(labels, estimates, lows, highs, strict=True)
    for index, (label, estimate, low, high) in enumerate(rows):
        y = top + row * index + row / 2
        colour = _COLOURS[index % len(_COLOURS)]
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label[:24])}</text>'
        )
        if estimate is None or not math.isfinite(estimate):
            parts.append(f'<text x="{left + 4}" y="{y + 4:.1f}" fill="#6b7482">no data</text>')
            continue
        if low is not None and high is not None:
            parts.append(
                f'<line class="error-bar" x1="{px(low):.1f}" x2="{px(high):.1f}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>'
                f'<line x1="{px(low):.1f}" x2="{px(low):.1f}" y1="{y - 6:.1f}" y2="{y + 6:.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<line x1="{px(high):.1f}" x2="{px(high):.1f}" y1="{y - 6:.1f}" '
                f'y2="{y + 6:.1f}" stroke="{colour}" stroke-width="2"/>'
            )
        shown = f"{estimate:.4g}" + (
            f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
        )
        parts.append(
            f'<circle class="estimate" cx="{px(estimate):.1f}" cy="{y:.1f}" r="5" '
            f'fill="{colour}"><title>{escape(label)}: {shown}</title></circle>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
