"""The ``loopline`` command line: a thin shell over the Python API."""

# isort: skip_file
# The import order below is the order of the commands in `loopline --help`.
from __future__ import annotations

from loopline.cli import _project  # noqa: F401  (init, check, db)
from loopline.cli import _data  # noqa: F401  (ingest, contract, datasets)
from loopline.cli import _models  # noqa: F401  (train, models, rollback)
from loopline.cli import _serve  # noqa: F401  (serve, deploy, deployments)
from loopline.cli import _review  # noqa: F401  (review, feedback)
from loopline.cli import _policy  # noqa: F401  (policy)
from loopline.cli import _auth  # noqa: F401  (users, tokens)
from loopline.cli import _lineage  # noqa: F401  (lineage, audit)
from loopline.cli import _demo  # noqa: F401  (demo)
from loopline.cli import _jobs  # noqa: F401  (worker, jobs, up)
from loopline.cli import _retrain  # noqa: F401  (retrain)
from loopline.cli import _monitor  # noqa: F401  (monitor drift)
from loopline.cli import _monitoring  # noqa: F401  (monitor run|show|history|alerts)
from loopline.cli import _experiments  # noqa: F401  (experiments)
from loopline.cli._app import app, main

__all__ = ["app", "main"]
