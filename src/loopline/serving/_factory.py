"""The app factory uvicorn imports in each worker process (``loopline serve --workers N``)."""

from __future__ import annotations

from fastapi import FastAPI

from loopline._workspace import open_workspace
from loopline.serving._app import create_app

__all__ = ["make_app"]


def make_app() -> FastAPI:
    """An app for the project in ``LOOPLINE_PROJECT`` (set by ``loopline serve``)."""
    return create_app(open_workspace())
