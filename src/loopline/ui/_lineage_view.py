"""The lineage pages' data: a node's neighbourhood as a layered graph, and a prediction's trail.

The neighbourhood is walked one level at a time in each direction, keeping at most
:data:`PER_LEVEL` new nodes a level (the rest are counted, not loaded): a feedback dataset made
of a hundred thousand labels still draws a readable graph from a few small queries. Layers are
longest-path distances inside the nodes kept, so every edge points left to right.

A prediction is found in the prediction log with a lazy, filtered Parquet scan (never the whole
log in memory); its trail is its model version's upstream lineage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.charts import GraphEdge, GraphNode, layered_graph
from loopline.errors import LineageError
from loopline.lineage import NODE_KINDS, find_node
from loopline.registry import current_alias
from loopline.store import (
    Case,
    Dataset,
    DatasetVersion,
    Feedback,
    LineageEdge,
    LineageNode,
    ModelVersion,
)

__all__ = [
    "PER_LEVEL",
    "default_node",
    "lineage_view",
    "node_href",
    "node_link",
    "prediction_view",
    "search_target",
]

#: New nodes kept per level and direction; more are counted and reported as hidden.
PER_LEVEL = 12
#: Levels walked in each direction from the node in focus.
DEPTH = 6
#: Edges listed in a node's details (per direction).
EDGE_LIST = 50
#: The main trail from a model version back to its data: these kinds; others are counted.
TRAIL_KINDS = ("model_version", "run", "dataset_version", "source_file")

#: Nodes left out of a graph: per layer, how many of each kind.
Hidden = dict[int, dict[str, int]]


def node_link(name: str) -> str:
    """The lineage page centred on the node ``kind:key``."""
    return f"/ui/lineage?node={quote(name, safe=':@')}"


def node_href(kind: str, key: str) -> str | None:
    """The node's own console page, if it has one (a dataset version's data page, a case…)."""
    if kind == "dataset_version" and "@" in key:
        name, _, number = key.rpartition("@")
        return f"/ui/data/{quote(name)}/{number}" if number.isdigit() else None
    if kind == "model_version":
        return f"/ui/models/{quote(key, safe='@')}"
    if kind == "case":
        return f"/ui/cases/{quote(key)}"
    if kind == "deployment":
        return "/ui/deployments"
    if kind == "prediction":
        return f"/ui/lineage/prediction/{quote(key)}"
    if kind == "feedback":
        return f"/ui/lineage/prediction/{quote(key.partition(':')[0])}"
    return None


def default_node(session: Session, use_case: str) -> str | None:
    """The champion model version's node name; else the newest model or dataset version."""
    champion = current_alias(session, use_case, "champion")
    if champion is not None:
        return f"model_version:{champion.use_case}@{champion.version}"
    newest = session.scalar(
        select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    )
    if newest is not None:
        return f"model_version:{newest.use_case}@{newest.version}"
    node = session.scalar(
        select(LineageNode)
        .where(LineageNode.kind == "dataset_version")
        .order_by(LineageNode.id.desc())
        .limit(1)
    )
    return f"{node.kind}:{node.key}" if node is not None else None


def _level(
    session: Session, frontier: set[int], known: set[int], *, up: bool
) -> tuple[list[LineageNode], dict[str, int]]:
    """The next level's nodes not yet known (at most :data:`PER_LEVEL`), and counts per kind."""
    near, far = (
        (LineageEdge.target_id, LineageEdge.source_id)
        if up
        else (LineageEdge.source_id, LineageEdge.target_id)
    )
    condition = near.in_(frontier) & far.not_in(known)
    counts = session.execute(
        select(LineageNode.kind, func.count(distinct(LineageNode.id)))
        .join(LineageEdge, far == LineageNode.id)
        .where(condition)
        .group_by(LineageNode.kind)
    ).all()
    ids = session.scalars(select(far).where(condition).distinct().order_by(far).limit(PER_LEVEL))
    wanted = list(ids)
    found = session.scalars(select(LineageNode).where(LineageNode.id.in_(wanted))).all()
    return sorted(found, key=lambda node: node.id), {kind: int(n) for kind, n in counts}


def _longest(
    start: int, members: set[int], edges: list[tuple[int, int, str]], *, up: bool
) -> dict[int, int]:
    """Longest-path distance of each member from ``start`` along the edges among them."""
    distance = {start: 0}
    for _ in range(len(members) + 1):
        changed = False
        for source, target, _relation in edges:
            here, there = (target, source) if up else (source, target)
            reachable = here in distance and there in members and there != start
            if reachable and distance.get(there, -1) < distance[here] + 1:
                distance[there] = distance[here] + 1
                changed = True
        if not changed:
            break
    return distance


def _neighbourhood(
    session: Session, focus: LineageNode, *, up: bool = True, down: bool = True
) -> tuple[dict[int, LineageNode], dict[int, int], list[tuple[int, int, str]], Hidden]:
    """Nodes around ``focus``, their layers, the edges among them and hidden counts per layer."""
    nodes = {focus.id: focus}
    sides: dict[bool, set[int]] = {True: set(), False: set()}
    hidden: Hidden = {}
    for direction in [d for d, wanted in ((True, up), (False, down)) if wanted]:
        frontier = {focus.id}
        for level in range(1, DEPTH + 1):
            found, counts = _level(session, frontier, set(nodes), up=direction)
            for node in found:
                counts[node.kind] -= 1
            left_out = {kind: n for kind, n in sorted(counts.items()) if n > 0}
            if left_out:
                hidden[-level if direction else level] = left_out
            if not found:
                break
            for node in found:
                nodes[node.id] = node
                sides[direction].add(node.id)
            frontier = {node.id for node in found}
    ids = list(nodes)
    edges = [
        (source, target, relation)
        for source, target, relation in session.execute(
            select(LineageEdge.source_id, LineageEdge.target_id, LineageEdge.relation)
            .where(LineageEdge.source_id.in_(ids), LineageEdge.target_id.in_(ids))
            .order_by(LineageEdge.id)
        ).all()
    ]
    layers = {focus.id: 0}
    for direction, sign in ((True, -1), (False, 1)):
        members = sides[direction] | {focus.id}
        for node_id, distance in _longest(focus.id, members, edges, up=direction).items():
            if node_id != focus.id and node_id not in layers:
                layers[node_id] = sign * distance
    return nodes, layers, edges, hidden


def _name(node: LineageNode) -> str:
    return f"{node.kind}:{node.key}"


def _graph(
    nodes: dict[int, LineageNode],
    layers: dict[int, int],
    edges: Iterable[tuple[int, int, str]],
    *,
    focus: int,
    title: str,
    shift: int = 0,
    extra: Iterable[GraphNode] = (),
    extra_edges: Iterable[GraphEdge] = (),
) -> str:
    shown = [
        GraphNode(
            name=_name(node),
            label=node.label,
            kind=node.kind,
            layer=layers[node_id] + shift,
            href=node_link(_name(node)),
            focus=node_id == focus,
            tooltip=f"{node.kind.replace('_', ' ')} {node.key}",
        )
        for node_id, node in nodes.items()
        if node_id in layers
    ]
    lines = [
        GraphEdge(_name(nodes[source]), _name(nodes[target]), relation)
        for source, target, relation in edges
        if source in layers and target in layers
    ]
    return layered_graph([*shown, *extra], [*lines, *extra_edges], title=title)


def _edge_list(session: Session, node: LineageNode, *, up: bool) -> dict[str, Any]:
    """The node's edges in one direction (at most :data:`EDGE_LIST`) and how many there are."""
    near, far = (
        (LineageEdge.target_id, LineageEdge.source_id)
        if up
        else (LineageEdge.source_id, LineageEdge.target_id)
    )
    total = int(session.scalar(select(func.count()).where(near == node.id)) or 0)
    rows = session.execute(
        select(LineageNode, LineageEdge.relation)
        .join(LineageEdge, far == LineageNode.id)
        .where(near == node.id)
        .order_by(LineageEdge.id)
        .limit(EDGE_LIST)
    ).all()
    return {
        "total": total,
        "edges": [
            {
                "relation": relation,
                "node": _name(other),
                "label": other.label,
                "kind": other.kind,
                "link": node_link(_name(other)),
            }
            for other, relation in rows
        ],
    }


def _details(session: Session, node: LineageNode) -> dict[str, Any]:
    return {
        "name": _name(node),
        "kind": node.kind,
        "key": node.key,
        "label": node.label,
        "created_at": node.created_at,
        "attrs": dict(node.attrs),
        "href": node_href(node.kind, node.key),
        "upstream": _edge_list(session, node, up=True),
        "downstream": _edge_list(session, node, up=False),
    }


def lineage_view(ws: Workspace, name: str | None) -> dict[str, Any]:
    """What ``lineage.html`` shows: the graph around ``name`` (default: the champion) and details.

    Raises:
        LineageError: No node of that name.
    """
    with ws.store.transaction() as session:
        name = name or default_node(session, ws.project.spec.name)
        if name is None:
            return {"node": None, "graph": None, "hidden": [], "kinds": NODE_KINDS}
        focus = find_node(session, name)
        nodes, layers, edges, hidden = _neighbourhood(session, focus)
        details = _details(session, focus)
    graph = _graph(
        nodes, layers, edges, focus=focus.id, title=f"Lineage of {focus.kind} {focus.label}"
    )
    return {
        "node": details,
        "graph": graph,
        "node_count": len(layers),
        "edge_count": len(edges),
        "hidden": _hidden_rows(hidden),
        "kinds": NODE_KINDS,
    }


def _hidden_rows(hidden: Hidden) -> list[dict[str, Any]]:
    return [
        {
            "layer": layer,
            "side": "upstream" if layer < 0 else "downstream",
            "kinds": ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in kinds.items()),
        }
        for layer, kinds in sorted(hidden.items())
    ]


def search_target(text: str) -> str:
    """Where the lineage search box leads: a node (``kind:key``, ``name@n``) or a prediction."""
    text = text.strip()
    kind, sep, _key = text.partition(":")
    if sep and kind in NODE_KINDS:
        return node_link(text)
    if "@" in text and not text.startswith("@"):
        return node_link(f"dataset_version:{text}")
    return f"/ui/lineage/prediction/{quote(text)}"


def _logged(home: Path, use_case: str, prediction_id: str) -> dict[str, Any] | None:
    """The prediction's record in the log (a lazy scan filtered on its id), or ``None``."""
    folder = home / "predictions" / use_case
    if not any(folder.glob("date=*/*.parquet")):
        return None
    found = (
        pl.scan_parquet(str(folder / "date=*" / "*.parquet"), hive_partitioning=False)
        .filter(pl.col("prediction_id") == prediction_id)
        .head(1)
        .collect()
    )
    if found.height == 0:
        return None
    record = found.row(0, named=True)
    record["inputs"] = json.loads(record["inputs"]) if record.get("inputs") else {}
    record["prediction"] = json.loads(record["prediction"]) if record.get("prediction") else None
    return record


def _trail(
    nodes: dict[int, LineageNode], layers: dict[int, int], edges: list[tuple[int, int, str]]
) -> list[dict[str, Any]]:
    """The model version's upstream as steps, nearest first; the data a run trained on marked."""
    trained_on = {source for source, _target, relation in edges if relation == "trained_on"}
    steps: dict[int, list[dict[str, Any]]] = {}
    for node_id, layer in layers.items():
        node = nodes[node_id]
        if node.kind not in TRAIL_KINDS:
            continue
        steps.setdefault(-layer, []).append(
            {
                "name": _name(node),
                "kind": node.kind,
                "key": node.key,
                "label": node.label,
                "link": node_link(_name(node)),
                "href": node_href(node.kind, node.key),
                "training_data": node_id in trained_on,
            }
        )
    return [
        {"depth": depth, "nodes": sorted(found, key=lambda n: (n["kind"], n["label"]))}
        for depth, found in sorted(steps.items())
    ]


def _also(nodes: dict[int, LineageNode], layers: dict[int, int], hidden: Hidden) -> str:
    """The upstream nodes off the main trail (labels, cases…), counted by kind, as text."""
    counts: dict[str, int] = {}
    for node_id in layers:
        if nodes[node_id].kind not in TRAIL_KINDS:
            counts[nodes[node_id].kind] = counts.get(nodes[node_id].kind, 0) + 1
    for kinds in hidden.values():
        for kind, n in kinds.items():
            counts[kind] = counts.get(kind, 0) + n
    return ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))


def prediction_view(ws: Workspace, prediction_id: str) -> dict[str, Any]:
    """A prediction, its case and feedback, and the trail back to its training data.

    Raises:
        LineageError: The prediction is not in the log (404).
    """
    use_case = ws.project.spec.name
    record = _logged(ws.settings.home, use_case, prediction_id)
    if record is None:
        raise LineageError(
            f"No prediction {prediction_id!r} in the prediction log of {use_case}.",
            hint="Copy the id from a case page or an API answer (prediction_id), "
            "or search for a lineage node as kind:key.",
        )
    model = str(record["model_version"])
    with ws.store.transaction() as session:
        case = session.scalar(select(Case).where(Case.prediction_id == prediction_id))
        feedback = session.execute(
            select(Feedback, Dataset.name, DatasetVersion.version)
            .join(DatasetVersion, DatasetVersion.id == Feedback.dataset_version_id, isouter=True)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id, isouter=True)
            .where(Feedback.prediction_id == prediction_id)
            .order_by(Feedback.id)
        ).all()
        try:
            start = find_node(session, f"model_version:{model}")
        except LineageError:
            start = None
        graph, trail, also = None, [], ""
        if start is not None:
            nodes, layers, edges, hidden = _neighbourhood(session, start, down=False)
            trail = _trail(nodes, layers, edges)
            also = _also(nodes, layers, hidden)
            me = GraphNode(
                name=f"prediction:{prediction_id}",
                label=f"prediction {prediction_id[:8]}",
                kind="prediction",
                layer=0,
                focus=True,
                tooltip=f"prediction {prediction_id}",
            )
            graph = _graph(
                nodes,
                layers,
                edges,
                focus=-1,
                shift=-1,
                title=f"From prediction {prediction_id[:8]} back to its data",
                extra=[me],
                extra_edges=[GraphEdge(_name(start), me.name, "predicted")],
            )
        case_info = (
            {
                "id": case.uid,
                "status": case.status,
                "decision": case.decision,
                "decided_by": case.decided_by,
                "reasons": list(case.reasons),
                "link": f"/ui/cases/{case.uid}",
            }
            if case is not None
            else None
        )
        labels = [
            {
                "source": row.source,
                "label": row.label,
                "actor": row.actor,
                "created_at": row.created_at,
                "dataset_version": f"{dataset}@{version}" if dataset else None,
            }
            for row, dataset, version in feedback
        ]
    return {
        "prediction": record,
        "model_version": model,
        "model_link": node_link(f"model_version:{model}"),
        "case": case_info,
        "feedback": labels,
        "trail": trail,
        "also": also,
        "graph": graph,
    }
