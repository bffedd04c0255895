"""``loopline retrain``: ask for a retraining (the worker runs it; ``--now`` runs it here)."""

from __future__ import annotations

from typing import Annotated

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table

__all__: list[str] = []


@app.command("retrain")
def retrain(
    now: Annotated[
        bool, typer.Option("--now", help="Run the job in this process instead of the worker.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")] = "manual",
    json_output: Json = False,
) -> None:
    """Retrain: latest data + feedback → train → gates → deploy as `retraining.then` says."""
    from loopline.jobs import Worker, get_job, job_dict
    from loopline.retraining import request_retraining

    ws = workspace()
    try:
        job = request_retraining(ws, trigger=reason)
        if now:
            Worker(ws, kinds=["retrain"], schedule=False, poll_seconds=0.01).run_once()
            with ws.store.transaction() as session:
                job = job_dict(get_job(session, job["id"]))
    finally:
        ws.close()

    def render() -> None:
        result = job.get("result") or {}
        rows = [
            ("job", f"{job['id']} ({job['status']})"),
            ("trigger", reason),
            ("training data", (result.get("data") or {}).get("dataset")),
            ("model", result.get("model")),
            ("outcome", result.get("outcome")),
        ]
        console.print(table("retraining", ["", ""], rows))
        if not now:
            console.print("The worker runs it: `loopline worker` (or `loopline jobs show ID`).")

    Output(json_output).result(job, render)
