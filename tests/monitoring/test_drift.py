"""Drift reports: real shifts alarm, nothing else does, bad input gets a status."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from loopline.errors import DataError
from loopline.monitoring import build_reference, drift_report


def frame(rows: int, seed: int, *, shift: float = 0.0, rare: float = 0.1) -> pl.DataFrame:
    """Three numeric and two categorical features; ``shift`` moves ``x0`` by that many sds and
    ``rare`` is the share of category "r" in ``c0``."""
    rng = np.random.default_rng(seed)
    shares = [rare, *[(1 - rare) / 3] * 3]
    return pl.DataFrame(
        {
            "x0": rng.normal(10.0 + 2.0 * shift, 2.0, rows),
            "x1": rng.exponential(3.0, rows),
            "x2": rng.integers(0, 8, rows),
            "c0": rng.choice(["r", "a", "b", "c"], rows, p=shares),
            "c1": rng.choice(["u", "v"], rows),
        }
    )


REFERENCE = frame(50_000, 1)
PROFILE = build_reference(REFERENCE)


def test_a_half_sd_mean_shift_alarms_alone() -> None:
    report = drift_report(PROFILE, frame(1_000, 2, shift=0.5))
    assert report.alarmed == ["x0"]
    x0 = report.features[0]
    assert (x0.method, x0.effect_measure, x0.status) == ("ks", "wasserstein_norm", "drift")
    assert x0.effect_size == pytest.approx(0.5, abs=0.1)


def test_a_category_share_doubling_alarms_alone() -> None:
    report = drift_report(PROFILE, frame(1_000, 3, rare=0.2))
    assert report.alarmed == ["c0"]
    assert report.features[3].method == "chi2"
    assert report.features[3].effect_size == pytest.approx(0.12, abs=0.03)


def test_no_shift_no_alarm_and_no_dataset_drift() -> None:
    report = drift_report(PROFILE, frame(1_000, 4))
    assert report.alarmed == []
    assert (report.status, report.dataset_drift, report.drift_share) == ("ok", False, 0.0)


def test_a_trivial_shift_in_a_large_window_is_significant_but_does_not_alarm() -> None:
    report = drift_report(PROFILE, frame(200_000, 5, shift=0.03))
    x0 = report.features[0]
    assert x0.q_value is not None
    assert x0.q_value < 0.05
    assert x0.effect_size is not None
    assert x0.effect_size < x0.threshold
    assert not x0.alarm


def test_statistics_in_the_report_equal_scipy() -> None:
    current = frame(3_000, 6, shift=0.2)
    x1 = drift_report(PROFILE, current).features[1]
    expected = stats.ks_2samp(REFERENCE["x1"].to_numpy(), current["x1"].to_numpy())
    assert x1.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert x1.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    distance = stats.wasserstein_distance(REFERENCE["x1"].to_numpy(), current["x1"].to_numpy())
    assert x1.stats["wasserstein"] == pytest.approx(distance, abs=1e-9)
    assert x1.effect_size == pytest.approx(distance / REFERENCE["x1"].std(ddof=0), abs=1e-9)


def test_dataset_drift_when_the_share_of_drifting_features_is_reached() -> None:
    current = frame(2_000, 7, shift=1.0, rare=0.3).with_columns(pl.col("x1") * 2)
    report = drift_report(PROFILE, current, share=0.4)
    assert report.alarmed == ["x0", "x1", "c0"]
    assert report.drift_share == pytest.approx(0.6)
    assert (report.dataset_drift, report.status) == (True, "drift")


def test_method_overrides_choose_the_test_and_the_effect() -> None:
    methods = {"x0": "psi", "x1": "wasserstein", "c0": "jensenshannon"}
    report = drift_report(PROFILE, frame(1_000, 8, shift=0.5), methods=methods)
    x0, x1, _, c0, _ = report.features
    assert (x0.method, x0.effect_measure, x0.threshold) == ("psi", "psi", 0.2)
    assert x0.p_value == x0.stats["chi2_p"]
    assert x0.effect_size == x0.stats["psi"]
    assert (x1.method, x1.effect_measure, x1.p_value) == (
        "wasserstein",
        "wasserstein_norm",
        x1.stats["ks_p"],
    )
    assert (c0.method, c0.effect_measure) == ("jensenshannon", "jensenshannon")


def test_a_method_that_does_not_fit_the_kind_is_refused() -> None:
    with pytest.raises(DataError, match="does not apply to the categorical column 'c0'"):
        drift_report(PROFILE, frame(100, 9), methods={"c0": "ks"})


def test_min_effect_per_column_raises_the_bar() -> None:
    report = drift_report(PROFILE, frame(1_000, 2, shift=0.5), min_effect={"x0": 5.0})
    assert report.features[0].threshold == 5.0
    assert report.alarmed == []


def test_q_values_are_benjamini_hochberg_over_the_tested_features() -> None:
    report = drift_report(PROFILE, frame(1_000, 10, shift=0.3))
    p = np.array([f.p_value for f in report.features])
    q = np.array([f.q_value for f in report.features])
    order = np.argsort(p)
    expected = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    assert np.allclose(q[order], np.minimum(expected, 1.0))


def test_an_empty_window_gets_status_empty() -> None:
    report = drift_report(PROFILE, REFERENCE.head(0))
    assert report.status == "empty"
    assert {f.status for f in report.features} == {"empty"}
    assert (report.drift_share, report.dataset_drift) == (None, False)


def test_a_missing_feature_is_reported_and_the_others_tested() -> None:
    report = drift_report(PROFILE, frame(1_000, 11).drop("x1"))
    assert report.features[1].status == "missing"
    assert not report.features[1].alarm
    assert report.features[1].q_value is None
    assert report.status == "ok"


def test_all_null_columns_never_alarm() -> None:
    current = frame(1_000, 12).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("x0"), pl.lit(None, dtype=pl.String).alias("c0")
    )
    report = drift_report(PROFILE, current)
    assert (report.features[0].status, report.features[3].status) == ("all_null", "all_null")
    assert report.features[0].null_rate_current == 1.0
    assert report.alarmed == []


def test_a_single_category_reference_is_constant_and_never_alarms() -> None:
    reference = pl.DataFrame({"c": ["a"] * 500, "x": np.zeros(500)})
    current = pl.DataFrame({"c": ["a"] * 200 + ["new"] * 300, "x": np.ones(500)})
    report = drift_report(reference, current)
    c, x = report.features
    assert (c.status, x.status) == ("constant", "constant")
    assert (c.alarm, x.alarm) == (False, False)
    assert c.effect_size is not None
    assert c.effect_size > 0.3  # still reported
    assert (x.effect_measure, x.effect_size) == ("wasserstein", 1.0)  # absolute: std is 0
    assert report.status == "no_features"


def test_an_unseen_category_is_handled_without_p_zero() -> None:
    current = frame(1_000, 13).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("new")).otherwise("c1").alias("c1")
    )
    c1 = drift_report(PROFILE, current).features[4]
    assert c1.p_value is not None
    assert c1.p_value > 0.0
    assert c1.alarm is False


def test_too_few_rows_is_insufficient() -> None:
    report = drift_report(PROFILE, frame(10, 14))
    assert {f.status for f in report.features} == {"insufficient"}
    assert report.status == "no_features"


def test_unparseable_strings_in_a_numeric_column_count_as_nulls() -> None:
    current = frame(1_000, 15).with_columns(
        pl.when(pl.int_range(pl.len()) < 100)
        .then(pl.lit("oops"))
        .otherwise(pl.col("x0").cast(pl.String))
        .alias("x0")
    )
    x0 = drift_report(PROFILE, current).features[0]
    assert x0.null_rate_current == pytest.approx(0.1)
    assert x0.status == "ok"


def test_pandas_input_gives_the_same_report_as_polars() -> None:
    current = frame(1_000, 16, shift=0.5)
    from_pandas = drift_report(REFERENCE.to_pandas(), current.to_pandas())
    assert from_pandas.to_dict() == drift_report(REFERENCE, current).to_dict()


def test_a_frame_reference_and_its_profile_give_the_same_report() -> None:
    current = frame(1_000, 17, rare=0.2)
    assert drift_report(REFERENCE, current).to_dict() == drift_report(PROFILE, current).to_dict()


def test_prediction_drift_is_reported_apart_from_the_share() -> None:
    rng = np.random.default_rng(18)
    current = frame(1_000, 19).with_columns(score=pl.Series(rng.beta(4, 2, 1_000)))
    report = drift_report(
        PROFILE, current, prediction="score", reference_prediction=rng.beta(2, 4, 5_000)
    )
    assert report.prediction is not None
    assert report.prediction.alarm
    assert report.prediction.q_value == report.prediction.p_value
    assert report.alarmed == []
    assert "score" not in [f.column for f in report.features]


def test_to_dict_is_json_and_to_polars_has_a_row_per_feature() -> None:
    report = drift_report(PROFILE, frame(1_000, 20).drop("x2"))
    json.dumps(report.to_dict(), allow_nan=False)
    table = report.to_polars()
    assert table["column"].to_list() == ["x0", "x1", "x2", "c0", "c1"]
    assert table.filter(pl.col("column") == "x2")["status"].item() == "missing"
    assert table["ks"].null_count() == 3  # the categoricals and the missing column


def test_bad_arguments_are_refused_with_what_to_do() -> None:
    with pytest.raises(DataError, match="fdr"):
        drift_report(PROFILE, frame(10, 1), fdr=0.0)
    with pytest.raises(DataError, match=r"\['nope'\] are not in the reference"):
        drift_report(PROFILE, frame(10, 1), columns=["nope"])
    with pytest.raises(DataError, match="not a data frame"):
        drift_report(PROFILE, pd.Series([1, 2]))  # type: ignore[arg-type]
