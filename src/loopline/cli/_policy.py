"""``loopline policy tune``: the confidence threshold meeting a target, checked on unseen rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table

if TYPE_CHECKING:
    from loopline.review import TunedPolicy

__all__: list[str] = []

policy_app = typer.Typer(
    help="Tune a model version's escalation policy from its held-out rows.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")

_VERDICT = {True: "[green]met[/]", False: "[red]missed[/]", None: "[yellow]unknown[/]"}


def _rate(value: Any) -> str | None:
    return None if value is None else f"{value:.3f}"


def _interval(value: Any) -> str | None:
    return None if value is None else f"[{value[0]:.3f}, {value[1]:.3f}]"


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:,.0f}"


def _render(tuned: TunedPolicy) -> None:
    currency = tuned.costs["currency"]
    console.print(
        table(
            f"coverage-risk on the tuning half ({tuned.split['tuning_rows']} rows)",
            ["threshold", "automation", "precision_auto", "accuracy_auto", f"cost/1000 {currency}"],
            [
                (
                    f"[bold]→ {row['threshold']:.4f}[/]"
                    if row["chosen"]
                    else f"{row['threshold']:.4f}",
                    _rate(row["automation_rate"]),
                    _rate(row["precision_auto"]),
                    _rate(row["accuracy_auto"]),
                    _money(row["cost_per_1000"]),
                )
                for row in tuned.nearby
            ],
        )
    )
    target = tuned.target
    console.print(
        f"Policy [bold]#{tuned.policy_id}[/] for [bold]{tuned.model}[/]: escalate when confidence "
        f"< [bold]{tuned.threshold:.4f}[/] (target {target['metric']} >= {target['value']:g})"
    )
    delivered = tuned.delivered
    rows = []
    for metric in ("automation_rate", "precision_auto", "accuracy_auto"):
        if tuned.promised.get(metric) is None and tuned.verified.get(metric) is None:
            continue
        ok = delivered[metric]
        rows.append(
            (
                metric,
                _rate(tuned.promised.get(metric)),
                _rate(tuned.verified.get(metric)),
                _interval(tuned.verified.get(f"{metric}_interval")),
                None if ok is None else ("[green]yes[/]" if ok else "[red]no[/]"),
            )
        )
    rows.append(
        (
            f"cost_per_1000 {currency}",
            _money(tuned.promised["cost_per_1000"]),
            _money(tuned.verified["cost_per_1000"]),
            None,
            None,
        )
    )
    console.print(
        table(
            f"promised (tuning half) vs verified ({tuned.split['verification_rows']} other rows)",
            ["metric", "promised", "verified", "verified 95% interval", "promise inside"],
            rows,
        )
    )
    costs = tuned.costs
    console.print(
        f"Cost per 1,000 decisions: {_money(costs['policy'])} {currency} with this policy, "
        f"{_money(costs['all_manual'])} all manual, {_money(costs['no_escalation'])} "
        "with no escalation."
    )
    console.print(
        table(
            "success metrics (verification half)",
            ["metric", "declared", "value", "verdict"],
            [
                (s["metric"], s["declared"], _rate(s["value"]), _VERDICT[s["met"]])
                for s in tuned.success
            ],
        )
    )
    console.print(f"Coverage-risk chart: {tuned.chart}")


@policy_app.command("tune")
def policy_tune(
    target: Annotated[
        str,
        typer.Option(
            help="METRIC=VALUE: automation_rate=0.70, precision_auto=0.95 or accuracy_auto=0.9."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(help="USE_CASE@VERSION (default: the champion, else the latest candidate)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the audit trail.")] = None,
    json_output: Json = False,
) -> None:
    """Choose the confidence threshold that meets a target; verify it on unseen held-out rows."""
    from loopline.review import tune_policy

    tuned = tune_policy(workspace(), model_ref=model, target=target, reason=reason)
    Output(json_output).result(tuned.to_dict(), lambda: _render(tuned))
