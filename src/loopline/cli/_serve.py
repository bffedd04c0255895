"""``loopline serve``, ``loopline deploy`` and ``loopline deployments``."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated, Any

import typer

from loopline._vocabulary import STRATEGIES
from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, table
from loopline.errors import SettingsError

__all__: list[str] = []


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes, each with its own models.")] = 1,
    json_output: Json = False,
) -> None:
    """Serve the deployed models: loopline API, MLflow /invocations, Open Inference /v2."""
    import uvicorn

    ws = workspace()
    if not ws.settings.auth and not _is_loopback(host):
        raise SettingsError(
            f"Refusing to listen on {host} with LOOPLINE_AUTH=off: without authentication the "
            "server only serves loopback addresses.",
            hint="Turn authentication on (unset LOOPLINE_AUTH) or listen on 127.0.0.1.",
        )
    ws.project  # noqa: B018  (validate the project before binding the port)
    os.environ["LOOPLINE_PROJECT"] = str(ws.settings.project_dir)
    info = {"host": host, "port": port, "workers": workers, "docs": f"http://{host}:{port}/docs"}
    Output(json_output).result(
        info,
        lambda: console.print(
            f"Serving {ws.project.spec.name} on http://{host}:{port} (OpenAPI at /docs)"
        ),
    )
    uvicorn.run(
        "loopline.serving._factory:make_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="USE_CASE@VERSION to deploy.")],
    strategy: Annotated[str, typer.Option(help=" | ".join(STRATEGIES))] = "direct",
    weight: Annotated[float, typer.Option(help="Challenger's share of traffic (ab).")] = 0.5,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the audit trail.")] = None,
    json_output: Json = False,
) -> None:
    """Deploy a model version (gates must pass); running servers reload within seconds."""
    from loopline import _api_serving

    info = _api_serving.deploy_model(
        workspace(), model, strategy=strategy, reason=reason, weight=weight
    )

    def render() -> None:
        console.print(
            table(
                f"{info['use_case']} revision {info['revision']} ({info['strategy']})",
                ["model", "role", "traffic"],
                [(a["model"], a["role"], f"{a['weight']:.0%}") for a in info["arms"]],
            )
        )
        _print_policy(info.get("policy"))

    Output(json_output).result(info, render)


def _print_policy(policy: dict[str, Any] | None) -> None:
    """What the decision policy does on the deployed version's held-out rows, in business terms."""
    if not policy:
        return
    threshold = policy["confidence_below"]
    rule = "no confidence threshold" if threshold is None else f"confidence below {threshold:.3f}"
    precision = policy["precision_auto"]
    console.print(
        f"Decisions of {policy['model']} ({rule}: {policy['source']}) on {policy['rows']:,} "
        f"held-out rows, by confidence alone: {policy['automation_rate']:.1%} automatic"
        + ("" if precision is None else f", precision of automatic positives {precision:.3f}")
        + f", {policy['cost_per_1000']:,.0f} {policy['currency'] or ''} per 1,000 predictions."
    )
    tunable = ("automation_rate", "precision_auto", "accuracy_auto")
    for item in policy["success"]:
        if item["met"] is False:
            low_high = policy.get(f"{item['metric']}_interval")
            band = (
                "" if not low_high else f" (95 % interval {low_high[0]:.3f} to {low_high[1]:.3f})"
            )
            # a threshold tuned on half the rows lands near its bound on all of them
            close = low_high is not None and low_high[0] <= item["bound"] <= low_high[1]
            verdict = "missed, the bound inside the interval" if close else "missed"
            console.print(f"  [yellow]{item['declared']}: {item['value']:.3f}{band} — {verdict}[/]")
    missed = [i for i in policy["success"] if i["met"] is False and i["metric"] in tunable]
    if missed and policy["source"] == "project file":
        first = missed[0]
        written = first["declared"].split(first["op"])[-1].strip()  # the bound as declared
        console.print(
            f"  Tune the threshold: loopline policy tune --model {policy['model']} "
            f"--target {first['metric']}={written}"
        )


@app.command()
def deployments(
    use_case: Annotated[
        str | None, typer.Argument(help="Use case (default: the project's).")
    ] = None,
    json_output: Json = False,
) -> None:
    """What a use case serves now: models, roles, traffic weights."""
    from loopline import _api_serving

    info = _api_serving.deployment_info(workspace(), use_case)

    def render() -> None:
        if info is None:
            console.print("Nothing is deployed yet; see `loopline deploy`.")
            return
        console.print(
            table(
                f"{info['use_case']} revision {info['revision']} ({info['strategy']})",
                ["model", "role", "traffic"],
                [(a["model"], a["role"], f"{a['weight']:.0%}") for a in info["arms"]],
            )
        )

    Output(json_output).result(info, render)
