"""The console's deployments page: what serves now, canary and shadow figures, the history.

Anyone who may ``read`` sees it; rolling back and promoting a challenger, canary or shadow need
``deploy``. Each is a form post with the CSRF token and a required reason, reached through a
confirmation step, and audited with the signed-in user as the actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError, Principal
from loopline.errors import LooplineError, RegistryError
from loopline.ui._deployments_view import (
    deployment_page,
    promote_arm,
    required_reason,
    roll_back,
)
from loopline.ui._http import read_form, redirect
from loopline.ui._models_view import page_number

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]

#: Messages shown after an action, by the key the redirect carries.
DONE = {
    "rollback": "Rolled back: the deployment below is the new revision.",
    "promote": "Promoted: the model below is the champion and serves all traffic.",
}


class DeploymentPages:
    """The deployments routes' handlers, over the console's shared :class:`Pages`."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def index(self, request: Request) -> Response:
        """The current deployment, its canary or shadow figures and the revision history."""
        try:
            principal = await self.pages.auth.require("read")(request)
        except AuthError as error:
            return self.pages.refused(request, error)
        notice = DONE.get(request.query_params.get("done", ""))
        return await self.page(request, principal, notice=notice)

    async def page(
        self,
        request: Request,
        principal: Principal,
        *,
        error: LooplineError | None = None,
        status: int = 200,
        notice: str | None = None,
    ) -> Response:
        pages = self.pages
        wanted = page_number(request.query_params.get("page"))
        data = await pages.blocking(lambda: deployment_page(pages.ws, pages.use_case, page=wanted))
        return pages.render.page(
            "deployments.html",
            pages.context(
                request,
                principal,
                active="deployments",
                can_deploy=principal.allows("deploy"),
                error=error,
                notice=notice,
                **data,
            ),
            status=status,
        )

    async def act(self, request: Request, action: str) -> Response:
        """Roll back, or promote an arm to champion; re-renders the page when refused."""
        pages = self.pages
        try:
            principal = await pages.auth.require("deploy")(request)
        except AuthError as error:
            return pages.refused(request, error)
        if action not in DONE:
            unknown = RegistryError(
                f"There is no deployment action {action!r}.",
                hint=f"Use one of: {', '.join(DONE)}.",
            )
            return pages.error_page(request, principal, unknown, status=404)
        form = await read_form(request)
        try:
            reason = required_reason(form.get("reason"))
        except RegistryError as error:
            return await self.page(request, principal, error=error, status=400)
        actor = pages.actor(principal)

        def work() -> dict[str, Any]:
            if action == "rollback":
                return roll_back(pages.ws, pages.use_case, actor=actor, reason=reason)
            return promote_arm(
                pages.ws, pages.use_case, form.get("model", ""), actor=actor, reason=reason
            )

        try:
            await pages.blocking(work)
        except LooplineError as error:  # nothing to roll back, gates refuse, ...
            return await self.page(request, principal, error=error, status=409)
        return redirect(f"/ui/deployments?done={action}")


def register(app: FastAPI, pages: Pages) -> None:
    """Add the deployments routes to ``app``."""
    views = DeploymentPages(pages)
    app.add_api_route("/ui/deployments", views.index, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/ui/deployments/{action}", views.act, methods=["POST"], include_in_schema=False
    )
