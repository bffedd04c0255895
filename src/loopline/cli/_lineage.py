"""``loopline lineage up|down`` and ``loopline audit``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.tree import Tree

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table

if TYPE_CHECKING:
    from loopline.lineage import LineageTree

__all__: list[str] = []

lineage_app = typer.Typer(help="Follow lineage up- or downstream.", no_args_is_help=True)
app.add_typer(lineage_app, name="lineage")

Node = Annotated[
    str,
    typer.Argument(
        help="kind:key (e.g. dataset_version:credit@2, source_file:<sha256>) or NAME@V."
    ),
]
Depth = Annotated[int, typer.Option(help="How many steps to follow.")]


def _render(tree: LineageTree) -> Tree:

    def label(node: LineageTree) -> str:
        relation = f"[dim]{node.relation}[/] " if node.relation else ""
        return f"{relation}[bold]{node.kind}[/] {node.label} [dim]({node.key[:40]})[/]"

    root = Tree(label(tree))

    def add(parent: Tree, node: LineageTree) -> None:
        for child in node.children:
            add(parent.add(label(child)), child)

    add(root, tree)
    return root


@lineage_app.command("up")
def lineage_up(node: Node, depth: Depth = 20, json_output: Json = False) -> None:
    """What NODE was made from: source files, dataset versions, runs…"""
    from loopline import _api

    tree = _api.lineage(workspace(), node, up=True, depth=depth)
    Output(json_output).result(tree.to_dict(), lambda: console.print(_render(tree)))


@lineage_app.command("down")
def lineage_down(node: Node, depth: Depth = 20, json_output: Json = False) -> None:
    """What was made from NODE: later versions, runs, models, deployments…"""
    from loopline import _api

    tree = _api.lineage(workspace(), node, up=False, depth=depth)
    Output(json_output).result(tree.to_dict(), lambda: console.print(_render(tree)))


@app.command()
def audit(
    action: Annotated[
        str | None, typer.Option(help="Action prefix, e.g. dataset or model.promote.")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target, e.g. credit@2.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only events at or after this time (UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 50,
    json_output: Json = False,
) -> None:
    """The audit trail: who did what, when, to what and why (newest first)."""
    from loopline import _api

    if since is not None and since.tzinfo is None:
        from datetime import timezone

        since = since.replace(tzinfo=timezone.utc)
    events = _api.audit(
        workspace(), action=action, actor=actor, target=target, since=since, limit=limit
    )
    rows = [
        (e["at"].strftime("%Y-%m-%d %H:%M:%S"), e["actor"], e["action"], e["target"], e["reason"])
        for e in events
    ]
    Output(json_output).result(
        events,
        lambda: console.print(
            table("audit trail", ["at (UTC)", "actor", "action", "target", "reason"], rows)
        ),
    )
