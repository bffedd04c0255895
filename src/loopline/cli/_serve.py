"""``loopline serve``, ``loopline deploy`` and ``loopline deployments``."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated

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
    Output(json_output).result(
        info,
        lambda: console.print(
            table(
                f"{info['use_case']} revision {info['revision']} ({info['strategy']})",
                ["model", "role", "traffic"],
                [(a["model"], a["role"], f"{a['weight']:.0%}") for a in info["arms"]],
            )
        ),
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
