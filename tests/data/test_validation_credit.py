"""The bundled contract on the real credit-default file: exactly the documented quirks fail."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from loopline.data import ValidationResult, load_contract, validate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "credit-default" / "data" / "credit_default.csv.gz"
CONTRACT = ROOT / "examples" / "credit-default" / "contracts" / "credit.yaml"


@pytest.fixture(scope="module")
def result() -> ValidationResult:
    return validate(pl.read_csv(DATA), load_contract(CONTRACT))


@pytest.fixture(scope="module")
def expected() -> dict[int, list[str]]:
    """Each bad row's failed checks, computed independently with pandas."""
    frame = pd.read_csv(DATA)
    failures = {
        "EDUCATION.allowed_values": ~frame["EDUCATION"].isin([1, 2, 3, 4]),
        "MARRIAGE.allowed_values": ~frame["MARRIAGE"].isin([1, 2, 3]),
        "row.duplicate(* except ID)": frame.drop(columns="ID").duplicated(keep="first"),
    }
    rows: dict[int, list[str]] = {}
    for name, mask in failures.items():
        for row in mask[mask].index:
            rows.setdefault(int(row), []).append(name)
    return rows


def test_the_documented_counts_fail(result: ValidationResult) -> None:
    counts = {check.name: check.failing_count for check in result.report.failed}
    assert counts == {
        "EDUCATION.allowed_values": 345,
        "MARRIAGE.allowed_values": 54,
        "row.duplicate(* except ID)": 35,
        "bill_within_twice_limit": 37,  # severity warn: recorded, not quarantined
    }


def test_exactly_the_rows_pandas_finds_are_quarantined(
    result: ValidationResult, expected: dict[int, list[str]]
) -> None:
    bad = result.bad
    quarantined = dict(zip(bad["_row"].to_list(), bad["_failed_checks"].to_list(), strict=True))
    assert quarantined == expected
    assert result.good.height == 30_000 - len(expected)


def test_the_batch_is_accepted(result: ValidationResult) -> None:
    assert (result.refused, result.rows_in) == (False, 30_000)
