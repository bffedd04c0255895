"""Realised and label-free estimated performance, against sklearn, statsmodels and simulation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from statsmodels.stats.proportion import proportion_confint

from loopline.errors import DataError
from loopline.monitoring import _performance
from loopline.monitoring._estimated import (
    estimated_multiclass_accuracy,
    estimated_performance,
    expected_confusion,
)
from loopline.monitoring._performance import MetricValue, compare, realised_performance
from tests.conftest import EXAMPLE

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _labelled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated probabilities, their Bernoulli labels and decisions at 0.5, as strings."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    y = np.where(rng.random(n) < p, "yes", "no")
    return p, y, np.where(p >= 0.5, "yes", "no")


def test_realised_point_values_equal_sklearn() -> None:
    p, y, pred = _labelled(700, seed=1)
    got = realised_performance(y, probability=p, prediction=pred, positive="yes")
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, pos_label="yes"),
        "recall": recall_score(y, pred, pos_label="yes"),
        "f1": f1_score(y, pred, pos_label="yes"),
        "roc_auc": roc_auc_score(y == "yes", p),
    }
    for name, value in expected.items():
        assert got[name].value == pytest.approx(value, abs=1e-12), name


def test_roc_auc_equals_sklearn_with_tied_probabilities() -> None:
    p, y, pred = _labelled(500, seed=2)
    rounded = np.round(p, 1)
    got = realised_performance(y, probability=rounded, prediction=pred, positive="yes")
    assert got["roc_auc"].value == pytest.approx(roc_auc_score(y == "yes", rounded), abs=1e-12)


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_wilson_intervals_equal_statsmodels_with_their_denominators(confidence: float) -> None:
    p, y, pred = _labelled(400, seed=3)
    got = realised_performance(
        y, probability=p, prediction=pred, positive="yes", confidence=confidence
    )
    actual, decided = y == "yes", pred == "yes"
    tp = int((actual & decided).sum())
    counts = {
        "accuracy": (int((y == pred).sum()), y.size),
        "precision": (tp, int(decided.sum())),
        "recall": (tp, int(actual.sum())),
    }
    for name, (successes, n) in counts.items():
        low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
        assert got[name].method == "wilson"
        assert got[name].n == n
        assert got[name].low == pytest.approx(low, abs=1e-12), name
        assert got[name].high == pytest.approx(high, abs=1e-12), name


def test_f1_bootstrap_interval_contains_value_and_is_seeded() -> None:
    p, y, pred = _labelled(600, seed=4)
    first = realised_performance(y, probability=p, prediction=pred, positive="yes", seed=7)["f1"]
    again = realised_performance(y, probability=p, prediction=pred, positive="yes", seed=7)["f1"]
    other = realised_performance(y, probability=p, prediction=pred, positive="yes", seed=8)["f1"]
    assert first.method == "bootstrap"
    assert first.low is not None
    assert first.high is not None
    assert first.value is not None
    assert first.low < first.value < first.high
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)


def test_delong_interval_uses_the_pairwise_structural_components() -> None:
    p, y, pred = _labelled(120, seed=5)
    scores = np.round(p, 2)  # ties count half
    positive, negative = scores[y == "yes"], scores[y == "no"]
    kernel = np.array(
        [[1.0 if a > b else 0.5 if a == b else 0.0 for b in negative] for a in positive]
    )
    v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / positive.size + v01.var(ddof=1) / negative.size)
    auc = realised_performance(y, probability=scores, prediction=pred, positive="yes")["roc_auc"]
    assert auc.method == "delong"
    assert auc.value == pytest.approx(kernel.mean(), abs=1e-12)
    assert auc.low == pytest.approx(kernel.mean() - 1.959963984540054 * se, abs=1e-12)
    assert auc.high == pytest.approx(kernel.mean() + 1.959963984540054 * se, abs=1e-12)


def test_regression_metrics_equal_sklearn_with_bootstrap_intervals() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(10, 3, 800)
    pred = y + rng.standard_t(3, 800)
    got = realised_performance(
        y, probability=None, prediction=pred, positive=None, task="regression"
    )
    assert set(got) == {"mae", "rmse"}
    expected = {"mae": mean_absolute_error(y, pred), "rmse": root_mean_squared_error(y, pred)}
    for name, value in expected.items():
        metric = got[name]
        assert metric.value == pytest.approx(value, abs=1e-12)
        assert metric.method == "bootstrap"
        assert metric.low is not None
        assert metric.high is not None
        assert metric.value is not None
        assert metric.low < metric.value < metric.high


def test_bootstrap_and_simulation_blocks_do_not_change_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(size=300)
    p, _, _ = _labelled(300, seed=7)
    whole_regression = realised_performance(
        y, probability=None, prediction=y + 1, positive=None, task="regression"
    )
    whole_estimate = estimated_performance(p, threshold=0.5)
    monkeypatch.setattr(_performance, "_BLOCK_CELLS", 1000)  # three rows of 300 per block
    assert (
        realised_performance(
            y, probability=None, prediction=y + 1, positive=None, task="regression"
        )
        == whole_regression
    )
    assert estimated_performance(p, threshold=0.5) == whole_estimate


def test_multiclass_accuracy_equals_sklearn_with_wilson_interval() -> None:
    rng = np.random.default_rng(8)
    y = rng.choice(["a", "b", "c"], 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.choice(["a", "b", "c"], 300))
    got = realised_performance(
        y, probability=None, prediction=pred, positive=None, task="multiclass_classification"
    )
    low, high = proportion_confint(int((y == pred).sum()), 300, method="wilson")
    assert got["accuracy"].value == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert (got["accuracy"].low, got["accuracy"].high) == pytest.approx((low, high), abs=1e-12)


def test_expected_confusion_equals_a_loop_and_sums_to_n() -> None:
    p = np.random.default_rng(9).random(257)
    cells = {"tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": 0.0}
    for value in p:
        if value >= 0.3:
            cells["tp"] += value
            cells["fp"] += 1 - value
        else:
            cells["fn"] += value
            cells["tn"] += 1 - value
    got = expected_confusion(p, 0.3)
    assert got == pytest.approx(cells, abs=1e-9)
    assert sum(got.values()) == pytest.approx(257, abs=1e-9)


def test_estimated_point_values_are_ratios_of_expected_cells() -> None:
    p = np.random.default_rng(10).beta(2, 3, 500)
    c = expected_confusion(p, 0.4)
    got = estimated_performance(p, threshold=0.4)
    assert got["accuracy"].value == pytest.approx((c["tp"] + c["tn"]) / 500, abs=1e-12)
    assert got["precision"].value == pytest.approx(c["tp"] / (c["tp"] + c["fp"]), abs=1e-12)
    assert got["recall"].value == pytest.approx(c["tp"] / (c["tp"] + c["fn"]), abs=1e-12)
    f1 = 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"])
    assert got["f1"].value == pytest.approx(f1, abs=1e-12)
    assert all(metric.method == "cbpe_simulation" and metric.n == 500 for metric in got.values())


def test_expected_auc_equals_the_pairwise_formula() -> None:
    p = np.round(np.random.default_rng(11).random(150), 1)  # with ties
    numerator = denominator = 0.0
    for i in range(p.size):
        for j in range(p.size):
            if i != j:
                weight = p[i] * (1 - p[j])
                denominator += weight
                numerator += weight * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    got = estimated_performance(p, threshold=0.5, metrics=["roc_auc"])["roc_auc"]
    assert got.value == pytest.approx(numerator / denominator, abs=1e-12)


def test_band_is_seeded() -> None:
    p = np.random.default_rng(12).beta(2, 5, 800)
    first = estimated_performance(p, threshold=0.4, seed=3)
    assert estimated_performance(p, threshold=0.4, seed=3) == first
    assert estimated_performance(p, threshold=0.4, seed=4)["f1"].low != first["f1"].low


def test_band_covers_the_realised_metric_on_calibrated_windows() -> None:
    rng = np.random.default_rng(13)
    inside = dict.fromkeys(METRICS, 0)
    for window in range(300):
        p = rng.beta(2, 5, 1000)
        y = (rng.random(1000) < p).astype(int)
        pred = (p >= 0.4).astype(int)
        realised = realised_performance(y, probability=p, prediction=pred, positive=1, resamples=10)
        estimated = estimated_performance(p, threshold=0.4, seed=window)
        for name, row in compare(estimated, realised).items():
            inside[name] += bool(row["realised_within_band"])
    shares = {name: count / 300 for name, count in inside.items()}
    assert all(0.90 <= share <= 0.99 for share in shares.values()), shares


def _credit_windows(transform: Any) -> dict[str, int]:
    """Windows (of 10) of held-out credit data whose realised metric lies in the band."""
    frame = pl.read_csv(EXAMPLE / "data" / "credit_default.csv.gz").drop("ID")
    y = frame["default_payment_next_month"].to_numpy()
    x = frame.drop("default_payment_next_month").to_numpy()
    order = np.random.default_rng(0).permutation(y.size)
    train, held_out = order[:20000], order[20000:]
    model = CalibratedClassifierCV(
        HistGradientBoostingClassifier(max_iter=100, random_state=0), method="isotonic", cv=5
    ).fit(x[train], y[train])
    probability = transform(model.predict_proba(x[held_out])[:, 1])
    threshold = 50 / (50 + 500)  # the example's cost-optimal threshold: c_fp / (c_fp + c_fn)
    inside = dict.fromkeys(METRICS, 0)
    for rows in np.split(np.arange(held_out.size), 10):
        p, labels = probability[rows], y[held_out][rows]
        realised = realised_performance(
            labels, probability=p, prediction=(p >= threshold).astype(int), positive=1
        )
        for name, row in compare(estimated_performance(p, threshold=threshold), realised).items():
            inside[name] += bool(row["realised_within_band"])
    return inside


@pytest.mark.slow
def test_credit_estimate_lies_within_its_band_on_held_out_windows() -> None:
    inside = _credit_windows(lambda p: p)
    assert all(count >= 7 for count in inside.values()), inside


@pytest.mark.slow
def test_credit_estimate_of_a_miscalibrated_model_falls_outside_its_band() -> None:
    inside = _credit_windows(np.square)
    for name in ("accuracy", "precision", "recall", "roc_auc"):
        assert inside[name] <= 2, inside


def test_estimated_multiclass_accuracy_band_covers_realised_accuracy() -> None:
    rng = np.random.default_rng(14)
    inside = 0
    for _ in range(300):
        probabilities = rng.dirichlet([1.0, 2.0, 3.0], 1000)
        labels = (rng.random((1000, 1)) > probabilities.cumsum(axis=1)).sum(axis=1)
        estimate = estimated_multiclass_accuracy(probabilities)
        realised = float((labels == probabilities.argmax(axis=1)).mean())
        assert estimate.low is not None
        assert estimate.high is not None
        inside += estimate.low <= realised <= estimate.high
    assert 0.90 <= inside / 300 <= 0.99
    best = probabilities.max(axis=1)
    assert estimate.value == pytest.approx(best.mean(), abs=1e-12)
    half = 1.959963984540054 * np.sqrt((best * (1 - best)).sum()) / 1000
    assert estimate.high == pytest.approx(best.mean() + half, abs=1e-12)


def test_compare_reports_difference_and_band() -> None:
    estimated = {"accuracy": MetricValue("accuracy", 0.8, 0.75, 0.85, 100, "cbpe_simulation")}
    estimated["recall"] = MetricValue("recall", 0.5, 0.4, 0.6, 100, "cbpe_simulation")
    realised = {
        "accuracy": MetricValue("accuracy", 0.9, 0.8, 0.95, 100, "wilson"),
        "recall": MetricValue("recall", None, None, None, 0, "wilson", "no actual positives"),
    }
    got = compare(estimated, realised)
    assert got["accuracy"]["difference"] == pytest.approx(0.1)
    assert got["accuracy"]["realised_within_band"] is False
    assert got["recall"] == {
        "estimated": 0.5,
        "realised": None,
        "difference": None,
        "low": 0.4,
        "high": 0.6,
        "realised_within_band": None,
    }


def _json(metrics: dict[str, MetricValue]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        json.dumps({k: v.to_dict() for k, v in metrics.items()}, allow_nan=False)
    )
    return loaded


def test_empty_windows_give_undefined_metrics_not_errors() -> None:
    empty = np.array([], dtype=float)
    realised = realised_performance(empty, probability=empty, prediction=empty, positive=1)
    estimated = estimated_performance(empty, threshold=0.5)
    regression = realised_performance(
        empty, probability=None, prediction=empty, positive=None, task="regression"
    )
    for metrics in (realised, estimated, regression):
        for row in _json(metrics).values():
            assert row["value"] is None
            assert row["reason"]
    assert estimated_multiclass_accuracy(np.empty((0, 3))).value is None


def test_single_class_window_leaves_auc_and_recall_undefined() -> None:
    p = np.random.default_rng(15).random(50)
    got = realised_performance(np.zeros(50), probability=p, prediction=p >= 0.5, positive=1)
    rows = _json(got)
    assert rows["roc_auc"]["value"] is None
    assert "both classes" in rows["roc_auc"]["reason"]
    assert rows["recall"]["value"] is None
    assert rows["f1"]["value"] == 0.0
    assert rows["accuracy"]["value"] == pytest.approx(float((p < 0.5).mean()))


def test_all_predicted_negative_leaves_precision_undefined() -> None:
    p, y, _ = _labelled(200, seed=16)
    realised = realised_performance(y, probability=p, prediction=["no"] * 200, positive="yes")
    estimated = estimated_performance(p, threshold=1.01)
    assert _json(realised)["precision"]["reason"] == "no predicted positives"
    assert _json(estimated)["precision"]["value"] is None
    assert estimated["recall"].value == 0.0
    assert compare(estimated, realised)["precision"]["realised_within_band"] is None


def test_nan_probability_is_refused_with_its_rows() -> None:
    p = np.array([0.2, np.nan, 0.7, np.nan])
    with pytest.raises(DataError, match="2 NaN") as caught:
        estimated_performance(p, threshold=0.5)
    assert [problem.loc for problem in caught.value.problems] == [
        ("probability", 1),
        ("probability", 3),
    ]
    assert caught.value.problems[0].code == "nan-probability"
    with pytest.raises(DataError, match="NaN"):
        realised_performance([0, 1, 1, 0], probability=p, prediction=[0, 1, 1, 0], positive=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: estimated_performance(np.array([0.5, 1.2]), threshold=0.5), "outside"),
        (lambda: estimated_performance(np.array([0.5]), threshold=0.5, metrics=["mae"]), "mae"),
        (
            lambda: estimated_performance(np.array([0.5]), threshold=0.5, confidence=95),
            "confidence",
        ),
        (
            lambda: realised_performance(
                [1, None], probability=None, prediction=[1, 0], positive=1
            ),
            "missing",
        ),
        (
            lambda: realised_performance([1, 0], probability=None, prediction=[1], positive=1),
            "rows",
        ),
        (
            lambda: realised_performance(
                [1], probability=None, prediction=[1], positive=1, task="ranking"
            ),
            "task",
        ),
        (lambda: estimated_multiclass_accuracy(np.array([[0.5, 0.2]])), "sum to 1"),
    ],
)
def test_bad_input_raises_a_data_error_saying_what(call: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        call()
