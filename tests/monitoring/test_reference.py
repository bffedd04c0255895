"""Reference profiles: what they keep, kinds, the Parquet round trip and the summary."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest

from loopline.errors import DataError
from loopline.monitoring import ReferenceProfile, build_reference, drift_report
from loopline.monitoring._reference import CategoricalReference, NumericReference

FRAME = pl.DataFrame(
    {
        "x": [3.0, None, 1.0, 2.0, float("nan"), 5.0],
        "n": [1, 2, 2, 3, 1, 1],
        "s": ["a", "b", None, "a", "a", "c"],
        "flag": [True, False, True, True, None, False],
        "day": [date(2024, 1, d) for d in range(1, 7)],
    }
)


def numeric(profile: ReferenceProfile, name: str) -> NumericReference:
    column = profile.columns[name]
    assert isinstance(column, NumericReference)
    return column


def categorical(profile: ReferenceProfile, name: str) -> CategoricalReference:
    column = profile.columns[name]
    assert isinstance(column, CategoricalReference)
    return column


def test_numeric_columns_keep_sorted_values_nulls_and_moments() -> None:
    x = numeric(build_reference(FRAME), "x")
    assert x.values.tolist() == [1.0, 2.0, 3.0, 5.0]  # NaN counts as null
    assert (x.nulls, x.mean) == (2, 2.75)
    assert x.std == pytest.approx(np.std([1, 2, 3, 5]))


def test_psi_bins_are_deduplicated_reference_deciles() -> None:
    values = np.random.default_rng(1).integers(0, 4, 1_000).astype(float)
    reference = numeric(build_reference(pl.DataFrame({"v": values})), "v")
    assert (
        reference.edges.tolist() == np.unique(np.quantile(values, np.arange(1, 10) / 10)).tolist()
    )
    below = [np.mean(values < e) for e in reference.edges]
    assert np.allclose(np.cumsum(reference.proportions)[:-1], below)
    assert reference.proportions.sum() == pytest.approx(1.0)


def test_kinds_are_inferred_from_types_and_can_be_forced() -> None:
    profile = build_reference(FRAME, categorical=["n"])
    kinds = {name: column.kind for name, column in profile.columns.items()}
    assert kinds == {
        "x": "numeric",
        "n": "categorical",
        "s": "categorical",
        "flag": "categorical",
        "day": "numeric",
    }
    assert build_reference(FRAME).columns["n"].kind == "numeric"  # few distinct integers


def test_categorical_columns_keep_counts_of_string_values() -> None:
    profile = build_reference(FRAME, categorical=["n"])
    s, n = categorical(profile, "s"), categorical(profile, "n")
    assert (s.categories, s.counts.tolist(), s.nulls) == (("a", "b", "c"), [3, 1, 1], 1)
    assert (n.categories, n.counts.tolist()) == (("1", "2", "3"), [3, 2, 1])


def test_round_trip_through_bytes_gives_identical_reports() -> None:
    rng = np.random.default_rng(2)
    reference = pl.DataFrame({"a": rng.normal(size=2_000), "c": rng.choice(["x", "y"], 2_000)})
    current = pl.DataFrame({"a": rng.normal(0.4, size=500), "c": rng.choice(["x", "y"], 500)})
    profile = build_reference(reference)
    again = ReferenceProfile.from_bytes(profile.to_bytes())
    assert again.rows == profile.rows
    assert np.array_equal(numeric(again, "a").values, numeric(profile, "a").values)
    assert drift_report(again, current).to_dict() == drift_report(profile, current).to_dict()


def test_bytes_that_are_not_a_profile_are_refused() -> None:
    with pytest.raises(DataError, match="not a loopline reference profile"):
        ReferenceProfile.from_bytes(b"not parquet")


def test_summary_is_json_with_quantiles_histogram_and_top_categories() -> None:
    summary = build_reference(FRAME).summary()
    json.dumps(summary, allow_nan=False)
    x = summary["columns"]["x"]
    assert (x["rows"], x["nulls"], x["null_rate"]) == (6, 2, pytest.approx(1 / 3))
    assert (x["min"], x["max"], x["quantiles"]["0.5"]) == (1.0, 5.0, 2.5)
    assert sum(x["histogram"]["counts"]) == 4
    assert len(x["histogram"]["counts"]) == 20
    assert summary["columns"]["s"]["categories"] == {"a": 3, "b": 1, "c": 1}


def test_unknown_columns_are_refused() -> None:
    with pytest.raises(DataError, match="not in the reference frame"):
        build_reference(FRAME, columns=["x", "zzz"])
