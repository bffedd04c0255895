"""Per-slice metrics agree with metrics on each subset; gaps skip small and undefined slices."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn import metrics as skm

from loopline.training._slices import SLICE_METRICS, slice_gap, slice_metrics

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Strings = npt.NDArray[np.str_]


@pytest.fixture
def sliced() -> tuple[Ints, Floats, Strings]:
    rng = np.random.default_rng(41)
    proba = rng.uniform(size=900)
    labels = (rng.uniform(size=900) < proba).astype(np.int64)
    groups = rng.choice(np.array(["north", "south", "west"]), size=900, p=[0.5, 0.3, 0.2])
    return labels, proba, groups


def test_each_slice_matches_sklearn_on_its_rows(sliced: tuple[Ints, Floats, Strings]) -> None:
    labels, proba, groups = sliced
    report = slice_metrics(labels, proba, groups, threshold=0.4, metrics=SLICE_METRICS)
    for name in ("north", "south", "west"):
        y, p = labels[groups == name], proba[groups == name]
        decided = (p >= 0.4).astype(np.int64)
        assert report[name]["n"] == len(y)
        assert report[name]["recall"] == pytest.approx(skm.recall_score(y, decided), abs=1e-12)
        assert report[name]["precision"] == pytest.approx(
            skm.precision_score(y, decided), abs=1e-12
        )
        assert report[name]["f1"] == pytest.approx(skm.f1_score(y, decided), abs=1e-12)
        assert report[name]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
        assert report[name]["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-12)


def test_slices_are_reported_in_sorted_order_with_plain_python_keys() -> None:
    report = slice_metrics(
        [0, 1, 1, 0], [0.2, 0.7, 0.9, 0.1], np.array([3, 1, 3, 1]), threshold=0.5
    )
    assert list(report) == [1, 3]
    assert all(type(key) is int for key in report)


def test_a_single_class_slice_has_no_roc_auc_or_recall() -> None:
    report = slice_metrics([0, 0, 1, 0], [0.2, 0.6, 0.9, 0.1], ["a", "a", "b", "b"], threshold=0.5)
    assert report["a"]["roc_auc"] is None
    assert report["a"]["recall"] is None
    assert report["a"]["accuracy"] == 0.5


def test_a_slice_without_predicted_positives_has_no_precision() -> None:
    report = slice_metrics([0, 1, 1, 1], [0.2, 0.3, 0.9, 0.8], ["a", "a", "b", "b"], threshold=0.5)
    assert report["a"]["precision"] is None
    assert report["a"]["recall"] == 0.0


def test_unknown_metric_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown slice metric\\(s\\) 'auc'; allowed: accuracy"):
        slice_metrics([0, 1], [0.2, 0.7], ["a", "b"], threshold=0.5, metrics=("auc",))


def test_groups_need_one_value_per_row() -> None:
    with pytest.raises(ValueError, match="groups has 3"):
        slice_metrics([0, 1], [0.2, 0.7], ["a", "b", "c"], threshold=0.5)


def test_gap_is_max_minus_min_over_large_enough_slices() -> None:
    per_slice = {
        "a": {"n": 100, "recall": 0.9},
        "b": {"n": 40, "recall": 0.7},
        "tiny": {"n": 5, "recall": 0.1},
    }
    assert slice_gap(per_slice, "recall") == pytest.approx(0.2)
    assert slice_gap(per_slice, "recall", min_size=1) == pytest.approx(0.8)


def test_gap_ignores_slices_where_the_metric_is_undefined() -> None:
    per_slice: dict[str, dict[str, float | None]] = {
        "a": {"n": 100, "roc_auc": 0.8},
        "b": {"n": 100, "roc_auc": None},
        "c": {"n": 100, "roc_auc": 0.75},
    }
    assert slice_gap(per_slice, "roc_auc") == pytest.approx(0.05)


def test_gap_is_none_with_fewer_than_two_qualifying_slices() -> None:
    per_slice = {"a": {"n": 100, "recall": 0.9}, "b": {"n": 10, "recall": 0.2}}
    assert slice_gap(per_slice, "recall") is None


def test_gap_of_a_metric_no_slice_reports_is_an_error() -> None:
    with pytest.raises(ValueError, match="no slice reports the metric 'f1'"):
        slice_gap({"a": {"n": 100, "recall": 0.9}}, "f1")
