"""``loopline experiments list|show|analyze|stop``: A/B experiments on live traffic."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__: list[str] = []

experiments_app = typer.Typer(
    help="A/B experiments: per-arm estimates, intervals, the sequential test and the decision.",
    no_args_is_help=True,
)
app.add_typer(experiments_app, name="experiments")

ExperimentId = Annotated[str, typer.Argument(help="The experiment number (or its uid).")]


@contextlib.contextmanager
def _opened() -> Iterator[Workspace]:
    """The workspace, its database connections closed at the end of the command."""
    ws = workspace()
    try:
        yield ws
    finally:
        ws.close()


def _number(value: Any, digits: int = 4) -> str | None:
    return None if value is None else f"{value:.{digits}g}"


def _interval(low: Any, high: Any) -> str | None:
    return None if low is None else f"{_number(low)} to {_number(high)}"


def _render(info: dict[str, Any]) -> None:
    """The experiment: its plan, each arm, the comparison and the decision."""
    config = info["config"]
    console.print(
        f"[bold]Experiment {info['id']}[/] — {info['use_case']}: {info['champion']} (champion) "
        f"vs {info['challenger']} (challenger), {info['status']}"
    )
    better = "higher" if info["higher_is_better"] else "lower"
    console.print(
        f"Primary metric {info['primary_metric']} ({better} is better); alpha "
        f"{config['alpha']}, planned {config['planned_n']} labelled answers per arm, "
        f"tau {_number(config['tau'])}"
    )
    analysis = info.get("analysis")
    if not analysis:
        console.print("Not analysed yet: `loopline experiments analyze`.")
        return
    arms = analysis["arms"]
    console.print(
        table(
            f"Arms at {analysis['window']['end']}",
            [
                "arm",
                "model",
                "answers",
                "labelled",
                "estimate",
                "interval",
                "escalation",
                "latency ms",
            ],
            [
                (
                    role,
                    arm["model"],
                    arm["answers"],
                    arm["labelled"],
                    _number(arm["estimate"]),
                    _interval(arm["ci_low"], arm["ci_high"]),
                    _number(arm["escalation_rate"], 3),
                    _number(arm["latency_ms"], 3),
                )
                for role, arm in arms.items()
            ],
        )
    )
    comparison, sequential = analysis["comparison"], analysis["sequential"]
    if comparison is not None and sequential is not None:
        console.print(
            f"Difference {_number(comparison['difference'])} "
            f"(interval {_interval(comparison['ci_low'], comparison['ci_high'])}, "
            f"p = {_number(comparison['p_value'], 2)}); always-valid p = "
            f"{_number(sequential['p_value'], 2)}, confidence sequence "
            f"{_interval(sequential['ci_low'], sequential['ci_high'])}"
        )
    if analysis["srm"] is not None:
        srm = analysis["srm"]
        flag = "MISMATCH" if srm["mismatch"] else "ok"
        console.print(f"Sample ratio: {flag} (p = {_number(srm['p_value'], 2)})")
    for guardrail in analysis["guardrails"]:
        state = "BREACHED" if guardrail["breached"] else "ok"
        console.print(
            f"Guardrail {guardrail['name']}: {_number(guardrail['control'])} → "
            f"{_number(guardrail['treatment'])} (max increase {guardrail['max_increase']}) {state}"
        )
    console.print(f"[bold]Decision: {analysis['decision']}[/] — {info['reason']}")
    action = analysis.get("action")
    if action:
        console.print(f"Action: {action['taken'] or 'none'} — {action['message']}")


@experiments_app.command("list")
def list_command(
    use_case: Annotated[
        str | None, typer.Argument(help="Use case (default: every use case).")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only running, decided or stopped experiments.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Experiments, newest first, with their arms, status and decision."""
    from loopline.experiments import experiment_dict, list_experiments

    with _opened() as ws, ws.store.transaction() as session:
        rows = [
            experiment_dict(row, analysis=False)
            for row in list_experiments(session, use_case, status=status)
        ]
    Output(json_output).result(
        rows,
        lambda: console.print(
            table(
                f"{len(rows)} experiment(s)",
                ["id", "champion", "challenger", "status", "decision", "looks"],
                [
                    (
                        r["id"],
                        r["champion"],
                        r["challenger"],
                        r["status"],
                        r["decision"],
                        r["looks"],
                    )
                    for r in rows
                ],
            )
        ),
    )


@experiments_app.command("show")
def show_command(experiment: ExperimentId, json_output: Json = False) -> None:
    """One experiment: plan, per-arm estimates and intervals, and its last analysis."""
    from loopline.experiments import experiment_dict, get_experiment

    with _opened() as ws, ws.store.transaction() as session:
        info = experiment_dict(get_experiment(session, experiment))
    Output(json_output).result(info, lambda: _render(info))


@experiments_app.command("analyze")
def analyze_command(
    experiment: Annotated[
        str | None, typer.Argument(help="The experiment (default: the project's running one).")
    ] = None,
    act: Annotated[
        bool,
        typer.Option(
            "--act", help="Carry out a final decision: promote, or roll back on harm/no difference."
        ),
    ] = False,
    json_output: Json = False,
) -> None:
    """Analyse an experiment now from the prediction log and labels; store the look."""
    from loopline.experiments import analyze_experiment

    with _opened() as ws:
        info = analyze_experiment(ws, experiment, act=act)
    Output(json_output).result(info, lambda: _render(info))


@experiments_app.command("stop")
def stop_command(
    experiment: ExperimentId,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the audit trail.")] = None,
    json_output: Json = False,
) -> None:
    """Stop a running experiment without a decision (the deployment is left as it is)."""
    from loopline.experiments import experiment_dict, stop_experiment

    with _opened() as ws, ws.store.transaction() as session:
        info = experiment_dict(
            stop_experiment(session, experiment, actor=ws.actor, reason=reason), analysis=False
        )
    Output(json_output).result(
        info,
        lambda: console.print(
            f"Experiment {info['id']} stopped; {info['use_case']} still serves both arms until "
            "`loopline rollback` or a new deployment."
        ),
    )
