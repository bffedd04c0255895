"""``loopline demo``: create a fresh demo project and run the loop on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopline.cli._app import app
from loopline.cli._output import Json, Output, console, err_console, table

__all__: list[str] = []


_SHORT = {
    "prediction_drift": "score drift",
    "success_metrics": "success",
    "data_quality": "quality",
}


def _render_loop(step: dict[str, Any]) -> None:
    def experiment(value: str | None) -> str | None:
        return value.replace("stop_no_difference", "no difference") if value else None

    console.print(
        table(
            "the loop, window by window",
            [
                "#",
                "traffic",
                "champion/challenger",
                "reviewed",
                "labels",
                "drift",
                "alerts",
                "A/B test",
            ],
            [
                (
                    w["window"],
                    w["segment"],
                    f"{w['arms'].get('champion', 0)}/{w['arms'].get('challenger', 0)}",
                    w["reviewed"],
                    w["labels"],
                    f"{w['drift_share']:.0%}" if w["drift_share"] is not None else None,
                    ", ".join(_SHORT.get(a, a) for a in w["alerts"]) or None,
                    experiment(w.get("experiment")),
                )
                for w in step["windows"]
            ],
        )
    )
    for event in step["events"]:
        detail = event["detail"]
        if event["event"] == "drift detected":
            text = f"{len(detail)} features: {', '.join(detail[:6])}" + (
                " …" if len(detail) > 6 else ""
            )
        elif event["event"].startswith("retraining"):
            text = (
                f"{detail['model']} trained on {detail['training_data']} "
                f"(+{detail['feedback_rows']} new labelled rows)"
                + (f", deployed as {detail['strategy']}" if detail.get("strategy") else "")
            )
        else:
            text = detail.get("reason", "")
            action = detail.get("action") or {}
            if action.get("message"):
                text += f" → {action['message']}"
        console.print(f"  window {event['window']}: [bold]{event['event']}[/] — {text}")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the demo project.")
    ] = Path("loopline-demo"),
    seed: Annotated[
        int, typer.Option(help="Seed for every random choice (same seed, same run).")
    ] = 42,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Exit when done instead of serving (implied by CI=true)."),
    ] = False,
    json_output: Json = False,
) -> None:
    """Run the loop on the bundled credit-default example, with the embedded defaults."""
    from loopline.demo import create_demo_project, run_demo
    from loopline.settings import load_settings

    project = create_demo_project(directory)
    settings = load_settings(project_dir=project)
    if not json_output:
        console.print(f"Demo project: [bold]{project}[/] (SQLite and local files under .loopline/)")
    say = (
        (lambda message: None)
        if json_output
        else (lambda message: err_console.print(f"  {message}"))
    )
    summary = run_demo(settings, seed=seed, say=say)

    def render() -> None:
        ingests = [s for s in summary.steps if s["step"] == "ingest"]
        console.print(
            table(
                "ingest",
                ["file", "status", "version", "rows in", "versioned", "quarantined"],
                [
                    (
                        s["file"],
                        s["status"],
                        s["version"],
                        s["rows_in"],
                        s["rows_versioned"],
                        s["rows_quarantined"],
                    )
                    for s in ingests
                ],
            )
        )
        for step in summary.steps:
            if step["step"] == "quarantine":
                console.print(
                    table(
                        "quarantine by failed check",
                        ["check", "rows"],
                        list(step["by_check"].items()),
                    )
                )
            elif step["step"] == "diff":
                console.print(
                    f"diff {step['left']} → {step['right']}: +{step['added']} rows, "
                    f"-{step['removed']} rows"
                )
            elif step["step"] == "lineage":
                console.print(f"lineage of {step['node']}: {', '.join(step['upstream'])}")
            elif step["step"] == "train":
                console.print(
                    table(
                        f"model {step['model']} ({step['state']})",
                        ["metric", "value"],
                        [
                            (k, f"{v:.4g}" if isinstance(v, float) else v)
                            for k, v in step["metrics"].items()
                        ],
                    )
                )
                console.print(
                    table(
                        "gates",
                        ["gate", "verdict"],
                        [(g["gate"], g["verdict"]) for g in step["gates"]],
                    )
                )
            elif step["step"] == "deploy":
                console.print(f"{step['model']} deployed as champion (revision {step['revision']})")
            elif step["step"] == "policy":
                console.print(
                    f"decision threshold tuned for {step['target']}: escalate below "
                    f"{step['confidence_below']:.3f} confidence (verified automation "
                    f"{step['verified']['automation_rate']:.1%} on held-out rows)"
                )
            elif step["step"] == "loop":
                _render_loop(step)
            elif step["step"] == "outcome":
                console.print(
                    table(
                        f"closing summary — champion {step['champion']}",
                        ["declared success metric", "measured", "verdict"],
                        [
                            (
                                s["metric"],
                                f"{s['value']:.3f}"
                                if isinstance(s["value"], float)
                                else s["value"],
                                {True: "met", False: "MISSED", None: "not measured"}[s["met"]],
                            )
                            for s in step["success"]
                        ],
                    )
                )
            elif step["step"] == "access":
                console.print(
                    f"web UI user [bold]{step['user']}[/], password {step['password']}; "
                    f"API token (admin): {step['token']}"
                )
            elif step["step"] == "openlineage":
                console.print(f"{step['events']} OpenLineage events in {step['file']}")
        console.print(f"\nExplore: cd {project} && loopline datasets show credit@2")

    Output(json_output).result(summary.to_dict(), render)
    if no_serve or settings.ci or not any(s["step"] == "deploy" for s in summary.steps):
        return
    import uvicorn

    from loopline._workspace import Workspace
    from loopline.serving import create_app

    console.print(
        "\nServing on http://127.0.0.1:8000 (OpenAPI at /docs); Ctrl-C to stop.\n"
        "Try: curl -s -H 'Authorization: Bearer <the API token above>' "
        "localhost:8000/v2/models/credit-default"
    )
    uvicorn.run(create_app(Workspace(settings)), host="127.0.0.1", port=8000, log_level="warning")
