"""``loopline check``: validate a project and everything it refers to, reporting every problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loopline.errors import LooplineError, Problem
from loopline.spec import PROJECT_FILE, Project, load_project

__all__ = ["CheckResult", "check_project"]


@dataclass
class CheckResult:
    """Every problem found, each with the file it is in."""

    checked: list[str] = field(default_factory=list)
    problems: list[tuple[str, Problem]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    def add(self, file: str, error: LooplineError) -> None:
        if error.problems:
            self.problems.extend((file, problem) for problem in error.problems)
        else:
            self.problems.append((file, Problem(loc=(), code=error.code, msg=error.message)))


def check_project(directory: Path) -> CheckResult:
    """Validate ``loopline.yaml``, its contract, and that the two agree on column names."""
    result = CheckResult()
    try:
        project = load_project(directory)
    except LooplineError as exc:
        result.add(PROJECT_FILE, exc)
        return result
    result.checked.append(PROJECT_FILE)
    _check_gates(project, result)
    _check_contract(project, result)
    return result


def _check_gates(project: Project, result: CheckResult) -> None:
    from loopline.registry import check_gate_names

    spec = project.spec
    try:
        check_gate_names(
            spec.gates,
            task=spec.objective.task.value,
            slice_columns=spec.training.slices if spec.training else (),
            lines=[project.line_of(("gates", i)) for i in range(len(spec.gates))],
        )
    except LooplineError as exc:
        result.add(PROJECT_FILE, exc)


def _check_contract(project: Project, result: CheckResult) -> None:
    from loopline.data import load_contract  # the data layer is optional for a bare check

    spec = project.spec
    relative = spec.data.contract
    path = project.resolve(relative)
    if not path.is_file():
        result.problems.append(
            (
                PROJECT_FILE,
                Problem(
                    loc=("data", "contract"),
                    code="file-missing",
                    msg=f"the contract file {relative} does not exist (looked in {path})",
                    line=project.line_of(("data", "contract")),
                ),
            )
        )
        return
    try:
        contract = load_contract(path)
    except LooplineError as exc:
        result.add(relative, exc)
        return
    result.checked.append(relative)
    columns = set(contract.column_names)
    wanted: list[tuple[tuple[str | int, ...], str]] = [
        (("objective", "target"), spec.objective.target)
    ]
    if spec.training is not None:
        wanted += [(("training", "drop", i), c) for i, c in enumerate(spec.training.drop)]
        wanted += [(("training", "slices", i), c) for i, c in enumerate(spec.training.slices)]
        if spec.training.split.column:
            wanted.append((("training", "split", "column"), spec.training.split.column))
    for loc, column in wanted:
        if column not in columns:
            result.problems.append(
                (
                    PROJECT_FILE,
                    Problem(
                        loc=loc,
                        code="unknown-column",
                        msg=f"column {column!r} is not in the contract {relative}",
                        value=column,
                        line=project.line_of(loc),
                    ),
                )
            )
