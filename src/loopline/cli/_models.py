"""``loopline train``, ``loopline models …`` and ``loopline rollback``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, steps, table

__all__: list[str] = []

models_app = typer.Typer(
    help="List, inspect, compare, promote and archive model versions.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

Ref = Annotated[str, typer.Argument(help="USE_CASE@VERSION or USE_CASE@champion.")]
Reason = Annotated[str | None, typer.Option(help="Why; recorded in the audit trail.")]


def _fmt(value: Any) -> str | None:
    if isinstance(value, float):
        return f"{value:.4g}"
    return None if value is None else str(value)


def _gate_table(gates: list[dict[str, Any]]) -> Any:
    colour = {"passed": "green", "failed": "red", "pending": "yellow", "skipped": "dim"}
    return table(
        "gates",
        ["gate", "verdict", "measured", "bound"],
        [
            (
                g["gate"],
                f"[{colour.get(g['verdict'], 'white')}]{g['verdict']}[/]",
                _fmt(g["measured"]),
                _fmt(g["bound"]),
            )
            for g in gates
        ],
    )


@app.command()
def train(
    dataset: Annotated[
        str | None, typer.Option(help="NAME@VERSION to train on (default: latest).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Train, evaluate and gate a model on a dataset version; register it as a new version."""
    from loopline import _api_models as api

    ws = workspace()
    with steps("training", quiet=json_output) as say:
        result = api.train_model(ws, dataset=dataset, progress=say)

    def render() -> None:
        colour = "red" if result.state == "rejected" else "green"
        console.print(
            f"Registered [bold]{result.use_case}@{result.version}[/] "
            f"([{colour}]{result.state}[/]) from {result.dataset} in {result.duration_s:.1f} s"
        )
        keys = [
            "roc_auc",
            "pr_auc",
            "ece",
            "brier",
            "log_loss",
            "precision",
            "recall",
            "threshold",
            "cost_per_1000",
            "conformal_coverage",
            "latency_p99_ms",
            "rmse",
            "mae",
            "r2",
        ]
        console.print(
            table(
                "held-out metrics",
                ["metric", "value"],
                [(k, _fmt(result.metrics[k])) for k in keys if k in result.metrics],
            )
        )
        console.print(_gate_table(result.gates))

    Output(json_output).result(result.to_dict(), render)
    if result.state == "rejected":
        raise typer.Exit(1)


@models_app.command("list")
def models_list(
    use_case: Annotated[str | None, typer.Option(help="Only this use case.")] = None,
    json_output: Json = False,
) -> None:
    """Model versions with state, aliases and headline metrics."""
    from loopline import _api_models as api

    rows = api.list_models(workspace(), use_case)
    Output(json_output).result(
        rows,
        lambda: console.print(
            table(
                "model versions",
                ["model", "state", "aliases", "roc_auc", "ece", "cost/1000", "created"],
                [
                    (
                        r["model"],
                        r["state"],
                        ", ".join(r["aliases"]),
                        _fmt(r["roc_auc"]),
                        _fmt(r["ece"]),
                        _fmt(r["cost_per_1000"]),
                        r["created_at"].strftime("%Y-%m-%d %H:%M"),
                    )
                    for r in rows
                ],
            )
        ),
    )


@models_app.command("show")
def models_show(
    ref: Ref,
    card: Annotated[bool, typer.Option(help="Print the model card.")] = False,
    json_output: Json = False,
) -> None:
    """A version's metrics, gates and signature (--card prints its model card)."""
    from loopline import _api_models as api

    ws = workspace()
    info = api.show_model(ws, ref)
    text = api.model_card(ws, ref) if card else None

    def render() -> None:
        if text is not None:
            console.print(text, markup=False)
            return
        console.print(f"[bold]{info['model']}[/] {info['state']} {' '.join(info['aliases'])}")
        console.print(
            table(
                "metrics", ["metric", "value"], [(k, _fmt(v)) for k, v in info["metrics"].items()]
            )
        )
        console.print(_gate_table(info["gates"]))

    Output(json_output).result(info | ({"card_markdown": text} if text else {}), render)


@models_app.command("compare")
def models_compare(left: Ref, right: Ref, json_output: Json = False) -> None:
    """Two versions' metrics side by side."""
    from loopline import _api_models as api

    diff = api.compare_models(workspace(), left, right)
    Output(json_output).result(
        diff,
        lambda: console.print(
            table(
                f"{diff['left']} vs {diff['right']}",
                ["metric", diff["left"], diff["right"], "difference"],
                [
                    (r["metric"], _fmt(r["left"]), _fmt(r["right"]), _fmt(r["difference"]))
                    for r in diff["metrics"]
                ],
            )
        ),
    )


@models_app.command("promote")
def models_promote(
    ref: Ref,
    to: Annotated[str, typer.Option(help="challenger | shadow | canary | champion")] = "champion",
    reason: Reason = None,
    json_output: Json = False,
) -> None:
    """Promote a version; refused, with the failing gates listed, unless every gate passes."""
    from loopline import _api_models as api

    info = api.promote_model(workspace(), ref, to=to, reason=reason)
    Output(json_output).result(
        info, lambda: console.print(f"{info['model']} is now {info['state']}.")
    )


@models_app.command("archive")
def models_archive(ref: Ref, reason: Reason = None, json_output: Json = False) -> None:
    """Retire a version."""
    from loopline import _api_models as api

    info = api.archive_model(workspace(), ref, reason=reason)
    Output(json_output).result(info, lambda: console.print(f"{info['model']} is archived."))


@models_app.command("approve")
def models_approve(ref: Ref, reason: Reason = None, json_output: Json = False) -> None:
    """Approve a version, for gates that require a person's approval."""
    from loopline import _api_models as api

    info = api.approve_model(workspace(), ref, reason=reason)
    Output(json_output).result(info, lambda: console.print(_gate_table(info["gates"])))


@app.command()
def rollback(
    use_case: Annotated[str, typer.Argument(help="The use case whose champion to roll back.")],
    reason: Reason = None,
    json_output: Json = False,
) -> None:
    """Put the previous champion back in production (one step back; audited)."""
    from loopline import _api_models as api

    info = api.rollback_champion(workspace(), use_case, reason=reason)
    Output(json_output).result(
        info,
        lambda: console.print(
            f"{use_case}: champion rolled back from version {info['from']} to {info['to']}."
        ),
    )
