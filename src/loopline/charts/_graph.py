"""A layered directed graph in SVG: nodes in columns by layer, edges as curves, nodes as links.

Made for lineage: a node's layer is its distance upstream (negative) or downstream (positive)
of the node in focus, so the graph reads left to right from source files to feedback. Each
node may carry a link (``<a href>`` inside the SVG) so a click opens it; nothing needs
JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["GraphEdge", "GraphNode", "layered_graph"]

#: Fill and outline per node kind; unknown kinds are grey.
_KIND_COLOURS = {
    "source_file": ("#f1f5f9", "#64748b"),
    "dataset_version": ("#eff6ff", "#2563eb"),
    "run": ("#fefce8", "#ca8a04"),
    "model_version": ("#f0fdf4", "#16a34a"),
    "deployment": ("#faf5ff", "#9333ea"),
    "prediction": ("#fff7ed", "#ea580c"),
    "case": ("#fef2f2", "#dc2626"),
    "feedback": ("#ecfeff", "#0891b2"),
}
_BOX_WIDTH, _BOX_HEIGHT = 168, 38
_COLUMN_GAP, _ROW_GAP = 64, 14
_MARGIN = 16
_TITLE = 28


@dataclass(frozen=True)
class GraphNode:
    """One node: its ``name`` (unique), what to print, its column and where it links to."""

    name: str
    label: str
    kind: str
    layer: int
    href: str | None = None
    focus: bool = False
    tooltip: str = ""


@dataclass(frozen=True)
class GraphEdge:
    """A directed edge between two node names, with the relation it stands for."""

    source: str
    target: str
    relation: str


def _order(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> dict[int, list[GraphNode]]:
    """Nodes per layer, ordered to keep edges short: by the mean row of their neighbours.

    One sweep outward from layer 0 in each direction (the barycentre heuristic): good enough
    for lineage, which is mostly chains and fans.
    """
    layers: dict[int, list[GraphNode]] = {}
    for node in sorted(nodes, key=lambda n: (n.kind, n.label, n.name)):
        layers.setdefault(node.layer, []).append(node)
    neighbours: dict[str, list[str]] = {}
    for edge in edges:
        neighbours.setdefault(edge.source, []).append(edge.target)
        neighbours.setdefault(edge.target, []).append(edge.source)
    layer_of = {node.name: node.layer for node in nodes}
    row: dict[str, float] = {}
    for layer in layers:
        for index, node in enumerate(layers[layer]):
            row[node.name] = index
    known = sorted(layers)
    outward = [layer for layer in known if layer > 0] + [
        layer for layer in reversed(known) if layer < 0
    ]
    for layer in outward:
        toward = layer - 1 if layer > 0 else layer + 1

        def centre(node: GraphNode, toward: int = toward) -> float:
            near = [
                row[other]
                for other in neighbours.get(node.name, [])
                if other in row and layer_of.get(other) == toward
            ]
            return sum(near) / len(near) if near else row[node.name]

        layers[layer].sort(key=centre)
        for index, node in enumerate(layers[layer]):
            row[node.name] = index
    return layers


def layered_graph(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], *, title: str) -> str:
    """An SVG of ``nodes`` in columns by layer (lowest left) with ``edges`` as curves.

    Edges between names not in ``nodes`` are skipped. Each node is a ``<g data-node=name>``
    (inside an ``<a href>`` when it has one); the focus node has a thicker outline.
    """
    layers = _order(nodes, edges)
    if not layers:
        return ""
    low = min(layers)
    tallest = max(len(members) for members in layers.values())
    width = _MARGIN * 2 + len(range(low, max(layers) + 1)) * (_BOX_WIDTH + _COLUMN_GAP)
    width -= _COLUMN_GAP
    height = _TITLE + _MARGIN * 2 + tallest * (_BOX_HEIGHT + _ROW_GAP) - _ROW_GAP
    place: dict[str, tuple[float, float]] = {}
    for layer, members in layers.items():
        x = _MARGIN + (layer - low) * (_BOX_WIDTH + _COLUMN_GAP)
        column_height = len(members) * (_BOX_HEIGHT + _ROW_GAP) - _ROW_GAP
        top = _TITLE + _MARGIN + (height - _TITLE - _MARGIN * 2 - column_height) / 2
        for index, node in enumerate(members):
            place[node.name] = (x, top + index * (_BOX_HEIGHT + _ROW_GAP))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}" font-family="sans-serif" '
        f'font-size="11" role="img" aria-label="{escape(title)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#94a3b8"/></marker></defs>',
        f'<text x="{_MARGIN}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for edge in edges:
        if edge.source not in place or edge.target not in place:
            continue
        (sx, sy), (tx, ty) = place[edge.source], place[edge.target]
        x1, y1 = sx + _BOX_WIDTH, sy + _BOX_HEIGHT / 2
        x2, y2 = tx, ty + _BOX_HEIGHT / 2
        bend = max(24.0, abs(x2 - x1) / 2)
        parts.append(
            f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f} '
            f'{x2 - bend:.1f} {y2:.1f} {x2:.1f} {y2:.1f}" fill="none" stroke="#94a3b8" '
            f'stroke-width="1.4" marker-end="url(#arrow)" data-source="{escape(edge.source)}" '
            f'data-target="{escape(edge.target)}"><title>{escape(edge.relation)}</title></path>'
        )
    for members in layers.values():
        for node in members:
            parts.append(_node(node, *place[node.name]))
    parts.append("</svg>")
    return "\n".join(parts)


def _node(node: GraphNode, x: float, y: float) -> str:
    fill, stroke = _KIND_COLOURS.get(node.kind, ("#f3f4f6", "#6b7280"))
    label = node.label if len(node.label) <= 24 else node.label[:23] + "…"
    tooltip = node.tooltip or node.name
    box = (
        f'<g class="node{" focus" if node.focus else ""}" data-node="{escape(node.name)}" '
        f'data-kind="{escape(node.kind)}"><title>{escape(tooltip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_WIDTH}" height="{_BOX_HEIGHT}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{3 if node.focus else 1.2}"/>'
        f'<text x="{x + 8:.1f}" y="{y + 15:.1f}" font-weight="bold">{escape(label)}</text>'
        f'<text x="{x + 8:.1f}" y="{y + 30:.1f}" fill="#64748b">'
        f"{escape(node.kind.replace('_', ' '))}</text></g>"
    )
    if node.href is None:
        return box
    return f'<a href="{escape(node.href)}">{box}</a>'
