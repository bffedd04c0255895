"""The console's data pages: datasets and versions, one version, a diff between two versions.

Read-only: every page needs the ``read`` permission and changes nothing. The data comes from
:mod:`loopline.ui._data_view`; the handlers only parse the request and render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError
from loopline.errors import DatasetError
from loopline.ui._data_view import (
    Window,
    dataset_summaries,
    diff_view,
    quarantine_page,
    version_detail,
    version_rows,
)

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


def _version_number(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise DatasetError(
            f"The diff version {text!r} of {name!r} is not a version number.",
            hint="Give left and right as whole numbers, e.g. ?left=1&right=2.",
        )
    return int(text)


def register(app: FastAPI, pages: Pages) -> None:
    """Add the data routes to ``app``."""
    ws = pages.ws

    async def datasets(request: Request) -> Response:
        """Every dataset, and one page of all their versions."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        wanted = request.query_params.get("dataset") or None
        try:
            window = Window.from_query(request.query_params)
        except DatasetError as error:
            return pages.error_page(request, principal, error, status=400)

        def work() -> dict[str, Any]:
            with ws.store.transaction() as session:
                total, rows = version_rows(session, window, dataset=wanted)
                return {
                    "datasets": dataset_summaries(session),
                    "versions": rows,
                    "pages": window.pages(total),
                }

        data = await pages.blocking(work)
        return pages.render.page(
            "data.html",
            pages.context(request, principal, active="data", wanted=wanted, **data),
        )

    async def version(request: Request, name: str, number: int) -> Response:
        """A version's validation report, profile with histograms, and quarantine."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        try:
            window = Window.from_query(request.query_params, prefix="q_")
        except DatasetError as error:
            return pages.error_page(request, principal, error, status=400)

        def work() -> dict[str, Any]:
            detail = version_detail(ws, name, number)
            detail["quarantine"] = quarantine_page(ws, name, number, window)
            return detail

        try:
            detail = await pages.blocking(work)
        except DatasetError as error:  # no such dataset or version
            return pages.error_page(request, principal, error, status=404)
        return pages.render.page(
            "data_version.html",
            pages.context(request, principal, active="data", v=detail),
        )

    async def diff(request: Request, name: str) -> Response:
        """Rows added and removed, schema and distribution changes between two versions."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        try:
            left = _version_number(request.query_params.get("left"), name)
            right = _version_number(request.query_params.get("right"), name)
        except DatasetError as error:
            return pages.error_page(request, principal, error, status=400)

        def work() -> dict[str, Any]:
            with ws.store.transaction() as session:
                summary = next(
                    (d for d in dataset_summaries(session) if d["dataset"] == name), None
                )
            if summary is None or not summary["latest"]:
                raise DatasetError(
                    f"No dataset named {name!r} with versions.",
                    hint="Pick a dataset on the data page.",
                )
            high = right if right is not None else summary["latest"]
            low = left if left is not None else max(high - 1, 1)
            return {
                "diff": diff_view(ws, name, low, high),
                "left": low,
                "right": high,
                "latest": summary["latest"],
            }

        try:
            data = await pages.blocking(work)
        except DatasetError as error:  # no such dataset or version
            return pages.error_page(request, principal, error, status=404)
        return pages.render.page(
            "data_diff.html",
            pages.context(request, principal, active="data", dataset=name, **data),
        )

    app.add_api_route("/ui/data", datasets, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/data/{name}/diff", diff, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/ui/data/{name}/{number:int}", version, methods=["GET"], include_in_schema=False
    )
