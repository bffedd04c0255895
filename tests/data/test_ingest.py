"""Ingest through the contract: versions, quarantine, time travel, refusals, lineage, events."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from loopline import _api
from loopline._workspace import Workspace
from loopline.data._datasets import load_version
from loopline.errors import DataError
from tests.conftest import EXAMPLE
from tests.lineage.ol_validation import validate_event

CREDIT = EXAMPLE / "data" / "credit_default.csv.gz"


@pytest.fixture(scope="module")
def credit() -> pl.DataFrame:
    return pl.read_csv(CREDIT)


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_csv(path)
    return path


def _expected_bad(frame: pd.DataFrame) -> pd.Series:
    """Rows the contract must quarantine, computed independently with pandas."""
    undocumented = frame["EDUCATION"].isin([0, 5, 6]) | (frame["MARRIAGE"] == 0)
    duplicate = frame.drop(columns="ID").duplicated(keep="first")
    return undocumented | duplicate


def test_real_file_quarantines_exactly_the_rows_that_break_the_contract(
    workspace: Workspace, credit: pl.DataFrame
) -> None:
    result = _api.ingest_path(workspace, CREDIT)
    expected = _expected_bad(credit.to_pandas())
    assert result.status == "accepted"
    assert result.version == 1
    assert result.rows_in == 30_000 == result.rows_versioned + result.rows_quarantined
    assert result.rows_quarantined == int(expected.sum())
    quarantined = _api.quarantine(workspace, "credit")
    assert sorted(quarantined["ID"].cast(pl.Int64).to_list()) == sorted(
        credit.to_pandas().loc[expected, "ID"].tolist()
    )
    by_check = _api.quarantine_summary(quarantined)
    assert by_check["EDUCATION.allowed_values"] == 345
    assert by_check["MARRIAGE.allowed_values"] == 54
    assert by_check["row.duplicate(* except ID)"] == 35


def test_time_travel_returns_exactly_what_was_ingested(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    clean = credit.filter(~pl.Series(_expected_bad(credit.to_pandas()).to_numpy()))
    first, second = clean.head(3000), clean.slice(3000, 2000)
    assert _api.ingest_path(workspace, _write(first, tmp_path / "a.csv")).version == 1
    assert _api.ingest_path(workspace, _write(second, tmp_path / "b.csv")).version == 2
    assert_frame_equal(load_version(workspace, "credit@1"), first)
    assert_frame_equal(load_version(workspace, "credit@2"), pl.concat([first, second]))
    replaced = _api.ingest_path(workspace, _write(second, tmp_path / "c.csv"), mode="overwrite")
    assert replaced.version == 3
    assert_frame_equal(load_version(workspace, "credit@3"), second)
    assert_frame_equal(load_version(workspace, "credit@1"), first)


def test_wrong_type_refuses_the_batch_and_keeps_its_rows(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    broken = credit.head(100).with_columns(pl.lit("n/a").alias("LIMIT_BAL"))
    result = _api.ingest_path(workspace, _write(broken, tmp_path / "broken.csv"))
    assert (result.status, result.version) == ("refused", None)
    assert result.rows_in == 100 == result.rows_quarantined
    reasons = " ".join(result.refusal_reasons)
    assert "LIMIT_BAL" in reasons
    assert "integer" in reasons
    assert "String" in reasons
    assert _api.list_datasets(workspace)[0]["versions"] == 0
    assert _api.quarantine(workspace, "credit").height == 100


def test_identical_file_is_a_duplicate_unless_forced(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    path = _write(credit.head(500), tmp_path / "batch.csv")
    assert _api.ingest_path(workspace, path).status == "accepted"
    again = _api.ingest_path(workspace, path)
    assert (again.status, again.version, again.rows_versioned) == ("duplicate", 1, 0)
    forced = _api.ingest_path(workspace, path, force=True)
    assert (forced.status, forced.version) == ("accepted", 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("ID,LIMIT_BAL\n", "no rows"),
        ("ID;LIMIT_BAL;SEX\n1;2;3\n", "ID;LIMIT_BAL;SEX"),
    ],
)
def test_unreadable_files_get_clear_errors_and_no_version(
    workspace: Workspace, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    outcome: str
    try:
        result = _api.ingest_path(workspace, path)
        outcome = " ".join(result.refusal_reasons) if result.status == "refused" else "accepted"
    except DataError as exc:
        outcome = str(exc)
    assert message in outcome
    assert all(row["versions"] == 0 for row in _api.list_datasets(workspace))


def test_file_larger_than_memory_is_refused_clearly(tmp_path: Path) -> None:
    from loopline.data._read import read_source

    path = _write(pl.DataFrame({"a": list(range(1000))}), tmp_path / "big.csv")
    with pytest.raises(DataError, match="too large"):
        read_source(path, memory_limit=1000)


def test_unknown_column_refuses_the_batch(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    extra = credit.head(50).with_columns(pl.lit(1).alias("SURPRISE"))
    result = _api.ingest_path(workspace, _write(extra, tmp_path / "extra.csv"))
    assert result.status == "refused"
    assert "SURPRISE" in " ".join(result.refusal_reasons)


def test_openlineage_events_validate_and_share_a_run_id(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    _api.ingest_path(workspace, _write(credit.head(300), tmp_path / "ok.csv"))
    broken = credit.head(10).with_columns(pl.lit("x").alias("AGE"))
    _api.ingest_path(workspace, _write(broken, tmp_path / "broken.csv"))
    lines = workspace.settings.openlineage_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "FAIL"]
    for event in events:
        assert validate_event(event) == []
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    facets = events[1]["inputs"][0]["inputFacets"]
    assert facets["dataQualityMetrics"]["rowCount"] == 300
    assert any(
        not a["success"]
        for a in events[3]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    )


def test_lineage_and_audit_record_the_ingest(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    path = _write(credit.head(200), tmp_path / "a.csv")
    _api.ingest_path(workspace, path)
    _api.ingest_path(workspace, _write(credit.slice(200, 200), tmp_path / "b.csv"))
    tree = _api.lineage(workspace, "credit@2", up=True)
    kinds = {name.split(":")[0] for name in tree.names()}
    assert kinds == {"dataset_version", "source_file"}
    assert "dataset_version:credit@1" in tree.names()
    down = _api.lineage(workspace, "credit@1", up=False)
    assert "dataset_version:credit@2" in down.names()
    events = _api.audit(workspace, action="dataset.ingest")
    assert [e["target"] for e in events] == ["credit@2", "credit@1"]
    assert events[0]["actor"] == "tester"


def test_concurrent_ingests_lose_no_batch(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    clean = credit.filter(~pl.Series(_expected_bad(credit.to_pandas()).to_numpy()))
    paths = [_write(clean.slice(i * 400, 400), tmp_path / f"part{i}.csv") for i in range(4)]
    results: list[int | None] = []
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            results.append(_api.ingest_path(workspace, path).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v for v in results if v is not None) == [1, 2, 3, 4]
    final = load_version(workspace, "credit@4")
    assert final.height == 1600
    assert sorted(final["ID"].to_list()) == sorted(clean.head(1600)["ID"].to_list())


def test_unrecorded_delta_commit_is_rolled_back(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    from loopline.data._tables import table_uri, write_table_version

    first = _api.ingest_path(workspace, _write(credit.head(100), tmp_path / "a.csv"))
    uri = table_uri(workspace.settings.data_uri, "credit")
    write_table_version(uri, credit.slice(5000, 50), batch=999, mode="append", expected_version=0)
    result = _api.ingest_path(workspace, _write(credit.slice(100, 100), tmp_path / "b.csv"))
    version = load_version(workspace, f"credit@{result.version}")
    assert version.height == first.rows_versioned + result.rows_versioned
    assert not set(credit.slice(5000, 50)["ID"].to_list()) & set(version["ID"].to_list())


def test_quarantine_export_fix_and_reingest(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    _api.ingest_path(workspace, _write(credit.head(2000), tmp_path / "a.csv"))
    bad = _api.quarantine(workspace, "credit")
    export = tmp_path / "quarantine.csv"
    _api.export_quarantine(bad.filter(pl.col("EDUCATION").is_in(["0", "5", "6"])), export)
    fixed = pl.read_csv(export).with_columns(pl.lit(4).alias("EDUCATION"))
    result = _api.ingest_path(workspace, _write(fixed, tmp_path / "fixed.csv"))
    assert result.status == "accepted"
    assert result.rows_quarantined == 0
    assert result.rows_versioned == fixed.height > 0


def test_python_api_ingests_pandas_frames(
    example_project: Path, credit: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopline

    monkeypatch.setenv("LOOPLINE_ACTOR", "notebook")
    result = loopline.ingest(credit.head(100).to_pandas(), project=example_project)
    assert (result.status, result.version) == ("accepted", 1)
    frame = loopline.load("credit", version=1, project=example_project)
    assert frame.height == result.rows_versioned


def test_diff_counts_rows_by_key_and_reports_distribution_shift(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    clean = credit.filter(~pl.Series(_expected_bad(credit.to_pandas()).to_numpy()))
    _api.ingest_path(workspace, _write(clean.head(1000), tmp_path / "a.csv"))
    _api.ingest_path(workspace, _write(clean.slice(1000, 300), tmp_path / "b.csv"))
    shifted = clean.slice(500, 800).with_columns(pl.col("AGE") + 10)
    _api.ingest_path(workspace, _write(shifted, tmp_path / "c.csv"), mode="overwrite")
    appended = _api.diff(workspace, "credit@1", "credit@2")
    assert appended["rows"] == {
        "left": 1000,
        "right": 1300,
        "added": 300,
        "removed": 0,
        "changed": 0,
        "key": ["ID"],
    }
    replaced = _api.diff(workspace, "credit@2", "credit@3")
    assert (replaced["rows"]["added"], replaced["rows"]["removed"]) == (0, 500)
    assert replaced["rows"]["changed"] == 800
    age = next(d for d in replaced["distributions"] if d["column"] == "AGE")
    assert age["mean_shift_sd"] > 1


def test_distribution_check_compares_with_the_previous_version(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    first = _api.ingest_path(workspace, _write(credit.head(5000), tmp_path / "a.csv"))
    assert first.report["checks"]
    skipped = [c for c in first.report["checks"] if c["kind"] == "distribution"]
    assert skipped
    assert skipped[0]["status"] == "skipped"
    older = credit.slice(5000, 3000).with_columns((pl.col("AGE") + 25).clip(upper_bound=120))
    second = _api.ingest_path(workspace, _write(older, tmp_path / "b.csv"))
    [check] = [c for c in second.report["checks"] if c["kind"] == "distribution"]
    assert check["status"] == "failed"
    assert check["severity"] == "warn"
    assert second.status == "accepted"


def test_appended_rows_may_not_repeat_keys_of_the_previous_version(
    workspace: Workspace, credit: pl.DataFrame, tmp_path: Path
) -> None:
    _api.ingest_path(workspace, _write(credit.head(1000), tmp_path / "a.csv"))
    overlap = credit.slice(900, 300)  # IDs 901-1000 are already in credit@1
    second = _api.ingest_path(workspace, _write(overlap, tmp_path / "b.csv"))
    assert second.rows_in == second.rows_versioned + second.rows_quarantined
    merged = load_version(workspace, "credit@2")
    assert merged["ID"].n_unique() == merged.height
    repeated = _api.quarantine(workspace, "credit", batch=second.batch)
    assert set(range(901, 1001)) <= set(repeated["ID"].cast(pl.Int64).to_list())
    names = {n for checks in repeated["_loopline_failed_checks"].to_list() for n in checks}
    assert "ID.unique" in names
