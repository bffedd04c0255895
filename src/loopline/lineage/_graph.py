"""The lineage graph in the metadata store: nodes, edges, and walks up- and downstream.

A node is named ``kind:key``: ``source_file:<sha256>``, ``dataset_version:credit@3``,
``run:<id>``, ``model_version:credit-default@2``, ``deployment:…``, ``case:…``, ``feedback:…``.
An edge ``a → b`` means *a was used to make b*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopline.errors import LineageError
from loopline.store import LineageEdge, LineageNode

__all__ = ["NODE_KINDS", "LineageTree", "add_edge", "add_node", "find_node", "walk"]

#: The kinds of node the graph holds, upstream first.
NODE_KINDS = (
    "source_file",
    "dataset_version",
    "run",
    "model_version",
    "deployment",
    "prediction",
    "case",
    "feedback",
)


@dataclass
class LineageTree:
    """A node and the nodes reached from it, as a tree (shared nodes appear once per path)."""

    kind: str
    key: str
    label: str
    relation: str | None
    attrs: dict[str, Any]
    children: list[LineageTree] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The node's name, ``kind:key``."""
        return f"{self.kind}:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested form."""
        return {
            "node": self.name,
            "kind": self.kind,
            "key": self.key,
            "label": self.label,
            "relation": self.relation,
            "attrs": self.attrs,
            "children": [child.to_dict() for child in self.children],
        }

    def names(self) -> set[str]:
        """Every node name in the tree."""
        out = {self.name}
        for child in self.children:
            out |= child.names()
        return out


def add_node(
    session: Session, kind: str, key: str, *, label: str | None = None, **attrs: Any
) -> LineageNode:
    """Get or create the node ``kind:key`` (idempotent: re-adding returns the same node)."""
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown lineage node kind {kind!r}; known: {NODE_KINDS}")
    node = session.scalar(
        select(LineageNode).where(LineageNode.kind == kind, LineageNode.key == key)
    )
    if node is None:
        node = LineageNode(kind=kind, key=key, label=label or key, attrs=attrs)
        session.add(node)
        session.flush()
    return node


def add_edge(
    session: Session, source: LineageNode, target: LineageNode, relation: str
) -> LineageEdge:
    """Record that ``source`` was used to make ``target`` (idempotent)."""
    edge = session.scalar(
        select(LineageEdge).where(
            LineageEdge.source_id == source.id,
            LineageEdge.target_id == target.id,
            LineageEdge.relation == relation,
        )
    )
    if edge is None:
        edge = LineageEdge(source_id=source.id, target_id=target.id, relation=relation)
        session.add(edge)
        session.flush()
    return edge


def find_node(session: Session, name: str) -> LineageNode:
    """The node named ``kind:key``; a bare ``dataset@3`` means a dataset version.

    Raises:
        LineageError: No such node, with the nearest names to try.
    """
    kind, _, key = name.partition(":") if ":" in name else ("dataset_version", "", name)
    node = session.scalar(
        select(LineageNode).where(LineageNode.kind == kind, LineageNode.key == key)
    )
    if node is None:
        similar = session.scalars(
            select(LineageNode).where(LineageNode.key.contains(key[:20])).limit(5)
        ).all()
        suggestions = ", ".join(f"{n.kind}:{n.key}" for n in similar) or "none"
        raise LineageError(
            f"No lineage node {kind}:{key}.",
            hint=f"Name a node as kind:key (kinds: {', '.join(NODE_KINDS)}). "
            f"Similar: {suggestions}.",
        )
    return node


def walk(session: Session, node: LineageNode, *, up: bool, depth: int = 20) -> LineageTree:
    """The tree of nodes upstream (what ``node`` was made from) or downstream (what it made).

    The walk queries one level at a time, so it reads only the part of the graph it shows.
    """
    nodes: dict[int, LineageNode] = {node.id: node}
    neighbours: dict[int, list[tuple[int, str]]] = {}
    frontier = {node.id}
    for _ in range(depth):
        if not frontier:
            break
        near, far = (
            (LineageEdge.target_id, LineageEdge.source_id)
            if up
            else (
                LineageEdge.source_id,
                LineageEdge.target_id,
            )
        )
        rows = session.execute(
            select(near, far, LineageEdge.relation).where(near.in_(frontier))
        ).all()
        next_ids = set()
        for here, there, relation in rows:
            neighbours.setdefault(here, []).append((there, relation))
            if there not in nodes:
                next_ids.add(there)
        if next_ids:
            for found in session.scalars(select(LineageNode).where(LineageNode.id.in_(next_ids))):
                nodes[found.id] = found
        frontier = next_ids
    return _build(node, None, nodes, neighbours, depth, frozenset())


def _build(
    node: LineageNode,
    relation: str | None,
    nodes: dict[int, LineageNode],
    neighbours: dict[int, list[tuple[int, str]]],
    depth: int,
    seen: frozenset[int],
) -> LineageTree:
    tree = LineageTree(node.kind, node.key, node.label, relation, dict(node.attrs))
    if depth <= 0 or node.id in seen:
        return tree
    for other, rel in sorted(neighbours.get(node.id, []), key=lambda item: item[0]):
        if other in nodes:
            child = _build(nodes[other], rel, nodes, neighbours, depth - 1, seen | {node.id})
            tree.children.append(child)
    return tree
