"""Training and the registry through the CLI, on the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from loopline.cli import main
from tests.conftest import EXAMPLE


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, object]:
    code = main(["--project", str(project), *args, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


@pytest.fixture
def project(example_project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = example_project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["training"]["params"] = {"max_iter": 30}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run(capsys, example_project, "ingest", str(EXAMPLE / "data" / "credit_default.csv.gz"))
    return example_project


def test_train_list_show_promote_rollback(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, first = run(capsys, project, "train")
    assert code == 0
    assert isinstance(first, dict)
    assert (first["version"], first["state"]) == (1, "candidate")
    code, _ = run(capsys, project, "models", "promote", "credit-default@1", "--reason", "first")
    assert code == 0
    run(capsys, project, "train")
    code, listing = run(capsys, project, "models", "list")
    assert isinstance(listing, list)
    assert [(m["version"], m["aliases"]) for m in listing] == [(2, []), (1, ["champion"])]
    code, shown = run(capsys, project, "models", "show", "credit-default@champion", "--card")
    assert isinstance(shown, dict)
    assert shown["card_markdown"].startswith("# Model card: credit-default@1")
    code, compared = run(
        capsys, project, "models", "compare", "credit-default@1", "credit-default@2"
    )
    assert isinstance(compared, dict)
    assert any(row["metric"] == "roc_auc" for row in compared["metrics"])
    code, _ = run(capsys, project, "models", "promote", "credit-default@2", "--reason", "newer")
    if code == 0:
        code, back = run(capsys, project, "rollback", "credit-default", "--reason", "check")
        assert code == 0
        assert back == {"use_case": "credit-default", "from": 2, "to": 1}


def test_rejected_model_exits_1_and_cannot_be_promoted(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    path = project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["gates"] = ["roc_auc >= 0.999"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, result = run(capsys, project, "train")
    assert code == 1
    assert isinstance(result, dict)
    assert result["state"] == "rejected"
    assert result["gates"][0]["bound"] == 0.999
    code, error = run(capsys, project, "models", "promote", "credit-default@1")
    assert code == 3
    assert isinstance(error, dict)
    assert "rejected" in error["error"]["message"]


def test_rollback_without_history_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, error = run(capsys, project, "rollback", "credit-default")
    assert code == 3
    assert isinstance(error, dict)
    assert error["error"]["code"] == "registry-error"
