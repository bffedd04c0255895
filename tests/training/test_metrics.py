"""Task metrics and calibration error agree with scikit-learn and with reference loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from loopline.training._metrics import (
    average_precision,
    binary_metrics,
    expected_calibration_error,
    multiclass_metrics,
    regression_metrics,
    reliability_curve,
    roc_auc,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@pytest.fixture
def binary() -> tuple[Ints, Floats]:
    rng = np.random.default_rng(3)
    proba = rng.beta(2, 3, 500)
    labels = (rng.uniform(size=500) < proba).astype(np.int64)
    return labels, proba


def _decided(function: Callable[..., float]) -> Callable[[Ints, Floats], float]:
    return lambda y, p: float(function(y, (p >= 0.4).astype(np.int64)))


SKLEARN_BINARY: dict[str, Callable[[Ints, Floats], float]] = {
    "roc_auc": skm.roc_auc_score,
    "pr_auc": skm.average_precision_score,
    "log_loss": skm.log_loss,
    "brier": skm.brier_score_loss,
    "accuracy": _decided(skm.accuracy_score),
    "precision": _decided(skm.precision_score),
    "recall": _decided(skm.recall_score),
    "f1": _decided(skm.f1_score),
}


@pytest.mark.parametrize("name", sorted(SKLEARN_BINARY))
def test_binary_metric_agrees_with_sklearn(name: str, binary: tuple[Ints, Floats]) -> None:
    labels, proba = binary
    ours = binary_metrics(labels, proba, threshold=0.4)[name]
    assert ours == pytest.approx(SKLEARN_BINARY[name](labels, proba), abs=1e-12)


@pytest.mark.parametrize(
    ("ours", "reference"),
    [(roc_auc, skm.roc_auc_score), (average_precision, skm.average_precision_score)],
)
def test_ranking_metrics_agree_with_sklearn_on_tied_scores(
    ours: Callable[[Any, Any], float], reference: Callable[[Any, Any], float]
) -> None:
    rng = np.random.default_rng(4)
    score = rng.integers(0, 6, 400) / 5  # six distinct values: many ties
    labels = (rng.uniform(size=400) < 0.2 + 0.6 * score).astype(np.int64)
    assert ours(labels, score) == pytest.approx(reference(labels, score), abs=1e-12)


def test_binary_metrics_report_prevalence_and_size(binary: tuple[Ints, Floats]) -> None:
    labels, proba = binary
    result = binary_metrics(labels, proba, threshold=0.5)
    assert result["n"] == 500
    assert result["prevalence"] == pytest.approx(labels.mean(), abs=1e-15)


def test_a_probability_equal_to_the_threshold_is_decided_positive() -> None:
    result = binary_metrics([0, 1, 1], [0.2, 0.5, 0.9], threshold=0.5)
    assert result["recall"] == 1.0
    assert result["accuracy"] == 1.0


def test_precision_without_predicted_positives_is_zero() -> None:
    result = binary_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert result["precision"] == 0.0
    assert result["f1"] == 0.0


def test_log_loss_of_certain_wrong_answers_is_finite_and_matches_sklearn() -> None:
    labels, proba = np.array([0, 1, 1, 0]), np.array([1.0, 0.0, 1.0, 0.0])
    result = binary_metrics(labels, proba, threshold=0.5)["log_loss"]
    assert np.isfinite(result)
    assert result == pytest.approx(skm.log_loss(labels, proba), abs=1e-12)


def test_single_class_labels_raise_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="single class"):
        binary_metrics([1, 1, 1], [0.2, 0.6, 0.9], threshold=0.5)


@pytest.mark.parametrize(
    ("labels", "proba", "message"),
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], "y_true must hold only 0 and 1"),
        ([0, 1, 1], [0.1, 1.2, 0.3], r"proba must be probabilities within \[0, 1\]"),
        ([0, 1], [0.1, 0.2, 0.3], "y_true has 2, proba has 3"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "proba must be finite"),
    ],
)
def test_malformed_inputs_raise_value_errors_naming_the_argument(
    labels: list[int], proba: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(labels, proba, threshold=0.5)


@pytest.fixture
def multiclass() -> tuple[Ints, Floats]:
    rng = np.random.default_rng(5)
    proba = rng.dirichlet([2.0, 1.0, 1.0, 0.5], 600)
    labels = np.array([rng.choice(4, p=row) for row in proba])
    return labels, proba


def test_multiclass_metrics_agree_with_sklearn(multiclass: tuple[Ints, Floats]) -> None:
    labels, proba = multiclass
    ours = multiclass_metrics(labels, proba)
    decided = proba.argmax(axis=1)
    assert ours["n"] == 600
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(labels, decided), abs=1e-12)
    assert ours["macro_f1"] == pytest.approx(
        skm.f1_score(labels, decided, average="macro"), abs=1e-12
    )
    assert ours["log_loss"] == pytest.approx(skm.log_loss(labels, proba), abs=1e-12)
    assert ours["roc_auc"] == pytest.approx(
        skm.roc_auc_score(labels, proba, multi_class="ovr", average="macro"), abs=1e-12
    )


def test_multiclass_probability_rows_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match=r"row 1 sums to 0\.9"):
        multiclass_metrics([0, 1], [[0.5, 0.5], [0.3, 0.6]])


def test_multiclass_labels_must_index_the_columns() -> None:
    with pytest.raises(ValueError, match=r"class indexes 0\.\.1"):
        multiclass_metrics([0, 2], [[0.5, 0.5], [0.4, 0.6]])


def test_regression_metrics_agree_with_sklearn() -> None:
    rng = np.random.default_rng(6)
    target = rng.normal(10, 3, 400)
    predicted = target + rng.normal(0.5, 1, 400)
    ours = regression_metrics(target, predicted)
    assert ours["rmse"] == pytest.approx(skm.root_mean_squared_error(target, predicted), abs=1e-12)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(target, predicted), abs=1e-12)
    assert ours["r2"] == pytest.approx(skm.r2_score(target, predicted), abs=1e-12)


@pytest.mark.parametrize("predicted", [[2.0, 2.0, 2.0], [2.0, 2.5, 2.0]])
def test_r2_of_a_constant_target_follows_sklearn(predicted: list[float]) -> None:
    target = [2.0, 2.0, 2.0]
    assert regression_metrics(target, predicted)["r2"] == skm.r2_score(target, predicted)


def _reference_ece(labels: Ints, proba: Floats, bins: int) -> float:
    """ECE by the definition: a plain loop over bins, the last one closed."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for j in range(bins):
        last = j == bins - 1
        inside = (proba >= edges[j]) & ((proba <= edges[j + 1]) if last else (proba < edges[j + 1]))
        if inside.any():
            gap = abs(proba[inside].mean() - labels[inside].mean())
            total += inside.sum() / len(proba) * gap
    return total


@pytest.mark.parametrize("bins", [1, 10, 15])
def test_ece_agrees_with_a_reference_loop(binary: tuple[Ints, Floats], bins: int) -> None:
    labels, proba = binary
    expected = _reference_ece(labels, proba, bins)
    assert expected_calibration_error(labels, proba, bins=bins) == pytest.approx(
        expected, abs=1e-12
    )


def test_ece_bins_values_on_edges_like_the_reference() -> None:
    proba = np.concatenate([np.linspace(0, 1, 16), [0.0, 1.0, 1.0]])
    labels = np.arange(len(proba)) % 2
    expected = _reference_ece(labels, proba, 15)
    assert expected_calibration_error(labels, proba) == pytest.approx(expected, abs=1e-12)


def test_ece_is_zero_when_each_bin_matches_its_observed_rate() -> None:
    proba = np.array([0.25, 0.25, 0.25, 0.25, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    assert expected_calibration_error(labels, proba) == pytest.approx(0.0, abs=1e-15)


def test_reliability_curve_agrees_with_sklearn_calibration_curve(
    binary: tuple[Ints, Floats],
) -> None:
    labels, proba = binary
    curve = reliability_curve(labels, proba, bins=10)
    observed, predicted = calibration_curve(labels, proba, n_bins=10, strategy="uniform")
    assert [v for v in curve["mean_predicted"] if v is not None] == pytest.approx(predicted)
    assert [v for v in curve["observed_rate"] if v is not None] == pytest.approx(observed)


def test_reliability_curve_marks_empty_bins_and_counts_every_row() -> None:
    curve = reliability_curve([0, 1, 1], [0.05, 0.95, 1.0], bins=4)
    assert curve["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve["count"] == [1, 0, 0, 2]
    assert curve["mean_predicted"][1] is None
    assert curve["observed_rate"] == [0.0, None, None, 1.0]
