"""``loopline worker``, ``loopline jobs list|show|retry|cancel`` and ``loopline up``."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, err_console, table, to_json
from loopline.errors import SettingsError

if TYPE_CHECKING:
    from loopline._workspace import Workspace

__all__: list[str] = []

jobs_app = typer.Typer(
    help="The job queue: list and inspect jobs, retry failed ones, cancel.", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")

JobId = Annotated[str, typer.Argument(help="The job number (or its uid).")]
Reason = Annotated[str | None, typer.Option(help="Why; recorded in the audit trail.")]
Concurrency = Annotated[int, typer.Option(help="Jobs run at once, one thread each.")]
Modules = Annotated[
    str,
    typer.Option(
        envvar="LOOPLINE_JOB_MODULES",
        help="Comma-separated modules to import first: plugins (or tests) registering job kinds.",
    ),
]


@contextlib.contextmanager
def _opened() -> Iterator[Workspace]:
    """The workspace, its database connections closed at the end of the command."""
    ws = workspace()
    try:
        yield ws
    finally:
        ws.close()


def _stop_on_signals(stop: threading.Event, *, quiet: bool = False) -> None:
    """The first SIGTERM or SIGINT asks the worker to stop; a second interrupts at once."""

    def handle(signum: int, _frame: Any) -> None:
        if not quiet:
            err_console.print(f"{signal.Signals(signum).name}: finishing the running jobs…")
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _printer(json_output: bool) -> Any:
    def print_event(event: str, summary: dict[str, Any]) -> None:
        if json_output:
            sys.stdout.write(to_json({"event": event, **summary}).replace("\n", "") + "\n")
            sys.stdout.flush()
            return
        error = f" — {summary['error']}" if event in ("retrying", "failed") else ""
        err_console.print(
            f"job {summary['id']} ({summary['kind']}) {event}, attempt "
            f"{summary['attempts']}/{summary['max_attempts']}{error}"
        )

    return print_event


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now, print it, and exit.")
    ] = False,
    concurrency: Concurrency = 1,
    lease_seconds: Annotated[
        float, typer.Option(help="Lease of a claimed job; renewed every third of it.")
    ] = 60.0,
    poll_seconds: Annotated[float, typer.Option(help="Wait between looks when idle.")] = 1.0,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only run jobs of this kind (repeatable).")
    ] = None,
    modules: Modules = "",
    no_schedule: Annotated[
        bool, typer.Option("--no-schedule", help="Do not enqueue the scheduled monitors.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Run scheduled monitors and queued jobs until stopped (SIGTERM or Ctrl-C)."""
    from loopline.jobs import Worker, import_modules

    import_modules(modules.split(","))
    with _opened() as ws:
        runner = Worker(
            ws,
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            kinds=kind or None,
            schedule=not no_schedule,
            on_event=None if once else _printer(json_output),
        )
        if once:
            runner.run_once()
            rows = runner.processed
            Output(json_output).result(
                rows,
                lambda: console.print(
                    table(
                        f"{len(rows)} job(s) run by {runner.worker_id}",
                        ["job", "kind", "use case", "outcome", "attempt", "seconds", "error"],
                        [
                            (
                                r["id"],
                                r["kind"],
                                r["use_case"],
                                r["event"],
                                f"{r['attempts']}/{r['max_attempts']}",
                                f"{r['seconds']:.2f}",
                                _short(r["error"]),
                            )
                            for r in rows
                        ],
                    )
                ),
            )
            return
        stop = threading.Event()
        _stop_on_signals(stop)
        if not json_output:
            err_console.print(
                f"Worker {runner.worker_id} on {ws.settings.database_url.split('://')[0]} "
                f"(concurrency {concurrency}); Ctrl-C to stop."
            )
        runner.run(stop)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        str | None,
        typer.Option(help="queued, running, succeeded, failed, cancelled (comma list)."),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    json_output: Json = False,
) -> None:
    """Jobs, newest first, with their status and attempts."""
    from loopline.jobs import job_dict, list_jobs

    with _opened() as ws, ws.store.transaction() as session:
        rows = [job_dict(j) for j in list_jobs(session, status=status, kind=kind, limit=limit)]
    Output(json_output).result(
        rows,
        lambda: console.print(
            table(
                "jobs",
                ["job", "kind", "use case", "status", "attempts", "run after (UTC)", "error"],
                [
                    (
                        r["id"],
                        r["kind"],
                        r["use_case"],
                        r["status"],
                        f"{r['attempts']}/{r['max_attempts']}",
                        r["run_after"].strftime("%Y-%m-%d %H:%M:%S"),
                        _short(r["error"]),
                    )
                    for r in rows
                ],
            )
        ),
    )


def _short(text: str | None, width: int = 60) -> str | None:
    if text is None or len(text) <= width:
        return text
    return text[: width - 1] + "…"


@jobs_app.command("show")
def jobs_show(job_id: JobId, json_output: Json = False) -> None:
    """One job: payload, attempts, result or error, and the steps it completed."""
    from loopline.jobs import get_job, job_dict, list_steps

    with _opened() as ws, ws.store.transaction() as session:
        job = get_job(session, job_id)
        info = job_dict(job, list_steps(session, job.id))

    def render() -> None:
        console.print(
            f"[bold]Job {info['id']}[/] ({info['kind']}) — {info['status']}, attempt "
            f"{info['attempts']}/{info['max_attempts']}"
        )
        for key in ("use_case", "payload", "result", "error", "lease_owner", "created_at"):
            if info[key] is not None:
                console.print(f"  {key}: {info[key]}")
        console.print(
            table(
                "steps",
                ["step", "done at (UTC)", "result"],
                [
                    (s["step"], s["at"].strftime("%Y-%m-%d %H:%M:%S"), to_json(s["result"]))
                    for s in info["steps"]
                ],
            )
        )

    Output(json_output).result(info, render)


@jobs_app.command("retry")
def jobs_retry(job_id: JobId, reason: Reason = None, json_output: Json = False) -> None:
    """Queue a failed or cancelled job again; completed steps are not run again."""
    from loopline.jobs import job_dict, retry

    with _opened() as ws, ws.store.transaction() as session:
        info = job_dict(retry(session, job_id, actor=ws.actor, reason=reason))
    Output(json_output).result(
        info, lambda: console.print(f"Job {info['id']} ({info['kind']}) queued again.")
    )


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId, reason: Reason = None, json_output: Json = False) -> None:
    """Cancel a queued or running job (a running one stops at its next step)."""
    from loopline.jobs import cancel, job_dict

    with _opened() as ws, ws.store.transaction() as session:
        info = job_dict(cancel(session, job_id, actor=ws.actor, reason=reason))
    Output(json_output).result(
        info, lambda: console.print(f"Job {info['id']} ({info['kind']}) cancelled.")
    )


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    concurrency: Concurrency = 1,
    modules: Modules = "",
    json_output: Json = False,
) -> None:
    """The server and a worker in one process (the embedded default); both stop together."""
    import uvicorn

    from loopline.cli._serve import _is_loopback
    from loopline.jobs import Worker, import_modules
    from loopline.serving._app import create_app

    import_modules(modules.split(","))
    with _opened() as ws:
        if not ws.settings.auth and not _is_loopback(host):
            raise SettingsError(
                f"Refusing to listen on {host} with LOOPLINE_AUTH=off: without authentication the "
                "server only serves loopback addresses.",
                hint="Turn authentication on (unset LOOPLINE_AUTH) or listen on 127.0.0.1.",
            )
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(ws), host=host, port=port, log_level="warning", access_log=False
            )
        )
        runner = Worker(ws, concurrency=concurrency, on_event=_printer(json_output))
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,), name="worker", daemon=True)
        info = {
            "host": host,
            "port": port,
            "docs": f"http://{host}:{port}/docs",
            "worker": runner.worker_id,
        }
        Output(json_output).result(
            info,
            lambda: console.print(
                f"Serving {ws.project.spec.name} on http://{host}:{port} (OpenAPI at /docs) with "
                f"worker {runner.worker_id}"
            ),
        )
        sys.stdout.flush()
        # uvicorn shuts down on SIGTERM / Ctrl-C, then re-raises the signal to the handler it
        # found: ours, which stops the worker instead of killing the process mid-job.
        _stop_on_signals(stop, quiet=True)
        thread.start()
        try:
            server.run()
        finally:
            stop.set()
            thread.join()
