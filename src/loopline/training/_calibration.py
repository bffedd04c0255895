"""Recalibration of the positive-class probability: isotonic or sigmoid (Platt) maps.

A calibrator is fitted on calibration rows (never on training rows, which the model has already
seen) and maps a model's probability to one whose stated confidence matches the observed rate.
:func:`choose_calibration` keeps a calibrator only when it lowers the expected calibration
error on rows held out from fitting it.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from loopline.training._arrays import (
    FloatArray,
    IntArray,
    as_binary_labels,
    as_probabilities,
    check_choice,
    check_same_length,
)
from loopline.training._metrics import expected_calibration_error

__all__ = ["CalibrationChoice", "ProbabilityCalibrator", "choose_calibration"]

#: Probabilities are clipped to [CLIP, 1 - CLIP] before the logit, so 0 and 1 stay finite.
_LOGIT_CLIP = 1e-9
_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-10
_METHODS = ("isotonic", "sigmoid")


class CalibrationChoice(TypedDict):
    """What :func:`choose_calibration` compared and chose."""

    method: str
    ece_before: float
    ece_after: float
    candidates: dict[str, float]


class ProbabilityCalibrator(BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """A monotone map from a model's positive-class probability to a calibrated one.

    ``isotonic`` fits a non-decreasing step function (scikit-learn's ``IsotonicRegression``,
    clipped outside the fitted range): flexible, but it needs a few hundred calibration rows.
    ``sigmoid`` is Platt scaling on the logit of the probability, ``sigmoid(a * logit(p) + b)``
    fitted by Newton's method with Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and
    ``1 / (N- + 2)``: two parameters, robust on small sets; ``a = 1, b = 0`` is the identity.

    Args:
        method: ``"isotonic"`` or ``"sigmoid"``; checked by :meth:`fit`.

    Attributes:
        method_: The method of the last fit.
        isotonic_: The fitted isotonic regression (``None`` for ``sigmoid``).
        slope_: ``a`` of the sigmoid map (``None`` for ``isotonic``).
        intercept_: ``b`` of the sigmoid map (``None`` for ``isotonic``).

    Example:
        >>> import numpy as np
        >>> proba = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
        >>> calibrator = ProbabilityCalibrator("isotonic").fit(proba, [0, 0, 1, 0, 1, 1])
        >>> calibrator.transform([0.1, 0.3, 0.65, 0.95]).round(3).tolist()
        [0.0, 0.5, 0.75, 1.0]
    """

    def __init__(self, method: str = "isotonic") -> None:
        self.method = method

    def fit(self, proba: npt.ArrayLike, y: npt.ArrayLike) -> ProbabilityCalibrator:
        """Fit the map on calibration rows.

        Args:
            proba: The model's probability of the positive class, one per row.
            y: 0/1 labels; both classes must occur.

        Raises:
            ValueError: ``method`` is not allowed, the inputs are malformed or hold one class.
        """
        check_choice("ProbabilityCalibrator", "method", self.method, _METHODS)
        values = as_probabilities(proba)
        labels = as_binary_labels(y, "y")
        check_same_length(proba=values, y=labels)
        if labels.min() == labels.max():
            raise ValueError(
                f"ProbabilityCalibrator needs both classes in y; all {len(labels)} rows are "
                f"{int(labels[0])}"
            )
        self.method_ = self.method
        self.isotonic_: IsotonicRegression | None = None
        self.slope_: float | None = None
        self.intercept_: float | None = None
        if self.method == "isotonic":
            self.isotonic_ = IsotonicRegression(
                y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip"
            ).fit(values, labels.astype(np.float64))
        else:
            self.slope_, self.intercept_ = _fit_platt(_logit(values), labels)
        return self

    def transform(self, proba: npt.ArrayLike) -> FloatArray:
        """The calibrated probabilities, within [0, 1], one per row of ``proba``.

        Raises:
            sklearn.exceptions.NotFittedError: :meth:`fit` has not been called.
        """
        check_is_fitted(self)
        values = as_probabilities(proba)
        if self.isotonic_ is not None:
            mapped = np.asarray(self.isotonic_.predict(values), dtype=np.float64)
        elif self.slope_ is not None and self.intercept_ is not None:
            mapped = _sigmoid(self.slope_ * _logit(values) + self.intercept_)
        else:  # only reachable if the learned attributes were tampered with
            raise RuntimeError("ProbabilityCalibrator holds no fitted map; call fit() again")
        return np.clip(mapped, 0.0, 1.0)

    def predict(self, proba: npt.ArrayLike) -> FloatArray:
        """The same as :meth:`transform`."""
        return self.transform(proba)


def choose_calibration(
    proba_cal: npt.ArrayLike,
    y_cal: npt.ArrayLike,
    proba_holdout: npt.ArrayLike,
    y_holdout: npt.ArrayLike,
    *,
    method: str = "auto",
) -> tuple[ProbabilityCalibrator | None, CalibrationChoice]:
    """Fit candidate calibrators and keep the one that lowers ECE on held-out rows, if any.

    The candidates are both methods for ``"auto"``, the named one for ``"isotonic"`` or
    ``"sigmoid"``, and none for ``"none"``. Each is fitted on the ``_cal`` rows and scored by
    :func:`expected_calibration_error` on the ``_holdout`` rows. The lowest-scoring candidate
    is kept only if it is strictly below the uncalibrated ECE (a tie between the methods goes
    to ``sigmoid``, the simpler map); otherwise no calibrator is returned. The returned
    calibrator is fitted on the ``_cal`` rows only.

    Args:
        proba_cal: Positive-class probabilities of the rows to fit calibrators on.
        y_cal: Their 0/1 labels (both classes must occur).
        proba_holdout: Positive-class probabilities of the rows to compare ECE on.
        y_holdout: Their 0/1 labels.
        method: ``"auto"``, ``"isotonic"``, ``"sigmoid"`` or ``"none"``.

    Returns:
        ``(calibrator or None, choice)`` where ``choice`` holds the chosen ``method``
        (``"none"`` when nothing helped), ``ece_before`` and ``ece_after`` on the held-out rows
        and the held-out ECE of every ``candidates`` method.

    Raises:
        ValueError: ``method`` is not allowed, or the inputs are malformed.
    """
    check_choice("choose_calibration", "method", method, ("auto", "none", *_METHODS))
    before = expected_calibration_error(y_holdout, proba_holdout)
    names = {"auto": ("sigmoid", "isotonic"), "none": ()}.get(method, (method,))
    fitted = {name: ProbabilityCalibrator(name).fit(proba_cal, y_cal) for name in names}
    scores = {
        name: expected_calibration_error(y_holdout, calibrator.transform(proba_holdout))
        for name, calibrator in fitted.items()
    }
    best = min(scores, key=scores.__getitem__, default=None)
    if best is None or scores[best] >= before:
        choice: CalibrationChoice = {
            "method": "none",
            "ece_before": before,
            "ece_after": before,
            "candidates": scores,
        }
        return None, choice
    choice = {"method": best, "ece_before": before, "ece_after": scores[best], "candidates": scores}
    return fitted[best], choice


def _logit(proba: FloatArray) -> FloatArray:
    clipped = np.clip(proba, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.asarray(np.log(clipped) - np.log1p(-clipped), dtype=np.float64)


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


def _fit_platt(feature: FloatArray, labels: IntArray) -> tuple[float, float]:
    """``(a, b)`` minimising the log-loss of ``sigmoid(a * feature + b)`` on Platt's targets."""
    positives = float(labels.sum())
    negatives = len(labels) - positives
    target = np.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    design = np.column_stack([feature, np.ones_like(feature)])
    params = np.array([0.0, np.log((positives + 1) / (negatives + 1))])

    def loss(theta: FloatArray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    current = loss(params)
    for _ in range(_NEWTON_STEPS):
        fitted = _sigmoid(design @ params)
        gradient = design.T @ (fitted - target)
        weights = fitted * (1 - fitted)
        hessian = design.T @ (design * weights[:, None]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-10:  # halve the step until the loss does not increase
            candidate = params - size * step
            value = loss(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break
        params, current = candidate, value
        if np.max(np.abs(size * step)) < _NEWTON_TOLERANCE:
            break
    return float(params[0]), float(params[1])
