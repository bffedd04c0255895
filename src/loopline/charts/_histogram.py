"""A small SVG histogram from stored bin edges and counts (a dataset profile's, say)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["histogram"]

_BAR = "#2563eb"


def _short(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value:.3g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def histogram(
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    title: str,
    width: int = 240,
    height: int = 84,
) -> str:
    """An SVG of ``counts`` over the bins ``edges`` (one more edge than counts).

    Each bar is a ``<rect class="bar">`` with a ``<title>`` giving its bin and count; the axis
    shows the first and last edge. No bins draw an empty frame with the title.
    """
    if len(edges) != len(counts) + 1 and counts:
        raise ValueError(f"a histogram needs one more edge than counts, got {len(edges)} edges")
    top, bottom, side = 14, 16, 4
    inner_w, inner_h = width - 2 * side, height - top - bottom
    tallest = max(counts, default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="10" role="img" aria-label="{escape(title)}">',
        f'<text x="{side}" y="10" fill="#475569">{escape(title)}</text>',
        f'<line x1="{side}" x2="{width - side}" y1="{top + inner_h}" y2="{top + inner_h}" '
        'stroke="#cbd5e1"/>',
    ]
    step = inner_w / len(counts) if counts else inner_w
    for index, count in enumerate(counts):
        bar = inner_h * count / tallest
        parts.append(
            f'<rect class="bar" x="{side + index * step + 0.5:.1f}" y="{top + inner_h - bar:.1f}" '
            f'width="{max(step - 1, 0.5):.1f}" height="{bar:.1f}" fill="{_BAR}">'
            f"<title>[{_short(edges[index])}, {_short(edges[index + 1])}): {count:,}</title>"
            "</rect>"
        )
    if counts:
        parts.append(
            f'<text x="{side}" y="{height - 3}" fill="#64748b">{escape(_short(edges[0]))}</text>'
            f'<text x="{width - side}" y="{height - 3}" text-anchor="end" fill="#64748b">'
            f"{escape(_short(edges[-1]))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
