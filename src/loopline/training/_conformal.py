"""Split-conformal prediction: sets of classes and intervals with a coverage guarantee.

Each predictor is fitted on calibration rows the model never trained on. It computes one
nonconformity score per row (how badly the model did on it) and keeps the quantile at the exact
finite-sample rank ``k = ceil((n + 1) * (1 - alpha))`` of the ``n`` scores: the ``k``-th
smallest. A new row's set or interval holds every answer whose score would be at most that
quantile. If calibration and new rows are exchangeable, the chance that the set or interval
covers the truth is at least ``1 - alpha`` and, when the scores have no ties, below
``1 - alpha + 1 / (n + 1)``.

When ``k > n`` (too few calibration rows for ``alpha``, e.g. fewer than 19 at ``alpha =
0.05``) the quantile is ``+inf``: every set holds every class and every interval is infinite,
which is the only answer that keeps the guarantee.

The rank is computed in exact rational arithmetic on the decimal value of ``alpha``, so
``n = 99, alpha = 0.1`` gives ``k = 90``, never 91 through a rounding error.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from loopline.training._arrays import (
    FloatArray,
    as_class_labels,
    as_probability_matrix,
    as_values,
    check_choice,
    check_fraction,
    check_same_length,
)

__all__ = [
    "ConformalClassifier",
    "ConformalQuantileRegressor",
    "ConformalRegressor",
    "class_scores",
    "conformal_quantile",
    "conformal_rank",
]

_SCORES = ("aps", "lac")


def conformal_rank(n: int, alpha: float) -> int:
    """``ceil((n + 1) * (1 - alpha))``: which order statistic of ``n`` scores is the quantile.

    A result above ``n`` means the quantile is ``+inf``.
    """
    level = 1 - Fraction(str(float(alpha)))
    return math.ceil((n + 1) * level)


def conformal_quantile(scores: npt.ArrayLike, alpha: float) -> float:
    """The ``conformal_rank``-th smallest of ``scores``, or ``+inf`` when the rank exceeds n."""
    values = np.asarray(scores, dtype=np.float64)
    rank = conformal_rank(len(values), alpha)
    if rank > len(values):
        return math.inf
    return float(np.partition(values, rank - 1)[rank - 1])


def class_scores(proba: FloatArray, score: str) -> FloatArray:
    """The nonconformity score every class would have, as an ``(n, k)`` matrix.

    ``lac``: ``1 - p`` of the class. ``aps``: the total probability of the classes ranked at or
    above it, highest probability first (ties ranked by column order), the class included.
    """
    if score == "lac":
        return 1.0 - proba
    order = np.argsort(-proba, axis=1, kind="stable")
    cumulative = np.cumsum(np.take_along_axis(proba, order, axis=1), axis=1)
    scores = np.empty_like(proba)
    np.put_along_axis(scores, order, cumulative, axis=1)
    return scores


class ConformalClassifier(BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Prediction sets of classes that hold the true class with probability >= ``1 - alpha``.

    Scores (both deterministic, no randomisation):

    - ``"lac"`` (least ambiguous set-valued classifier): ``1 - p(true class)``. The smallest
      sets on average; a set may be empty when no class is probable enough.
    - ``"aps"`` (adaptive prediction sets, non-randomised): the cumulative probability of the
      classes ranked at or above the true class. Sets grow where the model is unsure. A set may
      be empty when the top class alone has more mass than the quantile.

    A class belongs to a row's set when its score is at most ``quantile_``; the coverage
    guarantee of the module docstring holds for both, with the upper bound exact when no two
    scores tie. For a binary problem pass the ``(n, 2)`` matrix ``[1 - p, p]``.

    Args:
        alpha: The tolerated miscoverage rate, strictly between 0 and 1.
        score: ``"lac"`` or ``"aps"``.

    Attributes:
        quantile_: The calibrated score threshold (``inf`` with too few calibration rows).
        rank_: Which order statistic of the calibration scores ``quantile_`` is.
        n_calibration_: The number of calibration rows.
        n_classes_: The number of probability columns.
    """

    def __init__(self, alpha: float = 0.1, score: str = "lac") -> None:
        self.alpha = alpha
        self.score = score

    def fit(self, proba_cal: npt.ArrayLike, y_cal: npt.ArrayLike) -> ConformalClassifier:
        """Calibrate on held-out rows.

        Args:
            proba_cal: An ``(n, k)`` matrix of class probabilities.
            y_cal: The true class of each row, as a column index of ``proba_cal``.

        Raises:
            ValueError: A parameter is not allowed, or the inputs are malformed.
        """
        alpha = check_fraction("ConformalClassifier", "alpha", self.alpha)
        check_choice("ConformalClassifier", "score", self.score, _SCORES)
        matrix = as_probability_matrix(proba_cal, "proba_cal")
        labels = as_class_labels(y_cal, matrix.shape[1], "y_cal")
        n = check_same_length(proba_cal=matrix, y_cal=labels)
        scores = class_scores(matrix, self.score)[np.arange(n), labels]
        self.quantile_ = conformal_quantile(scores, alpha)
        self.rank_ = conformal_rank(n, alpha)
        self.n_calibration_ = n
        self.n_classes_ = matrix.shape[1]
        return self

    def predict_sets(self, proba: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """An ``(n, k)`` boolean matrix: ``True`` where the class is in the row's set.

        Raises:
            sklearn.exceptions.NotFittedError: :meth:`fit` has not been called.
            ValueError: ``proba`` is malformed or has a different number of classes.
        """
        check_is_fitted(self)
        matrix = as_probability_matrix(proba)
        if matrix.shape[1] != self.n_classes_:
            raise ValueError(
                f"proba has {matrix.shape[1]} class columns; the predictor was calibrated on "
                f"{self.n_classes_}"
            )
        return class_scores(matrix, self.score) <= self.quantile_


class ConformalRegressor(BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Intervals ``prediction ± q`` that hold the target with probability >= ``1 - alpha``.

    The score is the absolute residual ``|y - prediction|``; intervals have the same width
    everywhere (use :class:`ConformalQuantileRegressor` for intervals that adapt).

    Args:
        alpha: The tolerated miscoverage rate, strictly between 0 and 1.

    Attributes:
        quantile_: The half-width ``q`` (``inf`` with too few calibration rows).
        rank_: Which order statistic of the calibration residuals ``quantile_`` is.
        n_calibration_: The number of calibration rows.
    """

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, y_pred_cal: npt.ArrayLike, y_cal: npt.ArrayLike) -> ConformalRegressor:
        """Calibrate on the model's predictions for held-out rows and their true targets.

        Raises:
            ValueError: ``alpha`` is not allowed, or the inputs are malformed.
        """
        alpha = check_fraction("ConformalRegressor", "alpha", self.alpha)
        predicted = as_values(y_pred_cal, "y_pred_cal")
        target = as_values(y_cal, "y_cal")
        n = check_same_length(y_pred_cal=predicted, y_cal=target)
        self.quantile_ = conformal_quantile(np.abs(target - predicted), alpha)
        self.rank_ = conformal_rank(n, alpha)
        self.n_calibration_ = n
        return self

    def predict_intervals(self, y_pred: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``(lower, upper)`` bounds around the model's predictions; the interval is closed.

        Raises:
            sklearn.exceptions.NotFittedError: :meth:`fit` has not been called.
        """
        check_is_fitted(self)
        predicted = as_values(y_pred, "y_pred")
        return predicted - self.quantile_, predicted + self.quantile_


class ConformalQuantileRegressor(BaseEstimator):  # type: ignore[misc]  # sklearn ships no types
    """Conformalized quantile regression (CQR): adaptive intervals with a coverage guarantee.

    The model predicts a lower and an upper quantile per row (e.g. the 5 % and 95 %
    quantiles); the score ``max(lower - y, y - upper)`` is how far the target falls outside
    that band (negative inside it). The band is then widened, or narrowed when the score
    quantile is negative, by the same ``q`` on both sides. Crossed bands (``lower > upper``)
    are accepted as given; the guarantee does not depend on the band being sensible.

    Args:
        alpha: The tolerated miscoverage rate, strictly between 0 and 1.

    Attributes:
        quantile_: The correction ``q`` (``inf`` with too few calibration rows).
        rank_: Which order statistic of the calibration scores ``quantile_`` is.
        n_calibration_: The number of calibration rows.
    """

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(
        self, lower_cal: npt.ArrayLike, upper_cal: npt.ArrayLike, y_cal: npt.ArrayLike
    ) -> ConformalQuantileRegressor:
        """Calibrate on the predicted bands for held-out rows and their true targets.

        Raises:
            ValueError: ``alpha`` is not allowed, or the inputs are malformed.
        """
        alpha = check_fraction("ConformalQuantileRegressor", "alpha", self.alpha)
        lower = as_values(lower_cal, "lower_cal")
        upper = as_values(upper_cal, "upper_cal")
        target = as_values(y_cal, "y_cal")
        n = check_same_length(lower_cal=lower, upper_cal=upper, y_cal=target)
        self.quantile_ = conformal_quantile(np.maximum(lower - target, target - upper), alpha)
        self.rank_ = conformal_rank(n, alpha)
        self.n_calibration_ = n
        return self

    def predict_intervals(
        self, lower: npt.ArrayLike, upper: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """``(lower - q, upper + q)``: the conformalized band; the interval is closed.

        Raises:
            sklearn.exceptions.NotFittedError: :meth:`fit` has not been called.
        """
        check_is_fitted(self)
        low = as_values(lower, "lower")
        high = as_values(upper, "upper")
        check_same_length(lower=low, upper=high)
        return low - self.quantile_, high + self.quantile_
