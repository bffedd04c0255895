"""The console's lineage page(s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from loopline.ui._routes import Pages

__all__ = ["register"]


def register(app: FastAPI, pages: Pages) -> None:
    """Add the lineage routes to ``app``."""
