"""Batch-level checks: freshness and distribution against a reference profile."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from loopline.data import validate
from loopline.data._check_batch import population_stability_index
from loopline.data._checks import repeats
from tests.data.test_validation import contract

FRESH = """\
- name: at
  logicalType: timestamp
  quality:
    - {type: custom, engine: loopline, implementation: {freshness: {max_age: 24h}}}
"""
NOW = dt.datetime(2024, 6, 2, 12, tzinfo=dt.timezone.utc)


def stamps(*values: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame({"at": list(values)})


def test_a_recent_batch_is_fresh() -> None:
    result = validate(stamps(dt.datetime(2024, 6, 1, 13)), contract(FRESH), now=NOW)
    assert result.report.result("at.freshness").status == "passed"


def test_a_stale_batch_is_refused_with_its_age() -> None:
    result = validate(stamps(dt.datetime(2024, 5, 31, 12)), contract(FRESH), now=NOW)
    check = result.report.result("at.freshness")
    assert (check.status, result.refused) == ("failed", True)
    assert str(check.observed).startswith("48.00h")


def test_freshness_reads_time_zones() -> None:
    frame = stamps(dt.datetime(2024, 6, 2, 20)).with_columns(
        pl.col("at").dt.replace_time_zone("Asia/Tokyo")
    )
    result = validate(frame, contract(FRESH), now=NOW)
    assert result.report.result("at.freshness").observed.startswith("1.00h")


def test_freshness_fails_when_there_is_no_timestamp() -> None:
    frame = pl.DataFrame({"at": [None]}, schema={"at": pl.Datetime("us")})
    check = validate(frame, contract(FRESH), now=NOW).report.result("at.freshness")
    assert (check.status, check.message) == ("failed", "column 'at' has no values")


AGE = """\
- name: age
  logicalType: integer
  quality:
    - {type: custom, engine: loopline, implementation: {distribution: {max_psi: 0.2}}}
    - name: age.mean
      type: custom
      engine: loopline
      implementation: {distribution: {max_mean_shift_sd: 0.5}}
"""


def histogram_profile(values: np.ndarray) -> dict[str, object]:
    counts, edges = np.histogram(values, bins=20)
    return {
        "rows": len(values),
        "columns": {
            "age": {
                "count": len(values),
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)),
                "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            }
        },
    }


def test_distribution_checks_are_skipped_without_a_reference() -> None:
    result = validate(pl.DataFrame({"age": [30, 40]}), contract(AGE))
    check = result.report.result("age.distribution")
    assert (check.status, check.message, result.refused) == (
        "skipped",
        "no reference profile was given",
        False,
    )


def test_the_same_distribution_passes() -> None:
    ages = np.random.default_rng(1).normal(40, 10, 5000).round()
    reference = histogram_profile(ages)
    frame = pl.DataFrame({"age": np.random.default_rng(2).normal(40, 10, 5000).round().astype(int)})
    result = validate(frame, contract(AGE), reference_profile=reference)
    assert [c.status for c in result.report.checks[1:]] == ["passed", "passed"]


def test_a_shifted_distribution_fails_psi_and_mean() -> None:
    ages = np.random.default_rng(1).normal(40, 10, 5000).round()
    frame = pl.DataFrame({"age": (ages + 15).astype(int)})
    result = validate(frame, contract(AGE), reference_profile=histogram_profile(ages))
    psi, mean = result.report.result("age.distribution"), result.report.result("age.mean")
    assert (psi.status, mean.status) == ("failed", "failed")
    assert 1.4 < mean.observed < 1.6


def test_categorical_psi_uses_the_reference_categories() -> None:
    reference = {
        "columns": {
            "age": {"count": 100, "top": [{"value": 1, "count": 50}, {"value": 2, "count": 50}]}
        }
    }
    frame = pl.DataFrame({"age": [1] * 90 + [2] * 10})
    check = validate(frame, contract(AGE), reference_profile=reference).report.result(
        "age.distribution"
    )
    expected = population_stability_index(np.array([0.5, 0.5]), np.array([0.9, 0.1]))
    assert check.observed == round(expected, 6)


def test_psi_of_identical_bins_is_zero() -> None:
    assert population_stability_index(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == 0.0


def test_fast_repeats_agree_with_polars_on_random_integer_keys() -> None:
    values = pl.Series(np.random.default_rng(3).integers(-50, 50, 2000))
    expected = values.is_first_distinct().not_()
    assert repeats(values).to_list() == expected.to_list()


def test_repeats_ignore_nulls_on_the_slow_path() -> None:
    assert repeats(pl.Series([1, None, 1, None])).to_list() == [False, False, True, False]
