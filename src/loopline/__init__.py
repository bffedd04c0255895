"""loopline: the production loop for machine learning.

``import loopline`` gives the same operations as the ``loopline`` command line, for notebooks
and pipelines::

    import loopline

    result = loopline.ingest("applications.csv")          # through the project's contract
    print(result.status, result.version, result.rows_quarantined)
    frame = loopline.load("credit", version=1)             # time travel: exactly what was ingested
    report = loopline.validate(frame, loopline.load_contract("contracts/credit.yaml"))
    drift = loopline.drift_report(reference_frame, current_frame)  # any two frames, like Evidently
    print(drift.to_polars())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline._lazy import lazy_names
from loopline._version import __version__

if TYPE_CHECKING:  # the names below are imported on first use: `import loopline` stays fast
    from loopline._api import ingest, load
    from loopline._api_serving import predictions
    from loopline._workspace import Workspace, open_workspace
    from loopline.data import Contract, infer_contract, load_contract, validate
    from loopline.errors import LooplineError
    from loopline.monitoring import build_reference, drift_report
    from loopline.settings import Settings, load_settings
    from loopline.spec import Project, load_project

_WHERE = {
    "Contract": "loopline.data",
    "LooplineError": "loopline.errors",
    "Project": "loopline.spec",
    "Settings": "loopline.settings",
    "Workspace": "loopline._workspace",
    "build_reference": "loopline.monitoring",
    "drift_report": "loopline.monitoring",
    "infer_contract": "loopline.data",
    "ingest": "loopline._api",
    "load": "loopline._api",
    "load_contract": "loopline.data",
    "load_project": "loopline.spec",
    "load_settings": "loopline.settings",
    "open_workspace": "loopline._workspace",
    "predictions": "loopline._api_serving",
    "validate": "loopline.data",
}

__all__ = [
    "Contract",
    "LooplineError",
    "Project",
    "Settings",
    "Workspace",
    "__version__",
    "build_reference",
    "drift_report",
    "infer_contract",
    "ingest",
    "load",
    "load_contract",
    "load_project",
    "load_settings",
    "open_workspace",
    "predictions",
    "validate",
]


__getattr__, __dir__ = lazy_names("loopline", _WHERE, __all__, globals())
