"""The console's models pages: the versions, one version in full, two versions compared.

Anyone who may ``read`` sees them; promoting, archiving and approving need ``promote`` (and
promoting, which deploys, ``deploy`` too). Each action is a form post with the CSRF token and a
required reason, reached through a confirmation step, and audited with the signed-in user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError, Principal
from loopline.errors import LooplineError, RegistryError
from loopline.store import ModelVersion
from loopline.ui._deployments_view import required_reason
from loopline.ui._http import read_form, redirect
from loopline.ui._models_view import (
    HEADLINE,
    MODEL_ACTIONS,
    act_on_model,
    compare_view,
    model_detail,
    model_page,
    page_number,
)

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


class ModelPages:
    """The models routes' handlers, over the console's shared :class:`Pages`."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def index(self, request: Request) -> Response:
        """A page of versions with states, aliases and headline metrics."""
        pages = self.pages
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        wanted = page_number(request.query_params.get("page"))

        def work() -> dict[str, Any]:
            with pages.ws.store.transaction() as session:
                return model_page(session, pages.use_case, page=wanted)

        data = await pages.blocking(work)
        return pages.render.page(
            "models.html",
            pages.context(request, principal, active="models", headline=HEADLINE, **data),
        )

    async def detail(self, request: Request, ref: str) -> Response:
        """One version: metrics, slices, plots, gates, card, lineage and the actions."""
        try:
            principal = await self.pages.auth.require("read")(request)
        except AuthError as error:
            return self.pages.refused(request, error)
        notice = MODEL_ACTIONS.get(request.query_params.get("done", ""))
        return await self.detail_page(request, principal, ref, notice=notice)

    async def detail_page(
        self,
        request: Request,
        principal: Principal,
        ref: str,
        *,
        error: LooplineError | None = None,
        status: int = 200,
        notice: str | None = None,
    ) -> Response:
        pages = self.pages
        try:
            view = await pages.blocking(lambda: model_detail(pages.ws, ref))
        except RegistryError as missing:
            return pages.error_page(request, principal, missing, status=404)
        return pages.render.page(
            "models_detail.html",
            pages.context(
                request,
                principal,
                active="models",
                model=view,
                can_promote=principal.allows("promote"),
                can_deploy=principal.allows("deploy"),
                error=error,
                notice=notice,
            ),
            status=status,
        )

    async def act(self, request: Request, ref: str, action: str) -> Response:
        """Promote to champion, archive or approve, with a reason; re-renders on refusal."""
        pages = self.pages
        try:
            principal = await pages.auth.require("promote")(request)
            if action == "promote":  # promoting deploys the version
                principal = await pages.auth.require("deploy")(request)
        except AuthError as error:
            return pages.refused(request, error)
        if action not in MODEL_ACTIONS:
            unknown = RegistryError(
                f"There is no model action {action!r}.",
                hint=f"Use one of: {', '.join(MODEL_ACTIONS)}.",
            )
            return pages.error_page(request, principal, unknown, status=404)
        form = await read_form(request)
        try:
            reason = required_reason(form.get("reason"))
        except RegistryError as error:
            return await self.detail_page(request, principal, ref, error=error, status=400)
        try:
            await pages.blocking(
                lambda: act_on_model(
                    pages.ws, ref, action, actor=pages.actor(principal), reason=reason
                )
            )
        except LooplineError as error:  # gates refuse, the champion cannot be archived, ...
            return await self.detail_page(request, principal, ref, error=error, status=409)
        return redirect(f"/ui/models/{quote(ref, safe='@')}?done={action}")

    async def compare(self, request: Request) -> Response:
        """Two versions side by side: metrics with deltas, gates and slice gaps."""
        pages = self.pages
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        left = request.query_params.get("left", "").strip()
        right = request.query_params.get("right", "").strip()

        def versions() -> list[int]:
            with pages.ws.store.transaction() as session:
                return list(
                    session.scalars(
                        select(ModelVersion.version)
                        .where(ModelVersion.use_case == pages.use_case)
                        .order_by(ModelVersion.version.desc())
                    )
                )

        choices = await pages.blocking(versions)
        view = None
        if left and right:
            try:
                view = await pages.blocking(lambda: compare_view(pages.ws, left, right))
            except RegistryError as missing:
                return pages.error_page(request, principal, missing, status=404)
        return pages.render.page(
            "models_compare.html",
            pages.context(
                request,
                principal,
                active="models",
                compared=view,
                choices=[f"{pages.use_case}@{v}" for v in choices],
                left=left,
                right=right,
            ),
        )


def register(app: FastAPI, pages: Pages) -> None:
    """Add the models routes to ``app`` (compare before ``{ref}``, which would match it)."""
    views = ModelPages(pages)
    routes: list[tuple[str, Any, str]] = [
        ("/ui/models", views.index, "GET"),
        ("/ui/models/compare", views.compare, "GET"),
        ("/ui/models/{ref}", views.detail, "GET"),
        ("/ui/models/{ref}/{action}", views.act, "POST"),
    ]
    for path, endpoint, method in routes:
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
