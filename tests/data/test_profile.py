"""Column profiles agree with reference computations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from loopline.data import profile_frame


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, 5000)
    values[::50] = np.nan
    return pl.DataFrame(
        {
            "x": pl.Series(values).fill_nan(None),
            "n": rng.integers(0, 5, 5000),
            "s": rng.choice(["a", "b", "c"], 5000, p=[0.6, 0.3, 0.1]),
        }
    )


def test_numeric_statistics_match_numpy(frame: pl.DataFrame) -> None:
    profile = profile_frame(frame)["columns"]["x"]
    values = frame["x"].drop_nulls().to_numpy()
    assert profile["nulls"] == 100
    assert profile["count"] == 4900
    assert profile["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert profile["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    for q, value in profile["quantiles"].items():
        assert value == pytest.approx(np.quantile(values, float(q)), rel=1e-12)


def test_histogram_counts_every_value(frame: pl.DataFrame) -> None:
    histogram = profile_frame(frame)["columns"]["x"]["histogram"]
    assert sum(histogram["counts"]) == 4900
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    expected, _ = np.histogram(frame["x"].drop_nulls().to_numpy(), bins=histogram["edges"])
    assert histogram["counts"] == expected.tolist()


def test_categories_are_counted(frame: pl.DataFrame) -> None:
    columns = profile_frame(frame)["columns"]
    top = {item["value"]: item["count"] for item in columns["s"]["top"]}
    assert top == dict(frame["s"].value_counts().iter_rows())
    assert columns["s"]["top"][0]["value"] == "a"
    assert "top" in columns["n"]  # a low-cardinality integer gets categories too


def test_empty_and_all_null_columns_do_not_crash() -> None:
    profile = profile_frame(pl.DataFrame({"x": [None, None]}, schema={"x": pl.Float64}))
    column = profile["columns"]["x"]
    assert (column["nulls"], column["mean"], column["quantiles"]["0.5"]) == (2, None, None)
    assert profile_frame(pl.DataFrame({"x": []}, schema={"x": pl.Int64}))["rows"] == 0
