"""Small server-side SVG charts: no JavaScript, no CDN; readable in any browser or viewer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "bar_chart", "heatmap", "line_chart"]

_COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
_PAD = {"left": 56, "right": 16, "top": 32, "bottom": 44}


@dataclass(frozen=True)
class Series:
    """One line: a name and its points (``None`` values break the line)."""

    name: str
    x: Sequence[float]
    y: Sequence[float | None]
    dashed: bool = False
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for multiple in (1, 2, 5, 10):
        if (high - low) / (step * multiple) <= count:
            step *= multiple
            break
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    width: int = 480,
    height: int = 320,
    target: float | None = None,
    x_labels: Sequence[str] | None = None,
) -> str:
    """An SVG line chart of one or more series, with axes, ticks and a legend.

    A series with ``low``/``high`` gets a shaded band (an interval); ``target`` draws a dashed
    horizontal line (a declared bound); ``x_labels`` replaces numeric x ticks with one label per
    x position ``0 .. n-1`` (for time series).
    """
    xs = [x for s in series for x in s.x]
    ys = [y for s in series for y in s.y if y is not None]
    ys += [v for s in series for v in (*(s.low or ()), *(s.high or ())) if v is not None]
    if target is not None:
        ys.append(target)
    x0, x1 = x_range or ((min(xs), max(xs)) if xs else (0.0, 1.0))
    y0, y1 = y_range or ((min(ys), max(ys)) if ys else (0.0, 1.0))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    inner_w = width - _PAD["left"] - _PAD["right"]
    inner_h = height - _PAD["top"] - _PAD["bottom"]

    def px(x: float) -> float:
        return _PAD["left"] + (x - x0) / (x1 - x0) * inner_w

    def py(y: float) -> float:
        return _PAD["top"] + (1 - (y - y0) / (y1 - y0)) * inner_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>',
        f'<rect x="{_PAD["left"]}" y="{_PAD["top"]}" width="{inner_w}" height="{inner_h}" '
        'fill="none" stroke="#9ca3af"/>',
    ]
    x_ticks = _ticks(x0, x1) if x_labels is None else list(range(len(x_labels)))
    step = max(1, len(x_ticks) // 6)
    for tick in x_ticks[::step] if x_labels is not None else x_ticks:
        text = _label(tick) if x_labels is None else x_labels[int(tick)]
        parts.append(
            f'<line x1="{px(tick):.1f}" x2="{px(tick):.1f}" y1="{_PAD["top"]}" '
            f'y2="{_PAD["top"] + inner_h}" stroke="#e5e7eb"/>'
            f'<text x="{px(tick):.1f}" y="{_PAD["top"] + inner_h + 14}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    for tick in _ticks(y0, y1):
        parts.append(
            f'<line x1="{_PAD["left"]}" x2="{_PAD["left"] + inner_w}" y1="{py(tick):.1f}" '
            f'y2="{py(tick):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{_PAD["left"] - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">'
            f"{_label(tick)}</text>"
        )
    parts.append(
        f'<text x="{_PAD["left"] + inner_w / 2}" y="{height - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text transform="translate(14 {_PAD["top"] + inner_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" y2="{py(y1):.1f}" '
            'stroke="#9ca3af" stroke-dasharray="4 3"/>'
        )
    if target is not None:
        parts.append(
            f'<line x1="{_PAD["left"]}" x2="{_PAD["left"] + inner_w}" y1="{py(target):.1f}" '
            f'y2="{py(target):.1f}" stroke="#b45309" stroke-dasharray="6 3">'
            f"<title>target {_label(target)}</title></line>"
        )
    for index, line in enumerate(series):
        colour = _COLOURS[index % len(_COLOURS)]
        if line.low is not None and line.high is not None:
            band = [
                (x, lo, hi)
                for x, lo, hi in zip(line.x, line.low, line.high, strict=True)
                if lo is not None and hi is not None
            ]
            if band:
                upper = " ".join(f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in band)
                lower = " ".join(f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(band))
                parts.append(
                    f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" '
                    f'stroke="none"><title>{escape(line.name)} interval</title></polygon>'
                )
        path, pen_down = [], False
        for x, y in zip(line.x, line.y, strict=True):
            if y is None or not math.isfinite(y):
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{px(x):.1f},{py(y):.1f}")
            pen_down = True
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"{dash}>'
            f"<title>{escape(line.name)}</title></path>"
        )
        legend_y = _PAD["top"] + 14 + 14 * index
        parts.append(
            f'<line x1="{_PAD["left"] + 8}" x2="{_PAD["left"] + 24}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{_PAD["left"] + 28}" y="{legend_y}">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], *, title: str, width: int = 480
) -> str:
    """A horizontal SVG bar chart (e.g. feature importance), largest first as given."""
    row, left = 18, 150
    height = _PAD["top"] + row * len(labels) + 12
    top = max((abs(v) for v in values), default=1.0) or 1.0
    inner = width - left - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = _PAD["top"] + row * index
        length = abs(value) / top * inner
        parts.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label[:24])}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 6}" '
            f'fill="{_COLOURS[0]}"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 12}">{value:.3g}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    flags: Sequence[Sequence[bool]] | None = None,
    scale: float = 0.3,
    cell: int = 18,
) -> str:
    """An SVG heatmap: ``values[r][c]`` shaded from white (0) to red (``scale`` or more).

    Flagged cells (e.g. alarms) get a dark outline; ``None`` cells are grey (not measured).
    """
    left, top = 150, 40
    # few columns get wider cells, so a short history still reads as a chart
    wide = max(cell, min(48, 720 // len(columns))) if columns else cell
    width = max(left + wide * len(columns) + 16, left + 420)
    height = top + cell * len(rows) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for r, name in enumerate(rows):
        y = top + r * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell * 0.7:.1f}" text-anchor="end">{escape(name)}</text>'
        )
        for c, column in enumerate(columns):
            value = values[r][c]
            if value is None or not math.isfinite(value):
                fill = "#e5e7eb"
            else:
                strength = max(0.0, min(1.0, value / scale)) if scale > 0 else 0.0
                green_blue = int(255 * (1 - strength))
                fill = f"rgb(255,{green_blue},{green_blue})"
            flagged = bool(flags and flags[r][c])
            stroke = ' stroke="#111827" stroke-width="2"' if flagged else ' stroke="#ffffff"'
            shown = "not measured" if value is None else f"{value:.3f}"
            parts.append(
                f'<rect x="{left + c * wide}" y="{y}" width="{wide}" height="{cell}" '
                f'fill="{fill}"{stroke} data-row="{escape(name)}" data-column="{escape(column)}">'
                f"<title>{escape(name)} · {escape(column)}: {shown}"
                f"{' (alarm)' if flagged else ''}</title></rect>"
            )
    step = max(1, len(columns) // 8)
    for c in range(0, len(columns), step):
        parts.append(
            f'<text x="{left + c * wide + wide / 2:.1f}" y="{top + cell * len(rows) + 14}" '
            f'text-anchor="middle">{escape(columns[c])}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
