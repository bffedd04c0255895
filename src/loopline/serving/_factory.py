"""The app factory uvicorn imports in each worker process (``loopline serve --workers N``)."""

from __future__ import annotations

import gc
import sys

from fastapi import FastAPI

from loopline._workspace import open_workspace
from loopline.serving._app import create_app
from loopline.serving._model_process import GC_THRESHOLDS

__all__ = ["SWITCH_INTERVAL", "make_app"]

#: How long (seconds) a thread may keep the GIL while another waits for it, in a server whose
#: models are scored in a thread of its own (``serving.model_process: false``). The model thread
#: releases the GIL in every tree of a forest (compiled code) and must take it back each time;
#: with Python's default of 5 ms it waited behind the event loop for most of that, and a batch of
#: 2,000 rows took 96 ms under load against 26 ms alone. At 0.2 ms it took 72 ms, and the server
#: answered about 10% more rows per second (docs/benchmarks.md). With model processes (the
#: default) the threads left hold the GIL briefly or release it themselves, and the default
#: served 500-row requests a little faster (19.2k against 18.4k rows/s, side by side).
SWITCH_INTERVAL = 0.0002


def make_app() -> FastAPI:
    """An app for the project in ``LOOPLINE_PROJECT`` (set by ``loopline serve``), in a
    process tuned for serving: the garbage collector's thresholds (``GC_THRESHOLDS`` in
    ``serving/_model_process.py``) and the GIL's switch interval (:data:`SWITCH_INTERVAL`)."""
    ws = open_workspace()
    gc.set_threshold(*GC_THRESHOLDS)
    if not ws.project.spec.serving.model_process:
        sys.setswitchinterval(SWITCH_INTERVAL)
    return create_app(ws)
