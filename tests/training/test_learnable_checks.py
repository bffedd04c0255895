"""The one check suite every learnable part of loopline passes (the scikit-learn contract).

Each case names an estimator, how to fit it and what output to compare. Agreement with a
reference implementation is checked in each part's own test module (test_calibration.py,
test_conformal.py); here every part is held to the same contract: defaults construct,
``__init__`` stores parameters only, parameters round-trip, ``clone`` gives an unfitted copy,
pickling keeps outputs identical, fitting is deterministic and replaces earlier state, use
before ``fit`` raises ``NotFittedError``, and invalid parameters are refused by ``fit``.
To add a learnable part, add a :class:`Case`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from loopline.training._calibration import ProbabilityCalibrator
from loopline.training._conformal import (
    ConformalClassifier,
    ConformalQuantileRegressor,
    ConformalRegressor,
)

Floats = npt.NDArray[np.float64]
_RNG = np.random.default_rng(61)
PROBA = _RNG.uniform(0.01, 0.99, 400)
LABELS = (_RNG.uniform(size=400) < PROBA**1.5).astype(np.int64)
MATRIX = _RNG.dirichlet(np.ones(3), 400)
CLASSES = np.array([_RNG.choice(3, p=row) for row in MATRIX])
PREDICTED = _RNG.normal(size=400)
TARGET = PREDICTED + _RNG.standard_t(4, size=400)


@dataclass(frozen=True)
class Case:
    """One learnable part under the contract."""

    make: Callable[..., Any]
    params: dict[str, Any]  # non-default parameters to construct with
    defaults: dict[str, Any]
    invalid: dict[str, Any]  # a parameter value fit must refuse
    fit: Callable[[Any, slice], Any]  # fit on a slice of the shared data
    output: Callable[[Any], Floats]  # outputs on other rows, as one array


def _both(pair: tuple[Floats, Floats]) -> Floats:
    return np.concatenate(pair)


CASES = {
    f"calibrator-{method}": Case(
        make=ProbabilityCalibrator,
        params={"method": method},
        defaults={"method": "isotonic"},
        invalid={"method": "beta"},
        fit=lambda est, rows: est.fit(PROBA[rows], LABELS[rows]),
        output=lambda est: est.transform(PROBA[300:]),
    )
    for method in ("isotonic", "sigmoid")
} | {
    f"conformal-classifier-{score}": Case(
        make=ConformalClassifier,
        params={"alpha": 0.2, "score": score},
        defaults={"alpha": 0.1, "score": "lac"},
        invalid={"score": "raps"},
        fit=lambda est, rows: est.fit(MATRIX[rows], CLASSES[rows]),
        output=lambda est: est.predict_sets(MATRIX[300:]).astype(np.float64),
    )
    for score in ("lac", "aps")
}
CASES["conformal-regressor"] = Case(
    make=ConformalRegressor,
    params={"alpha": 0.2},
    defaults={"alpha": 0.1},
    invalid={"alpha": 1.5},
    fit=lambda est, rows: est.fit(PREDICTED[rows], TARGET[rows]),
    output=lambda est: _both(est.predict_intervals(PREDICTED[300:])),
)
CASES["conformal-quantile-regressor"] = Case(
    make=ConformalQuantileRegressor,
    params={"alpha": 0.2},
    defaults={"alpha": 0.1},
    invalid={"alpha": 0.0},
    fit=lambda est, rows: est.fit(PREDICTED[rows] - 1, PREDICTED[rows] + 1, TARGET[rows]),
    output=lambda est: _both(est.predict_intervals(PREDICTED[300:] - 1, PREDICTED[300:] + 1)),
)

FIRST, SECOND = slice(0, 150), slice(150, 300)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_defaults_construct(case: Case) -> None:
    assert case.make().get_params() == case.defaults


def test_init_stores_parameters_only(case: Case) -> None:
    estimator = case.make(**case.params)
    assert vars(estimator) == {**case.defaults, **case.params}
    assert estimator.get_params() == {**case.defaults, **case.params}


def test_set_params_round_trips(case: Case) -> None:
    estimator = case.make().set_params(**case.params)
    assert estimator.get_params() == {**case.defaults, **case.params}


def test_fit_returns_the_estimator(case: Case) -> None:
    estimator = case.make(**case.params)
    assert case.fit(estimator, FIRST) is estimator


def test_clone_is_an_unfitted_copy_with_the_same_parameters(case: Case) -> None:
    fitted = case.fit(case.make(**case.params), FIRST)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)


def test_pickle_round_trip_keeps_outputs_identical(case: Case) -> None:
    fitted = case.fit(case.make(**case.params), FIRST)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(case.output(restored), case.output(fitted))


def test_fitting_is_deterministic(case: Case) -> None:
    first = case.output(case.fit(case.make(**case.params), FIRST))
    again = case.output(case.fit(case.make(**case.params), FIRST))
    np.testing.assert_array_equal(first, again)


def test_refitting_replaces_the_learned_state(case: Case) -> None:
    refitted = case.fit(case.fit(case.make(**case.params), FIRST), SECOND)
    fresh = case.fit(case.make(**case.params), SECOND)
    np.testing.assert_array_equal(case.output(refitted), case.output(fresh))


def test_use_before_fit_raises_not_fitted_error(case: Case) -> None:
    with pytest.raises(NotFittedError):
        case.output(case.make(**case.params))


def test_invalid_parameters_are_refused_by_fit_not_init(case: Case) -> None:
    estimator = case.make(**case.invalid)
    name = next(iter(case.invalid))
    with pytest.raises(ValueError, match=name):
        case.fit(estimator, FIRST)
