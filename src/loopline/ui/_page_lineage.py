"""The console's lineage pages: the graph around a node, and a prediction's trail to its data.

Read-only: every page needs the ``read`` permission. The graph is server-side SVG whose nodes
are links re-centring the page on them; a search box finds a node (``kind:key``, ``name@n``)
or a prediction by its id. The data comes from :mod:`loopline.ui._lineage_view`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError
from loopline.errors import LineageError
from loopline.ui._http import redirect
from loopline.ui._lineage_view import lineage_view, prediction_view, search_target

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


def register(app: FastAPI, pages: Pages) -> None:
    """Add the lineage routes to ``app``."""
    ws = pages.ws

    async def lineage(request: Request) -> Response:
        """The graph around ``?node=kind:key`` (the champion by default) and the node's details."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        wanted = request.query_params.get("node") or None
        try:
            data: dict[str, Any] = await pages.blocking(lambda: lineage_view(ws, wanted))
        except LineageError as error:
            return pages.error_page(request, principal, error, status=404)
        return pages.render.page(
            "lineage.html", pages.context(request, principal, active="lineage", **data)
        )

    async def search(request: Request) -> Response:
        """The search box: to a node's graph, or to a prediction's trail."""
        try:
            await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        text = request.query_params.get("q", "").strip()
        return redirect(search_target(text) if text else "/ui/lineage")

    async def prediction(request: Request, prediction_id: str) -> Response:
        """One prediction, its case and labels, and the path back to its training data."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        try:
            data = await pages.blocking(lambda: prediction_view(ws, prediction_id))
        except LineageError as error:
            return pages.error_page(request, principal, error, status=404)
        return pages.render.page(
            "lineage_prediction.html",
            pages.context(request, principal, active="lineage", **data),
        )

    app.add_api_route("/ui/lineage", lineage, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/lineage/search", search, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/ui/lineage/prediction/{prediction_id}",
        prediction,
        methods=["GET"],
        include_in_schema=False,
    )
