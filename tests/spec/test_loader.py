"""Loading loopline.yaml: every problem at once, each with its key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopline.errors import ProjectError
from loopline.spec import Task, load_project, render_template
from tests.conftest import EXAMPLE

THREE_MISTAKES = """\
name: credit
objective:
  task: binary_classification
  target: y
  positive_class: 1
  costs:
    false_positive: fifty
    false_negative: 500
    review: 8
  success:
    - automation_rate >= 0.7
data:
  contract: c.yaml
  dataset: credit
  datset_typo: x
gates:
  - roc_auc >=
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loopline.yaml"
    path.write_text(text)
    return path


def test_three_mistakes_reported_together_with_paths_and_lines(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, THREE_MISTAKES))
    found = {(p.path, p.line, p.code) for p in caught.value.problems}
    assert found == {
        ("objective.costs.false_positive", 7, "wrong-type"),
        ("data.datset_typo", 15, "unknown-key"),
        ("gates[0]", 17, "invalid-value"),
    }


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    text = THREE_MISTAKES.replace("review: 8", "reviw: 8")
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, text))
    messages = [p.msg for p in caught.value.problems if p.path == "objective.costs.reviw"]
    assert messages
    assert "did you mean 'review'" in messages[0]


def test_objective_is_required(tmp_path: Path) -> None:
    text = "name: x\ndata: {contract: c.yaml, dataset: x}\n"
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, text))
    assert [(p.path, p.code) for p in caught.value.problems] == [("objective", "missing-key")]


def test_classification_needs_error_costs(tmp_path: Path) -> None:
    text = THREE_MISTAKES.replace("    false_positive: fifty\n", "").replace(
        "  datset_typo: x\n", ""
    )
    text = text.replace("  - roc_auc >=\n", "  - roc_auc >= 0.7\n")
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, text))
    assert "costs.false_positive" in caught.value.problems[0].msg


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, "name: x\nobjective: [unclosed\n"))
    problem = caught.value.problems[0]
    assert problem.code == "yaml-syntax"
    assert problem.line is not None
    assert problem.line >= 2


def test_duplicate_key_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(_write(tmp_path, "name: a\nname: b\n"))
    assert any(p.code == "duplicate-key" and p.line == 2 for p in caught.value.problems)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="1 problem") as caught:
        load_project(_write(tmp_path, ""))
    assert caught.value.problems[0].code == "not-a-mapping"


def test_missing_project_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(tmp_path)
    assert caught.value.hint is not None
    assert "loopline init" in caught.value.hint


def test_bundled_example_loads() -> None:
    project = load_project(EXAMPLE)
    assert project.spec.objective.task is Task.binary_classification
    assert project.spec.objective.costs.false_negative == 500
    assert next(m.metric for m in project.spec.objective.success) == "automation_rate"
    assert project.spec.monitoring.every == 3600


@pytest.mark.parametrize("template", ["binary-classification", "regression"])
def test_templates_validate(tmp_path: Path, template: str) -> None:
    files = render_template(template, "churn")
    project = load_project(_write(tmp_path, files["loopline.yaml"]))
    assert project.name == "churn"


def test_success_metric_verdicts() -> None:
    project = load_project(EXAMPLE)
    automation = project.spec.objective.success[0]
    assert automation.met_by(0.71) is True
    assert automation.met_by(0.69) is False
    assert automation.met_by(None) is None
