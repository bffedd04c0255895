"""The reviewer web UI: the review queue, case pages and the people-in-the-loop metrics.

Server-rendered HTML (Jinja2 templates, autoescaped) with hand-written CSS and a small script
for keyboard shortcuts and countdowns, all shipped in the package: no CDN, no build step. Mount
it on the serving app with :func:`add_ui_routes`; it is a thin shell over :mod:`loopline.review`
and :mod:`loopline.auth`.
"""

from __future__ import annotations

from loopline.ui._routes import add_ui_routes

__all__ = ["add_ui_routes"]
