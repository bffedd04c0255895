"""Label-free estimated performance (in the manner of NannyML's CBPE) and its sampling band.

The formulas are in :mod:`loopline.monitoring._performance`'s docstring; the realised metrics,
intervals and shared checks live there too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from loopline.errors import DataError, Problem
from loopline.monitoring._performance import (
    _BLOCK_CELLS,
    _UNDEFINED,
    BINARY_METRICS,
    Floats,
    MetricValue,
    _finite,
    _metric_names,
    _probabilities,
    _z,
)

__all__ = ["estimated_multiclass_accuracy", "estimated_performance", "expected_confusion"]


def expected_confusion(probability: np.ndarray, threshold: float) -> dict[str, float]:
    """The expected confusion matrix (``tp``, ``fp``, ``fn``, ``tn``) of calibrated probabilities.

    A row is predicted positive when its probability is at least ``threshold``; the four cells
    sum to the number of rows.
    """
    p = _probabilities(probability, "probability")
    decided = p >= _finite(threshold, "threshold")
    return {
        "tp": float(p[decided].sum()),
        "fp": float((1.0 - p[decided]).sum()),
        "fn": float(p[~decided].sum()),
        "tn": float((1.0 - p[~decided]).sum()),
    }


def estimated_performance(
    probability: np.ndarray,
    *,
    threshold: float,
    metrics: Sequence[str] = BINARY_METRICS,
    confidence: float = 0.95,
    simulations: int = 500,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """Label-free estimates of binary metrics from calibrated probabilities, with bands.

    Args:
        probability: The calibrated probability of the positive class per row.
        threshold: The decision threshold (predicted positive when ``p >= threshold``).
        metrics: Any of accuracy, precision, recall, f1 and roc_auc.
        confidence: The coverage of the band.
        simulations: How many label sets are simulated for the band.
        seed: The seed of the simulation; the same seed gives the same bands.

    Raises:
        DataError: A metric is unknown, a probability is missing or outside [0, 1], or
            ``threshold``, ``confidence`` or ``simulations`` is invalid.
    """
    names = _metric_names("binary_classification", metrics)
    _z(confidence)
    if simulations < 1:
        raise DataError(
            f"simulations must be at least 1, got {simulations}.",
            hint="Pass simulations=500 (the default) or more for stable bands.",
        )
    p = _probabilities(probability, "probability")
    cells = expected_confusion(p, threshold)
    if p.size == 0:
        return {n: MetricValue(n, None, None, None, 0, "cbpe_simulation", "no rows") for n in names}
    points = _ratios(cells)
    points["roc_auc"] = _expected_auc(p)
    sims = _simulate(p, p >= threshold, names, simulations, np.random.default_rng(seed))
    alpha = (1.0 - confidence) / 2.0
    out: dict[str, MetricValue] = {}
    for name in names:
        point, values = points[name], sims[name]
        values = values[~np.isnan(values)]
        if point is None or values.size == 0:
            out[name] = MetricValue(
                name, point, None, None, p.size, "cbpe_simulation", _UNDEFINED[name]
            )
            continue
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        out[name] = MetricValue(name, point, float(low), float(high), p.size, "cbpe_simulation")
    return out


def estimated_multiclass_accuracy(
    probabilities: np.ndarray, *, confidence: float = 0.95
) -> MetricValue:
    """The expected accuracy of predicting the most probable class, from calibrated probabilities.

    Each row is right with probability ``m_i``, its largest class probability, so the number
    right has mean ``Σ m_i`` and variance ``Σ m_i (1 - m_i)``; the band is the normal one from
    that variance, clipped to [0, 1].
    """
    z = _z(confidence)
    matrix = np.asarray(probabilities, dtype=float)
    if matrix.ndim != 2:
        raise DataError(
            f"probabilities must be a 2-D array (rows x classes), got {matrix.ndim} dimension(s).",
            hint="Pass one row of class probabilities per prediction.",
        )
    if matrix.shape[0] == 0:
        return MetricValue("accuracy", None, None, None, 0, "bernoulli_normal", "no rows")
    _probabilities(matrix.ravel(), "probabilities")
    sums = matrix.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        raise DataError(
            f"{bad.size} row(s) of probabilities do not sum to 1.",
            hint="Pass the full distribution over the classes (e.g. predict_proba).",
            problems=[
                Problem(
                    ("probabilities", int(i)),
                    "not-a-distribution",
                    "row does not sum to 1",
                    float(sums[i]),
                )
                for i in bad[:5]
            ],
        )
    best = matrix.max(axis=1)
    n = best.size
    value = float(best.mean())
    half = z * math.sqrt(float((best * (1.0 - best)).sum())) / n
    return MetricValue(
        "accuracy", value, max(0.0, value - half), min(1.0, value + half), n, "bernoulli_normal"
    )


def _ratios(cells: Mapping[str, float]) -> dict[str, float | None]:
    tp, fp, fn, tn = cells["tp"], cells["fp"], cells["fn"], cells["tn"]
    return {
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
        "recall": tp / (tp + fn) if tp + fn > 0 else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else None,
    }


def _expected_auc(p: Floats) -> float | None:
    """``Σ_{i≠j} p_i (1 - p_j) [p_i > p_j] / Σ_{i≠j} p_i (1 - p_j)``, ties counted half."""
    q = 1.0 - p
    denominator = float(p.sum() * q.sum() - (p * q).sum())
    if denominator <= 0:
        return None
    values, group = np.unique(p, return_inverse=True)
    tie_q = np.bincount(group, weights=q, minlength=values.size)
    below_q = np.concatenate(([0.0], np.cumsum(tie_q)[:-1]))
    numerator = (p * (below_q[group] + 0.5 * (tie_q[group] - q))).sum()
    return float(numerator / denominator)


def _simulate(
    p: Floats,
    decided: NDArray[np.bool_],
    names: Sequence[str],
    simulations: int,
    rng: np.random.Generator,
) -> dict[str, Floats]:
    """Each metric on ``simulations`` label sets drawn as Bernoulli(p), in bounded blocks."""
    n = p.size
    ranks = rankdata(p)
    predicted = int(decided.sum())
    block = max(1, _BLOCK_CELLS // n)
    parts: dict[str, list[Floats]] = {name: [] for name in names}
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, simulations, block):
            labels = rng.random((min(block, simulations - start), n)) < p
            positives = labels.sum(axis=1).astype(float)
            tp = labels[:, decided].sum(axis=1).astype(float)
            fp, fn = predicted - tp, positives - tp
            values = {
                "accuracy": (n - fp - fn) / n,
                "precision": tp / predicted if predicted else np.full(tp.size, np.nan),
                "recall": np.where(positives > 0, tp / positives, np.nan),
                "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            }
            if "roc_auc" in parts:
                pairs = positives * (n - positives)
                rank_sum = labels.astype(float) @ ranks
                auc = (rank_sum - positives * (positives + 1) / 2) / pairs
                values["roc_auc"] = np.where(pairs > 0, auc, np.nan)
            for name in names:
                parts[name].append(np.asarray(values[name], dtype=float))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}
