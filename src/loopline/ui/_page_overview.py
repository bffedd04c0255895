"""The console's overview page: does each use case meet its declared success metrics?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError
from loopline.ui._overview_view import overview_context

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


def register(app: FastAPI, pages: Pages) -> None:
    """Add the overview routes to ``app``."""

    async def overview(request: Request) -> Response:
        """Every use case: success metrics met, at risk or missed; serving; alerts; backlog."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        data = await pages.blocking(
            lambda: overview_context(pages.ws, fallback=pages.reports.report)
        )
        return pages.render.page(
            "overview.html", pages.context(request, principal, active="overview", **data)
        )

    app.add_api_route("/ui/overview", overview, methods=["GET"], include_in_schema=False)
