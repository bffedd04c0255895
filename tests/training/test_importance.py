"""Permutation importance (the model card's "features that drove it") equals scikit-learn's.

Training scores the shuffled copies of the test rows together, dozens per call, instead of one
call per copy; the shuffles and the numbers must still be exactly those of
``sklearn.inspection.permutation_importance`` with the same seed, for each task's score.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from loopline.training import _evaluate

DATA = Path(__file__).parents[2] / "examples" / "credit-default" / "data" / "credit_default.csv.gz"
#: task -> (target column, estimator, scikit-learn's scoring name)
TASKS: dict[str, tuple[str, Any, str]] = {
    "binary_classification": (
        "default_payment_next_month",
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "roc_auc",
    ),
    "multiclass_classification": (
        "EDUCATION",
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "accuracy",
    ),
    "regression": ("LIMIT_BAL", HistGradientBoostingRegressor(max_iter=20, random_state=0), "r2"),
}


class _Model:
    """The parts of a trained model that permutation importance uses, over a fitted estimator."""

    def __init__(self, task: str, estimator: Any, names: list[str]) -> None:
        self.task = task
        self.estimator = estimator
        self.signature = SimpleNamespace(names=names, positive_class=1)

    def positive_proba(self, rows: pd.DataFrame) -> Any:
        classes = list(self.estimator.classes_)
        return self.estimator.predict_proba(rows[self.signature.names])[:, classes.index(1)]

    def predict(self, rows: pd.DataFrame) -> Any:
        return self.estimator.predict(rows[self.signature.names])


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # as training predicts: gradient boosting's OpenMP pool on a machine another test worker
    # keeps busy made one of these tests ten times slower
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(DATA).drop(columns=["ID"]).head(6000)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("seed", [0, 42])
def test_importance_equals_scikit_learns(
    credit: pd.DataFrame, task: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, estimator, scoring = TASKS[task]
    names = [c for c in credit.columns if c not in (target, "default_payment_next_month")][:10]
    train, test = credit.iloc[:4000], credit.iloc[4000:].reset_index(drop=True)
    estimator.fit(train[names], train[target])
    model = _Model(task, estimator, names)
    # several calls, the last one partly filled: copies must not be split or mixed up
    monkeypatch.setattr(_evaluate, "_IMPORTANCE_CELLS_PER_CALL", 7 * 2000 * len(names))

    ours = _evaluate._importance(model, test, test[target], seed)  # type: ignore[arg-type]

    reference = permutation_importance(
        estimator, test[names], test[target], scoring=scoring, n_repeats=3, random_state=seed
    )
    expected = {
        name: (mean, std)
        for name, mean, std in zip(
            names, reference.importances_mean, reference.importances_std, strict=True
        )
    }
    assert [item["feature"] for item in ours] == sorted(names, key=lambda n: -expected[n][0])
    for item in ours:
        mean, std = expected[item["feature"]]
        assert item["importance"] == pytest.approx(mean, rel=1e-9, abs=1e-12)
        assert item["std"] == pytest.approx(std, rel=1e-9, abs=1e-12)
    assert max(abs(item["importance"]) for item in ours) > 0.01  # some column matters


def test_a_column_the_model_ignores_has_no_importance(credit: pd.DataFrame) -> None:
    used = ["PAY_0", "LIMIT_BAL"]
    estimator = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    estimator.fit(credit[used].head(4000), credit["default_payment_next_month"].head(4000))
    model = _Model("binary_classification", estimator, used)
    model.signature.names = [*used, "AGE"]  # an input the estimator never reads
    model.positive_proba = lambda rows: estimator.predict_proba(rows[used])[:, 1]  # type: ignore[method-assign]
    test = credit.iloc[4000:].reset_index(drop=True)

    found = _evaluate._importance(model, test, test["default_payment_next_month"], 1)  # type: ignore[arg-type]

    ours = {item["feature"]: item for item in found}
    assert ours["AGE"]["importance"] == 0.0
    assert ours["AGE"]["std"] == 0.0
    assert ours["PAY_0"]["importance"] > ours["LIMIT_BAL"]["importance"] > 0


def test_the_stacked_copies_keep_every_column_s_type_and_replace_one_column_each() -> None:
    rows = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "s": pd.Series(["x", "y", "z"], dtype="str"),
            "c": pd.Categorical(["u", "v", "u"]),
            "f": [0.5, np.nan, 1.0],
        }
    )
    copies = [
        ("s", np.array(["z", "x", "y"], dtype=object)),
        ("c", rows["c"].to_numpy()[[2, 1, 0]]),
        ("n", np.array([3, 1, 2])),
    ]

    stacked = _evaluate._stacked(rows, copies)

    assert stacked.dtypes.to_dict() == rows.dtypes.to_dict()
    for index, (name, values) in enumerate(copies):
        part = stacked.iloc[index * 3 : (index + 1) * 3].reset_index(drop=True)
        expected = rows.copy()
        expected[name] = pd.Series(values, dtype=rows[name].dtype)
        pd.testing.assert_frame_equal(part, expected)
