"""How the CLI prints: rich tables for people, JSON for scripts, errors without tracebacks."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopline.errors import LooplineError

__all__ = ["Debug", "Json", "Output", "console", "err_console", "steps", "table"]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for scripts.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def to_json(data: Any) -> str:
    """Serialise a result for ``--json`` (datetimes as ISO 8601, paths as text)."""
    return json.dumps(data, indent=2, default=_default, sort_keys=False)


@dataclass
class Output:
    """Prints a command's result as JSON or as human-friendly text."""

    json: bool

    def result(self, data: Any, render: Callable[[], None]) -> None:
        """Print ``data`` as JSON, or call ``render`` to print it for people."""
        if self.json:
            sys.stdout.write(to_json(data) + "\n")
        else:
            render()

    def error(self, error: LooplineError) -> None:
        """Print a loopline error: what happened, where, and what to do."""
        if self.json:
            sys.stdout.write(to_json({"error": error.to_dict()}) + "\n")
            return
        err_console.print(f"[bold red]Error[/] [dim]({error.code})[/]: {error.message}")
        for problem in error.problems:
            where = f"line {problem.line}: " if problem.line is not None else ""
            err_console.print(f"  [red]•[/] {where}[bold]{problem.path}[/] — {problem.msg}")
        if error.hint:
            err_console.print(f"[yellow]What to do:[/] {error.hint}")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table with plain text cells (``None`` shown as a dash)."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("—" if cell is None else str(cell) for cell in row))
    return out


@contextlib.contextmanager
def steps(first: str, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time on stderr; yields a function that names the current step."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task(first, total=None)
        yield lambda step: bar.update(task, description=step)
