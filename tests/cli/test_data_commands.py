"""The data commands end to end through the CLI, on the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from loopline.cli import main
from tests.conftest import EXAMPLE


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["--project", str(project), *args, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def test_ingest_json_has_the_documented_fields(
    capsys: pytest.CaptureFixture[str], example_project: Path
) -> None:
    code, result = run(
        capsys, example_project, "ingest", str(EXAMPLE / "data" / "credit_default.csv.gz")
    )
    assert code == 0
    assert {"dataset", "version", "rows_in", "rows_versioned", "rows_quarantined", "status"} <= set(
        result
    )
    assert (result["dataset"], result["version"], result["status"]) == ("credit", 1, "accepted")
    assert result["rows_in"] == result["rows_versioned"] + result["rows_quarantined"] == 30_000


def test_refused_batch_exits_1_with_null_version(
    capsys: pytest.CaptureFixture[str], example_project: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    pl.read_csv(EXAMPLE / "data" / "credit_default.csv.gz").head(20).with_columns(
        pl.lit("abc").alias("AGE")
    ).write_csv(broken)
    code, result = run(capsys, example_project, "ingest", str(broken))
    assert code == 1
    assert (result["status"], result["version"], result["rows_quarantined"]) == (
        "refused",
        None,
        20,
    )


def test_datasets_show_quarantine_and_lineage(
    capsys: pytest.CaptureFixture[str], example_project: Path, tmp_path: Path
) -> None:
    run(capsys, example_project, "ingest", str(EXAMPLE / "data" / "credit_default.csv.gz"))
    code, listing = run(capsys, example_project, "datasets", "list")
    assert code == 0
    assert listing[0]["dataset"] == "credit"
    code, version = run(capsys, example_project, "datasets", "show", "credit@1", "--head", "3")
    assert code == 0
    assert version["rows"] == 30_000 - 434
    assert len(version["head"]) == 3
    assert version["profile"]["AGE"]["min"] >= 18
    export = tmp_path / "q.csv"
    code, quarantine = run(
        capsys, example_project, "datasets", "quarantine", "credit", "--export", str(export)
    )
    assert quarantine["rows"] == 434 == pl.read_csv(export).height
    assert quarantine["by_check"]["MARRIAGE.allowed_values"] == 54
    code, tree = run(capsys, example_project, "lineage", "up", "credit@1")
    assert code == 0
    assert [child["kind"] for child in tree["children"]] == ["source_file"]
    code, events = run(capsys, example_project, "audit", "--action", "dataset")
    assert events[0]["action"] == "dataset.ingest"


def test_contract_infer_then_check_round_trips(
    capsys: pytest.CaptureFixture[str], example_project: Path, tmp_path: Path
) -> None:
    data = EXAMPLE / "data" / "credit_default.csv.gz"
    draft = tmp_path / "draft.yaml"
    code, inferred = run(
        capsys, example_project, "contract", "infer", str(data), "--output", str(draft)
    )
    assert code == 0
    assert inferred["columns"] == 25
    code, checked = run(
        capsys, example_project, "contract", "check", str(draft), "--data", str(data)
    )
    assert code == 0
    assert checked["report"]["rows_bad"] == 0


def test_contract_check_reports_every_problem(
    capsys: pytest.CaptureFixture[str], example_project: Path, tmp_path: Path
) -> None:
    text = (EXAMPLE / "contracts" / "credit.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("required: true", "requird: true", 1).replace(
            "{minimum: 18,", "{minimum: eighteen,", 1
        )
    )
    code, result = run(capsys, example_project, "contract", "check", str(bad))
    assert code == 3
    problems = result["error"]["problems"]
    assert len(problems) >= 2
    assert all(problem["line"] for problem in problems)
