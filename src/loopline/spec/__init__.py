"""The project file, ``loopline.yaml``: typed models, loading with located errors, templates."""

from __future__ import annotations

from loopline.spec._loader import (
    PROJECT_FILE,
    Project,
    find_project_file,
    load_project,
    validate_model,
)
from loopline.spec._models import (
    SUCCESS_METRICS,
    AlertSpec,
    Costs,
    DataSpec,
    EscalationSpec,
    MonitoringSpec,
    Objective,
    ProjectSpec,
    RetrainingSpec,
    RolloutSpec,
    ServingSpec,
    SplitSpec,
    SuccessMetric,
    Task,
    TrainingSpec,
    TuningSpec,
)
from loopline.spec._templates import TEMPLATES, render_template
from loopline.spec._yaml import LocatedYAML, read_yaml

__all__ = [
    "PROJECT_FILE",
    "SUCCESS_METRICS",
    "TEMPLATES",
    "AlertSpec",
    "Costs",
    "DataSpec",
    "EscalationSpec",
    "LocatedYAML",
    "MonitoringSpec",
    "Objective",
    "Project",
    "ProjectSpec",
    "RetrainingSpec",
    "RolloutSpec",
    "ServingSpec",
    "SplitSpec",
    "SuccessMetric",
    "Task",
    "TrainingSpec",
    "TuningSpec",
    "find_project_file",
    "load_project",
    "read_yaml",
    "render_template",
    "validate_model",
]
