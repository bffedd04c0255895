"""``loopline review list|show|claim|decide|metrics`` and ``loopline feedback``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table
from loopline.errors import ReviewError

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__: list[str] = []

review_app = typer.Typer(
    help="The review queue: list, claim and decide cases; metrics.", no_args_is_help=True
)
app.add_typer(review_app, name="review")

CaseId = Annotated[str, typer.Argument(help="The case id.")]


def _classes(ws: Workspace, model_version: str) -> list[Any]:
    from loopline._api_models import load_trained_model

    return list(load_trained_model(ws, model_version).classes)


@review_app.command("list")
def review_list(
    status: Annotated[
        str, typer.Option(help="open, claimed, second_review, decided (comma list).")
    ] = "open,claimed,second_review",
    limit: Annotated[int, typer.Option(help="At most this many.")] = 20,
    json_output: Json = False,
) -> None:
    """Cases by priority (expected cost of a wrong automatic decision), with SLA due times."""
    from loopline.review import case_dict, list_cases

    ws = workspace()
    with ws.store.transaction() as session:
        rows = [case_dict(c) for c in list_cases(session, status=status, limit=limit)]
    Output(json_output).result(
        rows,
        lambda: console.print(
            table(
                "review queue",
                ["case", "priority", "tier", "status", "reasons", "due (UTC)", "claimed by"],
                [
                    (
                        r["id"][:8],
                        f"{r['priority']:.1f}",
                        r["tier"],
                        r["status"],
                        ", ".join(r["reasons"]),
                        r["due_at"].strftime("%Y-%m-%d %H:%M"),
                        r["claimed_by"],
                    )
                    for r in rows
                ],
            )
        ),
    )


@review_app.command("show")
def review_show(case_id: CaseId, json_output: Json = False) -> None:
    """One case: inputs, recommendation, reasons, history."""
    from loopline.review import case_dict, get_case

    ws = workspace()
    with ws.store.transaction() as session:
        info = case_dict(get_case(session, case_id))
    Output(json_output).result(info, lambda: console.print_json(json.dumps(info, default=str)))


@review_app.command("decide")
def review_decide(
    case_id: CaseId,
    action: Annotated[str, typer.Option(help="accept | override | escalate | skip")],
    label: Annotated[str | None, typer.Option(help="The label, for override.")] = None,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    json_output: Json = False,
) -> None:
    """Claim and decide a case in one step (as the current actor)."""
    from loopline.review import case_dict, claim_case, decide_case, get_case

    ws = workspace()
    with ws.store.transaction() as session:
        model_version = get_case(session, case_id).model_version
    classes = _classes(ws, model_version)
    with ws.store.transaction() as session:
        claim_case(session, case_id, actor=ws.actor)
        info = case_dict(
            decide_case(
                session,
                case_id,
                actor=ws.actor,
                action=action,
                label=label,
                comment=comment,
                classes=classes,
            )
        )
    Output(json_output).result(
        info, lambda: console.print(f"Case {case_id[:8]}: {info['status']}.")
    )


@review_app.command("metrics")
def review_metrics(json_output: Json = False) -> None:
    """Automation, overrides, audited precision, backlog, SLA, agreement, cost — vs success."""
    from loopline.review._report import review_report
    from loopline.serving import read_predictions

    ws = workspace()
    spec = ws.project.spec
    predictions = read_predictions(ws.settings.home / "predictions", spec.name)
    with ws.store.transaction() as session:
        report = review_report(session, spec, predictions)

    def render() -> None:
        audited = report["audited"]
        rows = [
            ("predictions", report["predictions"]),
            ("automation rate", _pct(report["automation_rate"])),
            ("override rate", _pct(report["override_rate"])),
            (
                "audited accuracy",
                f"{_pct(audited['accuracy_auto'])} {_interval(audited['accuracy_interval'])}",
            ),
            (
                "audited precision",
                f"{_pct(audited['precision_auto'])} {_interval(audited['precision_interval'])}",
            ),
            ("backlog", report["backlog"]),
            ("SLA compliance", _pct(report["sla_compliance"])),
            ("agreement (kappa)", report["agreement_kappa"]),
            ("cost per 1,000", report["cost_per_1000"]),
            ("all-manual cost per 1,000", report["cost_all_manual_per_1000"]),
        ]
        console.print(table("people in the loop", ["metric", "value"], rows))
        console.print(
            table(
                "success metrics",
                ["declared", "value", "verdict"],
                [
                    (
                        s["metric"],
                        s["value"],
                        {True: "met", False: "missed", None: "unknown"}[s["met"]],
                    )
                    for s in report["success"]
                ],
            )
        )

    Output(json_output).result(report, render)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _interval(bounds: Any) -> str:
    return "" if not bounds else f"[{bounds[0]:.1%}, {bounds[1]:.1%}]"


@app.command()
def feedback(
    prediction_id: Annotated[
        str, typer.Argument(help="The prediction_id from the predict answer.")
    ],
    label: Annotated[str, typer.Argument(help="The true outcome.")],
    source: Annotated[str, typer.Option(help="label | outcome")] = "label",
    json_output: Json = False,
) -> None:
    """Record the true outcome of a prediction (idempotent; conflicting labels are refused)."""
    from loopline.review import record_feedback
    from loopline.serving import read_predictions

    ws = workspace()
    spec = ws.project.spec
    log = read_predictions(ws.settings.home / "predictions", spec.name)
    if log.filter(log["prediction_id"] == prediction_id).height == 0:
        raise ReviewError(f"No prediction {prediction_id!r} in the log.", status=404)
    value: Any = int(label) if label.lstrip("-").isdigit() else label
    with ws.store.transaction() as session:
        _, status = record_feedback(
            session,
            use_case=spec.name,
            prediction_id=prediction_id,
            label=value,
            actor=ws.actor,
            source=source,
        )
    info = {"prediction_id": prediction_id, "status": status}
    Output(json_output).result(info, lambda: console.print(f"Feedback {status}."))
