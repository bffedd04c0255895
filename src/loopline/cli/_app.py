"""The ``loopline`` command: the Typer app, global options, and error handling.

Exit codes (also in docs/cli.md):

| code | meaning                                                                   |
|------|---------------------------------------------------------------------------|
| 0    | success                                                                   |
| 1    | the command ran and the answer is "no": problems found, batch refused     |
| 2    | the command line itself is wrong (unknown option, missing argument)       |
| 3    | bad input: project file, contract, data, expression, unknown name         |
| 4    | the environment failed: database unreachable, storage not writable        |
| 70   | an internal error in loopline (a bug: please report it, with --debug)     |
| 130  | interrupted                                                               |
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli._output import Output, err_console
from loopline.errors import LooplineError

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__ = ["app", "main", "workspace"]

app = typer.Typer(
    name="loopline",
    help="loopline: the production loop for machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state: dict[str, Path | None] = {"project": None}


def _exception_modules() -> list[Any]:
    """Click's exception modules: typer >= 0.25 vendors click, older typer uses click itself."""
    modules: list[Any] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


_MODULES = _exception_modules()
_EXIT: tuple[type[BaseException], ...] = tuple(m.Exit for m in _MODULES if hasattr(m, "Exit"))
_ABORT: tuple[type[BaseException], ...] = (
    typer.Abort,
    *(m.Abort for m in _MODULES if hasattr(m, "Abort")),
)
_USAGE: tuple[type[BaseException], ...] = tuple(m.ClickException for m in _MODULES)


@app.callback()
def _root(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder (default: the current folder)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """loopline: contracts, versioned datasets, gated models, serving, review and monitoring."""
    _state["project"] = project


def workspace() -> Workspace:
    """The workspace of the project chosen with ``--project`` (or the current folder)."""
    from loopline._workspace import open_workspace  # the store's modules: not for --help

    return open_workspace(_state["project"])


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script calls this)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [arg for arg in args if arg != "--debug"]  # accepted anywhere on the line
    output = Output(json="--json" in args)
    try:
        result = app(args=args, prog_name="loopline", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 0))
    except _ABORT:
        err_console.print("Aborted.")
        return 130
    except _USAGE as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except LooplineError as exc:
        if debug:
            traceback.print_exc()
        output.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return 130
    except Exception as exc:  # an unexpected error is a bug in loopline
        if debug:
            traceback.print_exc()
        err_console.print(
            f"[bold red]Internal error[/]: {type(exc).__name__}: {exc}\n"
            "This is a bug in loopline. Run again with --debug and report the traceback."
        )
        return 70
    return result if isinstance(result, int) else 0
