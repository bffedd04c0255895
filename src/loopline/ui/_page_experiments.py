"""The console's experiments pages: the list, one experiment in full, and its two actions.

Reading needs ``read``. "Analyse now" (``train``) takes a look at the traffic and stores it,
as ``loopline experiments analyze`` does, without acting on the decision. "Stop" (``deploy``)
goes through a confirmation page that asks for a reason; the experiment ends as ``stopped``
and the deployment is left as it is. Both are audited with the signed-in user as the actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError, Principal
from loopline.errors import ExperimentError
from loopline.experiments import analyze_experiment, stop_experiment
from loopline.ui._experiments_view import experiment_context, experiments_context
from loopline.ui._http import read_form, redirect

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]

MAX_REASON = 2000

NOTICES = {
    "stopped": "Stopped: the experiment is over; the deployment is left as it is.",
    "analyzed": "Analysed: the look below is new.",
}


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


def register(app: FastAPI, pages: Pages) -> None:
    """Add the experiments routes to ``app``."""

    def context(request: Request, principal: Principal, **data: Any) -> dict[str, Any]:
        base = pages.context(request, principal, active="experiments", **data)
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return {**base, "notice": notice or base["notice"]}

    async def detail(
        request: Request,
        principal: Principal,
        experiment_id: str,
        *,
        template: str = "experiments_detail.html",
        error: ExperimentError | None = None,
        status: int = 200,
        reason: str = "",
    ) -> Response:
        try:
            data = await pages.blocking(lambda: experiment_context(pages.ws, experiment_id))
        except ExperimentError as missing:
            missing.hint = "Check the link, or pick an experiment from /ui/experiments."
            return pages.error_page(request, principal, missing, status=404)
        if data["experiment"]["use_case"] != pages.use_case:
            elsewhere = ExperimentError(
                f"Experiment {experiment_id} belongs to {data['experiment']['use_case']}, not "
                f"to {pages.use_case}.",
                hint="Open it from the console serving that use case.",
            )
            return pages.error_page(request, principal, elsewhere, status=404)
        return pages.render.page(
            template,
            context(
                request,
                principal,
                can_stop=principal.allows("deploy"),
                can_analyze=principal.allows("train"),
                error=error,
                reason=reason,
                **data,
            ),
            status=status,
        )

    async def experiments(request: Request) -> Response:
        """Every experiment of the use case, newest first, with its status and decision."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        page = _page_number(request)
        data = await pages.blocking(lambda: experiments_context(pages.ws, page=page))
        return pages.render.page("experiments.html", context(request, principal, **data))

    async def experiment(request: Request, experiment_id: str) -> Response:
        """One experiment: arms, difference, sequential test over the looks, SRM, guardrails."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        return await detail(request, principal, experiment_id)

    async def confirm_stop(request: Request, experiment_id: str) -> Response:
        """The confirmation step before stopping: what happens, and a reason to give."""
        try:
            principal = await pages.auth.require("deploy")(request)
        except AuthError as error:
            return pages.refused(request, error)
        return await detail(request, principal, experiment_id, template="experiments_stop.html")

    async def stop(request: Request, experiment_id: str) -> Response:
        """Stop a running experiment (``deploy``; a reason is required); audited."""
        try:
            principal = await pages.auth.require("deploy")(request)
        except AuthError as error:
            return pages.refused(request, error)
        form = await read_form(request)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > MAX_REASON:
            problem = ExperimentError(
                "A reason is required to stop an experiment"
                + (f" (at most {MAX_REASON:,} characters)." if reason else "."),
                hint="Say why it should end now; the reason goes into the audit trail.",
            )
            return await detail(
                request,
                principal,
                experiment_id,
                template="experiments_stop.html",
                error=problem,
                status=400,
                reason=reason[:MAX_REASON],
            )

        def work() -> None:
            with pages.ws.store.transaction() as session:
                stop_experiment(session, experiment_id, actor=pages.actor(principal), reason=reason)

        try:
            await pages.blocking(work)
        except ExperimentError as refused:
            return await detail(request, principal, experiment_id, error=refused, status=409)
        return redirect(f"/ui/experiments/{experiment_id}?notice=stopped")

    async def analyze(request: Request, experiment_id: str) -> Response:
        """Take a look at the traffic now and store it (``train``); never acts on it."""
        try:
            principal = await pages.auth.require("train")(request)
        except AuthError as error:
            return pages.refused(request, error)
        try:
            await pages.blocking(lambda: analyze_experiment(pages.ws, experiment_id))
        except ExperimentError as refused:
            return await detail(request, principal, experiment_id, error=refused, status=409)
        return redirect(f"/ui/experiments/{experiment_id}?notice=analyzed")

    routes: list[tuple[str, Any, str]] = [
        ("/ui/experiments", experiments, "GET"),
        ("/ui/experiments/{experiment_id}", experiment, "GET"),
        ("/ui/experiments/{experiment_id}/stop", confirm_stop, "GET"),
        ("/ui/experiments/{experiment_id}/stop", stop, "POST"),
        ("/ui/experiments/{experiment_id}/analyze", analyze, "POST"),
    ]
    for path, endpoint, method in routes:
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
