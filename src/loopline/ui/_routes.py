"""The reviewer UI's routes: sign-in, the queue, case pages with their actions, the metrics.

Pages need a session (else they redirect to the sign-in page) and a permission: ``read`` to
look, ``review`` to claim and decide. Every form that changes something carries the session's
CSRF token in a hidden field; the :class:`~loopline.auth.Authenticator` refuses a post without
it. Domain errors (a case someone else holds, an unknown label) re-render the page with the
message and the error's HTTP status, so what a browser sees and what a script sees agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from loopline._version import __version__
from loopline._workspace import Workspace
from loopline.auth import CSRF_COOKIE, CSRF_FIELD, Authenticator, AuthError, Principal
from loopline.errors import LooplineError, ReviewError
from loopline.review import case_dict, claim_case, decide_case, get_case
from loopline.review._webhooks import notify_decision
from loopline.serving._runtime import Runtime
from loopline.store import utcnow
from loopline.ui import (
    _page_audit,
    _page_data,
    _page_deployments,
    _page_experiments,
    _page_lineage,
    _page_models,
    _page_overview,
)
from loopline.ui._case_view import CaseViews
from loopline.ui._http import (
    LOGIN_COOKIE,
    LOGIN_FIELD,
    case_url,
    check_login_token,
    new_login_token,
    read_form,
    redirect,
    safe_next,
    set_login_cookie,
)
from loopline.ui._metrics import ReportSource, success_rows, success_targets
from loopline.ui._monitoring import monitoring_context
from loopline.ui._queue import (
    PAGE_SIZES,
    REASONS,
    STATUSES,
    QueueFilter,
    claim_next,
    count_cases,
    count_label,
    page_cases,
    queue_row,
)
from loopline.ui._render import STATIC_DIR, Renderer

__all__ = ["CONSOLE_AREAS", "Pages", "add_ui_routes"]

CONSOLE_AREAS = (
    _page_overview,
    _page_data,
    _page_lineage,
    _page_models,
    _page_deployments,
    _page_experiments,
    _page_audit,
)

T = TypeVar("T")

MAX_COMMENT = 2000

#: Messages a redirect may ask a page to show (by key, so a URL cannot inject text).
NOTICES = {
    "claimed": "You hold this case now. Decide it, skip it or escalate it.",
    "accept": "Accepted: the recommendation is recorded as the label.",
    "override": "Overridden: your label is recorded as the label.",
    "second-review": "Recorded. This case is double-reviewed: another reviewer decides it too.",
    "skip": "Skipped: the case is back in the queue for someone else.",
    "escalate": "Escalated one tier: the case is back in the queue.",
    "queue-empty": "Nothing is waiting for you: every pending case is taken or decided.",
    "signed-out": "You have signed out.",
    "monitored": "Monitored: the report below is new; alerts it raised are listed.",
}


class Pages:
    """The route handlers, sharing the workspace, the authenticator and the caches."""

    def __init__(self, ws: Workspace, auth: Authenticator, runtime: Runtime) -> None:
        self.ws = ws
        self.auth = auth
        self.render = Renderer()
        self.reports = ReportSource(ws)
        self.cases = CaseViews(ws, runtime)

    # -- helpers -----------------------------------------------------------------------------

    @property
    def use_case(self) -> str:
        return self.ws.project.spec.name

    def actor(self, principal: Principal) -> str:
        return self.ws.actor if principal.via == "anonymous" else principal.name

    async def blocking(self, work: Callable[[], T]) -> T:
        return await asyncio.to_thread(work)

    def context(
        self, request: Request, principal: Principal | None, **extra: Any
    ) -> dict[str, Any]:
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return {
            "user": principal,
            "can_review": principal is not None and principal.allows("review"),
            "can_sign_out": principal is not None and principal.via == "session",
            "csrf_field": CSRF_FIELD,
            "csrf_token": request.cookies.get(CSRF_COOKIE, ""),
            "use_case": self.use_case,
            "currency": self.ws.project.spec.objective.costs.currency,
            "now": utcnow(),
            "version": __version__,
            "notice": notice,
            "error": None,
            "active": "",
            **extra,
        }

    def refused(self, request: Request, error: AuthError) -> Response:
        """Not signed in: to the sign-in page. Signed in without the right: a 403 page."""
        if error.status == 401:
            target = str(request.url.path)
            if request.method == "GET" and request.url.query:
                target += f"?{request.url.query}"
            elif request.method != "GET":
                target = "/ui/"
            return redirect(f"/ui/login?next={quote(target, safe='/')}")
        return self.error_page(request, None, error, status=error.status)

    def error_page(
        self, request: Request, principal: Principal | None, error: LooplineError, *, status: int
    ) -> Response:
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
        return self.render.page(
            "error.html",
            self.context(
                request,
                principal,
                title=titles.get(status, "Something went wrong"),
                error=error,
                status=status,
            ),
            status=status,
        )

    # -- sign-in -----------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """The sign-in form (straight to the queue when already signed in)."""
        target = safe_next(request.query_params.get("next"))
        if not self.ws.settings.auth:
            return redirect(target)
        try:
            await self.auth.authenticate(request)
            return redirect(target)
        except AuthError:
            pass
        return self.login_page(request, target)

    def login_page(
        self,
        request: Request,
        target: str,
        *,
        error: str | None = None,
        status: int = 200,
        name: str = "",
    ) -> Response:
        token = new_login_token()
        response = self.render.page(
            "login.html",
            self.context(
                request,
                None,
                next=target,
                login_field=LOGIN_FIELD,
                login_token=token,
                login_error=error,
                name=name,
            ),
            status=status,
        )
        set_login_cookie(request, response, token)
        return response

    async def login(self, request: Request) -> Response:
        """Check the password, start a session and go where the visitor was heading."""
        form = await read_form(request)
        target = safe_next(form.get("next"))
        if not check_login_token(request, form.get(LOGIN_FIELD)):
            return self.login_page(
                request, target, error="The sign-in form expired. Please try again.", status=403
            )
        response = redirect(target)
        try:
            await self.auth.sign_in(
                request, response, form.get("name", "").strip(), form.get("password", "")
            )
        except LooplineError:
            return self.login_page(
                request,
                target,
                error="Wrong user name or password.",
                status=401,
                name=form.get("name", "").strip()[:200],
            )
        response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (a form post with the CSRF token) and return to the sign-in page."""
        try:
            await self.auth.authenticate(request)
        except AuthError as error:
            if error.status == 401:
                return redirect("/ui/login")
            return self.error_page(request, None, error, status=error.status)
        response = redirect("/ui/login?notice=signed-out")
        await self.auth.sign_out(request, response)
        return response

    # -- the queue and the metrics -----------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        """Cases by priority with SLA countdowns, filters, pages, and the headline metrics."""
        try:
            principal = await self.auth.require("read")(request)
        except AuthError as error:
            return self.refused(request, error)
        wanted = QueueFilter.from_query(request.query_params)

        def work() -> tuple[int, list[Any], dict[str, Any]]:
            with self.ws.store.transaction() as session:
                total = count_cases(session, self.use_case, wanted)
                rows = [queue_row(c) for c in page_cases(session, self.use_case, wanted)]
            return total, rows, self.reports.report()

        total, rows, report = await self.blocking(work)
        return self.render.page(
            "queue.html",
            self.context(
                request,
                principal,
                active="queue",
                rows=rows,
                total=total,
                total_label=count_label(total, wanted),
                wanted=wanted,
                report=report,
                targets=success_targets(self.ws.project.spec, report),
                statuses=list(STATUSES),
                reasons=list(REASONS),
                page_sizes=PAGE_SIZES,
            ),
        )

    async def metrics(self, request: Request) -> Response:
        """The full people-in-the-loop report against the declared success metrics."""
        try:
            principal = await self.auth.require("read")(request)
        except AuthError as error:
            return self.refused(request, error)
        report = await self.blocking(self.reports.report)
        return self.render.page(
            "metrics.html",
            self.context(
                request,
                principal,
                active="metrics",
                report=report,
                targets=success_targets(self.ws.project.spec, report),
                success=success_rows(self.ws.project.spec, report),
            ),
        )

    async def monitoring(self, request: Request) -> Response:
        """Drift heatmap, performance and its estimate over time, data quality, business, alerts."""
        try:
            principal = await self.auth.require("read")(request)
        except AuthError as error:
            return self.refused(request, error)
        data = await self.blocking(lambda: monitoring_context(self.ws))
        return self.render.page(
            "monitoring.html",
            self.context(
                request,
                principal,
                active="monitoring",
                can_run=principal.allows("train"),
                every=f"{self.ws.project.spec.monitoring.every // 60} min",
                **data,
            ),
        )

    async def run_monitor(self, request: Request) -> Response:
        """Run the monitor now (maintainers): stores a report, may raise alerts."""
        try:
            principal = await self.auth.require("train")(request)
        except AuthError as error:
            return self.refused(request, error)
        from loopline.monitoring._monitor import run_monitor

        await self.blocking(lambda: run_monitor(self.ws, actor=self.actor(principal)))
        return redirect("/ui/monitoring?notice=monitored")

    # -- a case ------------------------------------------------------------------------------

    async def case(self, request: Request, case_id: str) -> Response:
        """One case: inputs, recommendation, reasons, drivers, history and the decision form."""
        try:
            principal = await self.auth.require("read")(request)
        except AuthError as error:
            return self.refused(request, error)
        return await self.case_page(request, principal, case_id)

    async def case_page(
        self,
        request: Request,
        principal: Principal,
        case_id: str,
        *,
        error: LooplineError | None = None,
        status: int = 200,
    ) -> Response:
        try:
            view = await self.blocking(
                lambda: self.cases.build(
                    case_id, actor=self.actor(principal), can_review=principal.allows("review")
                )
            )
        except ReviewError as missing:
            missing.hint = "Check the link, or pick a case from the queue."
            return self.error_page(request, principal, missing, status=missing.status)
        return self.render.page(
            "case.html",
            self.context(request, principal, active="queue", view=view, error=error),
            status=status,
        )

    async def claim(self, request: Request, case_id: str) -> Response:
        """Claim a case with a lease (refused while someone else holds it)."""
        try:
            principal = await self.auth.require("review")(request)
        except AuthError as error:
            return self.refused(request, error)

        def work() -> None:
            with self.ws.store.transaction() as session:
                claim_case(session, case_id, actor=self.actor(principal))

        try:
            await self.blocking(work)
        except ReviewError as error:
            return await self.case_page(
                request, principal, case_id, error=error, status=error.status
            )
        return redirect(case_url(case_id, notice="claimed"))

    async def decide(self, request: Request, case_id: str) -> Response:
        """Accept, override (with a label), skip or escalate a case the reviewer holds."""
        try:
            principal = await self.auth.require("review")(request)
        except AuthError as error:
            return self.refused(request, error)
        form = await read_form(request)
        action = form.get("action", "")
        comment = form.get("comment", "").strip() or None

        def work() -> str:
            if comment is not None and len(comment) > MAX_COMMENT:
                raise ReviewError(
                    f"The comment has {len(comment):,} characters; at most {MAX_COMMENT:,} fit.",
                    status=400,
                    hint="Shorten it.",
                )
            with self.ws.store.transaction() as session:
                model_version = get_case(session, case_id).model_version
            classes = self.cases.classes(model_version)
            with self.ws.store.transaction() as session:
                decided = decide_case(
                    session,
                    case_id,
                    actor=self.actor(principal),
                    action=action,
                    label=form.get("label") or None,
                    comment=comment,
                    classes=classes,
                )
                result = case_dict(decided)
            notify_decision(
                self.ws.project.spec.serving.escalation.webhook_url,
                result,
                secret=self.ws.settings.webhook_secret,
            )
            return str(result["status"])

        try:
            status = await self.blocking(work)
        except LooplineError as error:  # a refused decision, or a model version gone missing
            return await self.case_page(
                request, principal, case_id, error=error, status=getattr(error, "status", 400)
            )
        return redirect(
            case_url(case_id, notice="second-review" if status == "second_review" else action)
        )

    async def next_case(self, request: Request) -> Response:
        """Claim the highest-priority case the reviewer may take and open it."""
        try:
            principal = await self.auth.require("review")(request)
        except AuthError as error:
            return self.refused(request, error)
        form = await read_form(request)

        def work() -> str | None:
            with self.ws.store.transaction() as session:
                found = claim_next(
                    session,
                    self.use_case,
                    actor=self.actor(principal),
                    exclude=form.get("current") or None,
                )
                return found.uid if found is not None else None

        uid = await self.blocking(work)
        if uid is None:
            return redirect("/ui/?notice=queue-empty")
        return redirect(case_url(uid, notice="claimed"))


def add_ui_routes(app: FastAPI, ws: Workspace, auth: Authenticator, runtime: Runtime) -> None:
    """Register the reviewer UI under ``/ui`` (and ``/`` redirecting to it) on ``app``.

    Args:
        app: The serving app (see :func:`loopline.serving.create_app`).
        ws: The workspace whose cases, models and prediction log the pages show.
        auth: Authenticates sessions and checks permissions and CSRF tokens.
        runtime: The serving runtime; the case page reuses its loaded models.
    """
    pages = Pages(ws, auth, runtime)

    async def home(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    routes: list[tuple[str, Callable[..., Any], str]] = [
        ("/", home, "GET"),
        ("/ui", home, "GET"),
        ("/ui/", pages.queue, "GET"),
        ("/ui/login", pages.login_form, "GET"),
        ("/ui/login", pages.login, "POST"),
        ("/ui/logout", pages.logout, "POST"),
        ("/ui/metrics", pages.metrics, "GET"),
        ("/ui/monitoring", pages.monitoring, "GET"),
        ("/ui/monitoring/run", pages.run_monitor, "POST"),
        ("/ui/next", pages.next_case, "POST"),
        ("/ui/cases/{case_id}", pages.case, "GET"),
        ("/ui/cases/{case_id}/claim", pages.claim, "POST"),
        ("/ui/cases/{case_id}/decision", pages.decide, "POST"),
    ]
    for path, endpoint, method in routes:
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
    for area in CONSOLE_AREAS:  # the console's other pages, one module per area
        area.register(app, pages)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
