"""Input checks shared by the evaluation statistics: labels, probabilities, parameters.

Every check raises :class:`ValueError` with a message that names the argument, says what was
allowed and what was received; the training orchestration translates it into a loopline error
at its boundary. The functions return clean ``float64``/``int64`` copies so that the statistics
never see booleans, object arrays or column vectors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "IntArray",
    "as_binary_labels",
    "as_class_labels",
    "as_probabilities",
    "as_probability_matrix",
    "as_values",
    "check_choice",
    "check_cost",
    "check_fraction",
    "check_positive_int",
    "check_same_length",
    "check_threshold",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows of a probability matrix must sum to one within this absolute tolerance.
_ROW_SUM_TOLERANCE = 1e-6


def _one_dimensional(values: npt.ArrayLike, name: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; at least one row is needed")
    return array


def as_values(values: npt.ArrayLike, name: str) -> FloatArray:
    """A one-dimensional array of finite floats (targets or predictions of a regression)."""
    array = _one_dimensional(values, name)
    try:
        result = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}") from exc
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
    return result


def as_binary_labels(values: npt.ArrayLike, name: str = "y_true") -> IntArray:
    """Binary labels as 0/1 integers; booleans and the floats 0.0/1.0 are accepted."""
    array = _one_dimensional(values, name)
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    seen = np.unique(array)
    if seen.dtype.kind not in "iuf" or not np.all((seen == 0) | (seen == 1)):
        shown = ", ".join(repr(value) for value in seen[:5].tolist())
        raise ValueError(f"{name} must hold only 0 and 1 (the positive class); got {shown}")
    return array.astype(np.int64)


def as_class_labels(values: npt.ArrayLike, n_classes: int, name: str = "y_true") -> IntArray:
    """Class labels as column indexes ``0 .. n_classes - 1`` of a probability matrix."""
    array = _one_dimensional(values, name)
    if array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class indexes; got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"{name} must hold class indexes 0..{n_classes - 1} (one per probability column); "
            f"got values from {low} to {high}"
        )
    return array.astype(np.int64)


def as_probabilities(values: npt.ArrayLike, name: str = "proba") -> FloatArray:
    """Probabilities of the positive class: one-dimensional, finite, within [0, 1]."""
    result = as_values(values, name)
    if result.min() < 0.0 or result.max() > 1.0:
        raise ValueError(
            f"{name} must be probabilities within [0, 1]; "
            f"got values from {result.min():g} to {result.max():g}"
        )
    return result


def as_probability_matrix(values: npt.ArrayLike, name: str = "proba") -> FloatArray:
    """An ``(n, k)`` matrix of class probabilities, ``k >= 2``, each row summing to one."""
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"{name} must be an (n, k) matrix of class probabilities with k >= 2; "
            f"got shape {array.shape} (for a binary problem pass the columns [1 - p, p])"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty; at least one row is needed")
    result = array.astype(np.float64)
    if not np.all(np.isfinite(result)) or result.min() < 0.0 or result.max() > 1.0:
        raise ValueError(f"{name} must hold finite probabilities within [0, 1]")
    sums = result.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(f"each row of {name} must sum to 1; row {worst} sums to {sums[worst]:g}")
    return result


def check_same_length(**arrays: npt.NDArray[Any]) -> int:
    """The common number of rows of ``arrays``, which must all have the same length."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"the arrays must have one row per example; {shown}")
    return next(iter(lengths.values()))


def check_choice(owner: str, name: str, value: object, allowed: Collection[str]) -> None:
    """Raise unless ``value`` is one of the ``allowed`` strings."""
    if not isinstance(value, str) or value not in allowed:
        shown = ", ".join(repr(option) for option in sorted(allowed))
        raise ValueError(f"{owner}: {name} must be one of {shown}; got {value!r}")


def check_fraction(owner: str, name: str, value: object) -> float:
    """``value`` as a float strictly between 0 and 1 (a risk level or a confidence)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a number in (0, 1); got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{owner}: {name} must lie strictly between 0 and 1; got {value!r}")
    return float(value)


def check_cost(name: str, value: object) -> float:
    """``value`` as a finite, non-negative cost."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative; got {value!r}")
    return float(value)


def check_threshold(value: object, name: str = "threshold") -> float:
    """``value`` as a decision threshold within [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number within [0, 1]; got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie within [0, 1]; got {value!r}")
    return float(value)


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value!r}")
    return int(value)
