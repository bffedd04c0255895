"""The console's audit page: who did what, when, to what, and why; newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from loopline.auth import AuthError
from loopline.ui._audit_view import AuditFilter, audit_context

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


def register(app: FastAPI, pages: Pages) -> None:
    """Add the audit routes to ``app``."""

    async def audit(request: Request) -> Response:
        """The audit trail, filtered by actor, action, target type, use case and time range."""
        try:
            principal = await pages.auth.require("read")(request)
        except AuthError as error:
            return pages.refused(request, error)
        wanted = AuditFilter.from_query(request.query_params)

        def work() -> dict[str, Any]:
            with pages.ws.store.transaction() as session:
                return audit_context(session, wanted)

        data = await pages.blocking(work)
        return pages.render.page(
            "audit.html", pages.context(request, principal, active="audit", **data)
        )

    app.add_api_route("/ui/audit", audit, methods=["GET"], include_in_schema=False)
