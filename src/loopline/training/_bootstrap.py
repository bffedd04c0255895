"""A paired bootstrap interval for the difference in a metric between two models.

Comparing a challenger with the champion on the same evaluation rows, the question is whether
the difference is larger than the noise of which rows happened to be in the evaluation set.
Resampling the rows with replacement, the *same* rows for both models, keeps the pairing, so
the interval is much narrower than one built from two separate intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from loopline.training._arrays import check_fraction, check_positive_int, check_same_length

__all__ = ["BootstrapInterval", "paired_bootstrap"]

#: Index matrices are drawn this many elements at a time, to bound memory on large sets.
_CHUNK_ELEMENTS = 2_000_000

Metric = Callable[[npt.NDArray[Any], npt.NDArray[Any]], float]


class BootstrapInterval(TypedDict):
    """The observed difference ``metric(b) - metric(a)`` and its percentile interval."""

    difference: float
    low: float
    high: float
    confidence: float
    resamples: int


def paired_bootstrap(
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    metric: Metric,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """The difference ``metric(y, b) - metric(y, a)`` with a paired percentile interval.

    Each resample draws ``n`` row indexes with replacement (``numpy.random.default_rng(seed)``,
    one ``integers(0, n, n)`` draw per resample, in order) and evaluates both models on the same
    rows. ``low`` and ``high`` are the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles (numpy's default linear interpolation) of the resampled differences.

    A resample on which ``metric`` raises :class:`ValueError` or returns a non-finite value is
    skipped; that is how a one-class resample is left out for ROC AUC (loopline's
    :func:`roc_auc` raises, scikit-learn's ``roc_auc_score`` warns and returns NaN; warnings
    on resamples are silenced). ``resamples`` reports how many were used. The metric on the
    full data is not protected: its errors and warnings propagate.

    Args:
        y_true: The targets, one per row.
        score_a: Model A's predictions (the champion): a vector or an ``(n, k)`` matrix.
        score_b: Model B's predictions (the challenger), shaped like ``score_a``.
        metric: ``metric(y_true, score) -> float``, e.g. :func:`roc_auc`.
        n_resamples: The number of bootstrap resamples.
        confidence: The coverage of the interval, strictly between 0 and 1.
        seed: The seed of the resampling; the same seed gives the same interval.

    Raises:
        ValueError: The inputs are malformed, or fewer than half the resamples were usable.
    """
    resamples = check_positive_int("n_resamples", n_resamples)
    level = check_fraction("paired_bootstrap", "confidence", confidence)
    target, first, second = np.asarray(y_true), np.asarray(score_a), np.asarray(score_b)
    n = check_same_length(y_true=target, score_a=first, score_b=second)
    if n == 0:
        raise ValueError("y_true is empty; at least one row is needed")
    difference = float(metric(target, second)) - float(metric(target, first))
    rng = np.random.default_rng(seed)
    differences: list[float] = []
    chunk = max(1, _CHUNK_ELEMENTS // n)
    with warnings.catch_warnings():
        # the full-data call above has shown the metric's warnings once; on resamples they
        # only repeat, or announce an undefined value that the NaN check below skips
        warnings.simplefilter("ignore")
        for start in range(0, resamples, chunk):
            for rows in rng.integers(0, n, size=(min(chunk, resamples - start), n)):
                sample = target[rows]
                try:
                    value = float(metric(sample, second[rows])) - float(metric(sample, first[rows]))
                except ValueError:
                    continue
                if math.isfinite(value):
                    differences.append(value)
    if 2 * len(differences) < resamples:
        raise ValueError(
            f"the metric could be computed on only {len(differences)} of {resamples} "
            "resamples (e.g. most resamples hold a single class); the data is too small "
            "for a bootstrap interval"
        )
    low, high = np.quantile(np.asarray(differences), [(1 - level) / 2, (1 + level) / 2])
    return {
        "difference": difference,
        "low": float(low),
        "high": float(high),
        "confidence": level,
        "resamples": len(differences),
    }
