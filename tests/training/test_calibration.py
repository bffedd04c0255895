"""Probability calibrators agree with reference fits and lower calibration error."""

from __future__ import annotations

import doctest

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.calibration import _sigmoid_calibration

import loopline.training._calibration as calibration_module
from loopline.training._calibration import ProbabilityCalibrator, choose_calibration
from loopline.training._metrics import expected_calibration_error

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@pytest.fixture
def overconfident() -> tuple[Floats, Ints]:
    """Probabilities pushed towards 0 and 1 relative to the true rate."""
    rng = np.random.default_rng(21)
    truth = rng.uniform(0.05, 0.95, 3000)
    labels = (rng.uniform(size=3000) < truth).astype(np.int64)
    logit = np.log(truth / (1 - truth))
    return 1 / (1 + np.exp(-2.5 * logit)), labels


def _pool_adjacent_violators(values: Floats) -> Floats:
    """The non-decreasing least-squares fit to ``values``, by the textbook PAV loop."""
    blocks: list[list[float]] = []  # [mean, weight]
    for value in values:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight = blocks.pop()
            total = blocks[-1][1] + weight
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * weight) / total, total]
    return np.concatenate([np.full(int(weight), mean) for mean, weight in blocks])


def test_isotonic_agrees_with_a_reference_pav_fit(overconfident: tuple[Floats, Ints]) -> None:
    proba, labels = overconfident
    order = np.argsort(proba)
    calibrated = ProbabilityCalibrator("isotonic").fit(proba, labels).transform(proba[order])
    expected = _pool_adjacent_violators(labels[order].astype(np.float64))
    np.testing.assert_allclose(calibrated, expected, rtol=0, atol=1e-12)


def test_sigmoid_agrees_with_sklearn_platt_fit_on_the_logit(
    overconfident: tuple[Floats, Ints],
) -> None:
    proba, labels = overconfident
    ours = ProbabilityCalibrator("sigmoid").fit(proba, labels)
    a, b = _sigmoid_calibration(np.log(proba / (1 - proba)), labels)  # P = 1/(1+exp(a*f+b))
    assert ours.slope_ == pytest.approx(-a, abs=1e-6)
    assert ours.intercept_ == pytest.approx(-b, abs=1e-6)


def test_sigmoid_is_close_to_the_identity_on_calibrated_probabilities() -> None:
    rng = np.random.default_rng(22)
    proba = rng.uniform(0.02, 0.98, 20000)
    labels = (rng.uniform(size=20000) < proba).astype(np.int64)
    calibrator = ProbabilityCalibrator("sigmoid").fit(proba, labels)
    assert calibrator.slope_ == pytest.approx(1.0, abs=0.05)
    assert calibrator.intercept_ == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrated_probabilities_are_monotone_and_within_bounds(
    method: str, overconfident: tuple[Floats, Ints]
) -> None:
    proba, labels = overconfident
    grid = np.linspace(0, 1, 1001)
    calibrated = ProbabilityCalibrator(method).fit(proba, labels).transform(grid)
    assert calibrated.min() >= 0.0
    assert calibrated.max() <= 1.0
    assert np.all(np.diff(calibrated) >= 0)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_lowers_ece_on_fresh_rows(method: str) -> None:
    rng = np.random.default_rng(23)
    truth = rng.uniform(0.05, 0.95, 6000)
    labels = (rng.uniform(size=6000) < truth).astype(np.int64)
    proba = truth**2  # systematically too low
    calibrator = ProbabilityCalibrator(method).fit(proba[:3000], labels[:3000])
    before = expected_calibration_error(labels[3000:], proba[3000:])
    after = expected_calibration_error(labels[3000:], calibrator.transform(proba[3000:]))
    assert after < before / 3


def test_unknown_method_is_refused_at_fit_naming_the_parameter() -> None:
    calibrator = ProbabilityCalibrator("beta")
    with pytest.raises(ValueError, match="method must be one of 'isotonic', 'sigmoid'; got 'beta'"):
        calibrator.fit([0.2, 0.8], [0, 1])


def test_calibration_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="needs both classes"):
        ProbabilityCalibrator("sigmoid").fit([0.2, 0.8, 0.5], [1, 1, 1])


def test_choose_calibration_keeps_the_method_with_the_lowest_holdout_ece(
    overconfident: tuple[Floats, Ints],
) -> None:
    proba, labels = overconfident
    calibrator, choice = choose_calibration(
        proba[:1500], labels[:1500], proba[1500:], labels[1500:]
    )
    assert calibrator is not None
    assert choice["method"] == min(choice["candidates"], key=choice["candidates"].__getitem__)
    assert choice["ece_after"] < choice["ece_before"]
    assert choice["ece_after"] == pytest.approx(
        expected_calibration_error(labels[1500:], calibrator.transform(proba[1500:]))
    )


def test_choose_calibration_keeps_nothing_when_holdout_is_already_perfect() -> None:
    holdout_proba, holdout_labels = np.full(40, 0.5), np.arange(40) % 2  # ECE exactly 0
    rng = np.random.default_rng(24)
    proba = rng.uniform(size=200)
    labels = (rng.uniform(size=200) < proba).astype(np.int64)
    calibrator, choice = choose_calibration(proba, labels, holdout_proba, holdout_labels)
    assert calibrator is None
    assert choice["method"] == "none"
    assert choice["ece_after"] == choice["ece_before"] == 0.0


def test_choose_calibration_with_a_named_method_tries_only_that_one(
    overconfident: tuple[Floats, Ints],
) -> None:
    proba, labels = overconfident
    _, choice = choose_calibration(
        proba[:1500], labels[:1500], proba[1500:], labels[1500:], method="isotonic"
    )
    assert list(choice["candidates"]) == ["isotonic"]


def test_choose_calibration_none_fits_nothing(overconfident: tuple[Floats, Ints]) -> None:
    proba, labels = overconfident
    calibrator, choice = choose_calibration(proba, labels, proba, labels, method="none")
    assert calibrator is None
    assert choice["candidates"] == {}


def test_refitting_with_another_method_leaves_no_trace_of_the_first(
    overconfident: tuple[Floats, Ints],
) -> None:
    proba, labels = overconfident
    calibrator = ProbabilityCalibrator("isotonic").fit(proba, labels)
    refitted = calibrator.set_params(method="sigmoid").fit(proba, labels)
    fresh = ProbabilityCalibrator("sigmoid").fit(proba, labels)
    assert refitted.isotonic_ is None
    np.testing.assert_array_equal(refitted.transform(proba), fresh.transform(proba))


def test_docstring_example_runs() -> None:
    result = doctest.testmod(calibration_module)
    assert result.attempted > 0
    assert result.failed == 0
