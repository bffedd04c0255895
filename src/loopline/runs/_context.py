"""What a run records about its inputs, and the checks on its target before anything is fitted."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from typing import Any

import polars as pl

from loopline.errors import TrainingError
from loopline.spec import Project, TrainingSpec

__all__ = ["check_target", "environment", "git_sha"]


def environment() -> dict[str, Any]:
    packages = {}
    for name in ("loopline", "scikit-learn", "numpy", "pandas", "polars", "lightgbm", "xgboost"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def git_sha(project: Project) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607  (git from PATH, as the user runs it)
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def check_target(frame: pl.DataFrame, project: Project, training: TrainingSpec) -> tuple[Any, ...]:
    objective = project.spec.objective
    if objective.target not in frame.columns:
        raise TrainingError(
            f"The target {objective.target!r} is not a column of the dataset.",
            hint="Check objective.target in loopline.yaml against the contract.",
        )
    missing = [c for c in (*training.slices, *training.drop) if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"Column(s) {', '.join(missing)} named in training are not in the dataset.",
            hint=f"The dataset has: {', '.join(frame.columns)}.",
        )
    labels = frame.get_column(objective.target)
    if labels.null_count():
        raise TrainingError(
            f"The target {objective.target!r} has {labels.null_count()} missing values.",
            hint="Make the target required in the contract so such rows are quarantined.",
        )
    if not objective.task.is_classification:
        return ()
    classes = tuple(sorted(labels.unique().to_list(), key=str))
    if len(classes) < 2:
        raise TrainingError(
            f"The target {objective.target!r} has one class only ({classes[0]!r}).",
            hint="A classifier needs examples of at least two classes; check the data.",
        )
    if objective.task.value == "binary_classification":
        if len(classes) != 2:
            raise TrainingError(
                f"binary_classification needs 2 classes; {objective.target!r} has {len(classes)}.",
                hint="Use multiclass_classification, or fix the target.",
            )
        if objective.positive_class not in classes:
            raise TrainingError(
                f"positive_class {objective.positive_class!r} is not a value of "
                f"{objective.target!r} "
                f"(values: {', '.join(map(repr, classes))}).",
                hint="Set objective.positive_class to one of the target's values.",
            )
    return classes
