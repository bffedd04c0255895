"""``loopline init``, ``loopline check`` and ``loopline db upgrade``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from loopline._vocabulary import TEMPLATES
from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table
from loopline.errors import ProjectError

__all__: list[str] = []

db_app = typer.Typer(help="Manage the metadata store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Use-case name; also the new folder's name.")],
    template: Annotated[
        str, typer.Option(help=f"Starter to use: {' | '.join(TEMPLATES)}.")
    ] = "binary-classification",
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create it (default: ./NAME).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Create a new project with a commented loopline.yaml and a starter contract."""
    from loopline._check import check_project
    from loopline.spec import render_template

    if template not in TEMPLATES:
        raise ProjectError(
            f"Unknown template {template!r}.", hint=f"Choose one of: {', '.join(TEMPLATES)}."
        )
    if not re.match(r"^[a-z][a-z0-9_-]{0,62}$", name):
        raise ProjectError(
            f"{name!r} is not a use-case name; nothing was written.",
            hint="Start with a letter; use lower-case letters, digits, - and _ (at most 63).",
        )
    target = (directory or Path(name)).resolve()
    files = render_template(template, name)
    existing = [path for path in files if (target / path).exists()]
    if existing:
        raise ProjectError(
            f"{target} already holds {', '.join(existing)}; nothing was written.",
            hint="Choose another name or --dir, or remove the existing files.",
        )
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    check = check_project(target)
    data = {"project": str(target), "template": template, "files": sorted(files), "valid": check.ok}

    def render() -> None:
        console.print(f"Created [bold]{name}[/] in {target} from the {template} template.")
        for relative in sorted(files):
            console.print(f"  {relative}")
        console.print("Next: edit the contract and loopline.yaml, then run `loopline check`.")

    Output(json_output).result(data, render)


@app.command()
def check(json_output: Json = False) -> None:
    """Validate the project: loopline.yaml, its contract and its expressions; list every problem."""
    from loopline._check import check_project

    ws = workspace()
    result = check_project(ws.settings.project_dir)
    data: dict[str, Any] = {
        "project": str(ws.settings.project_dir),
        "ok": result.ok,
        "checked": result.checked,
        "problems": [{"file": file, **problem.to_dict()} for file, problem in result.problems],
    }

    def render() -> None:
        if result.ok:
            console.print(f"[green]OK[/]: {', '.join(result.checked)} valid.")
            return
        rows = [
            (file, problem.line, problem.path, problem.msg) for file, problem in result.problems
        ]
        console.print(table(f"{len(rows)} problem(s)", ["file", "line", "key", "problem"], rows))

    Output(json_output).result(data, render)
    if not result.ok:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(json_output: Json = False) -> None:
    """Apply pending schema migrations to the metadata store."""
    from loopline.store import open_store

    ws = workspace()
    store = open_store(ws.settings.database_url, migrate=False)
    before, after = store.upgrade()
    data = {"database": store.dialect, "from": before, "to": after}

    def render() -> None:
        if before == after:
            console.print(f"The {store.dialect} store is at the latest revision ({after}).")
        else:
            console.print(f"Upgraded the {store.dialect} store from {before} to {after}.")

    Output(json_output).result(data, render)
