"""Threshold tuning: the confidence threshold that meets a target, from the coverage-risk curve.

Every registered classifier keeps its test rows' answers in ``holdout.parquet``. A row whose
calibrated ``confidence`` is at least the threshold ``t`` is decided automatically; the others
are escalated (the ``low_confidence`` reason of :class:`~loopline.review.EscalationPolicy`).
For every candidate ``t`` (every distinct confidence, and 0 and 1) the curve gives:

- ``automation_rate``: the share of rows decided automatically;
- ``precision_auto`` (binary): the share of automatic *positive* decisions that were right
  (``None`` when there are none); ``recall_auto``: the share of positives among the automatic
  rows that were decided positive;
- ``accuracy_auto`` and ``risk = 1 - accuracy_auto`` of the automatic decisions;
- ``cost_per_1000``: automatic errors at their cost (``false_positive`` or ``false_negative``
  by the kind of error; a multiclass error at the mean of the two, as the project file has no
  per-class costs) plus ``review`` for each escalated row, per 1,000 decisions.

The target is met on one half of the held-out rows and checked on the other: the rows are
shuffled by ``numpy.random.default_rng(training.seed).permutation(n)``; the first ``n // 2``
*tune* (the threshold is chosen there, and its metrics are the *promise*), the remaining rows
*verify* (metrics the choice never saw, with Wilson 95 % intervals). A promise is delivered when
it lies inside the verified interval.

The tuned threshold covers the confidence reason only: business rules, out-of-distribution
inputs, ambiguous sets and the cost band escalate further rows in serving, so the served
automation rate can only be lower than the promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from loopline.errors import ReviewError
from loopline.review._report import wilson_interval
from loopline.spec import Costs, SuccessMetric

__all__ = [
    "TARGETS",
    "TunedPolicy",
    "choose_threshold",
    "coverage_risk",
    "parse_target",
    "tune_holdout",
]

#: Metrics a threshold can be tuned for (each as ``metric >= value``).
TARGETS = ("automation_rate", "precision_auto", "accuracy_auto")

_HOLDOUT = "holdout.parquet"
_MIN_ROWS = 20
#: Offsets from the chosen threshold shown in the table around it.
_NEARBY = (-0.10, -0.05, -0.02, 0.02, 0.05, 0.10)
_COMPUTABLE = ("automation_rate", "precision_auto", "recall_auto", "accuracy_auto", "cost_per_1000")


def coverage_risk(
    y: npt.ArrayLike | None,
    prediction_correct: npt.ArrayLike,
    confidence: npt.ArrayLike,
    decided_positive: npt.ArrayLike | None,
    *,
    costs: Costs,
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The coverage-risk curve: what automatic decisions deliver and cost at each threshold.

    Args:
        y: Binary outcomes (1 for the positive class), or ``None`` for a multiclass model.
        prediction_correct: Whether each prediction equals the label.
        confidence: Calibrated confidence of each answer, in [0, 1].
        decided_positive: Binary: whether each prediction is the positive class (``None`` for
            a multiclass model, together with ``y``).
        costs: The project's ``objective.costs``.
        thresholds: Where to evaluate (default: every distinct confidence, 0 and 1).

    Returns:
        Lists aligned on ``threshold`` (ascending): ``automation_rate``, ``precision_auto``,
        ``recall_auto``, ``accuracy_auto``, ``risk``, ``cost_per_1000`` (``None`` where
        undefined) and the counts behind them (``automatic``, ``correct_auto``,
        ``positive_auto``, ``true_positive_auto``), plus ``rows``.

    Raises:
        ValueError: The arrays are empty, of different lengths, or confidences leave [0, 1].
    """
    conf = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(prediction_correct, dtype=bool)
    n = conf.size
    if n == 0 or conf.ndim != 1 or correct.shape != conf.shape:
        raise ValueError(
            f"confidence and prediction_correct must be non-empty and of one length; "
            f"got {conf.shape} and {correct.shape}"
        )
    if not np.all((conf >= 0) & (conf <= 1)):
        raise ValueError("confidence must lie within [0, 1] (NaN is not allowed)")
    if (y is None) != (decided_positive is None):
        raise ValueError("give y and decided_positive together (binary) or neither (multiclass)")
    order = np.argsort(conf, kind="stable")
    ranked = conf[order]
    if thresholds is None:
        grid = np.unique(np.concatenate([[0.0, 1.0], conf]))
    else:
        grid = np.sort(np.asarray(thresholds, dtype=np.float64))
    first = np.searchsorted(ranked, grid, side="left")  # rows from here on have conf >= t

    def above(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """How many flagged rows have a confidence at or above each threshold."""
        prefix = np.concatenate([[0], np.cumsum(flags[order], dtype=np.int64)])
        counts: npt.NDArray[np.int64] = prefix[-1] - prefix[first]
        return counts

    automatic = n - first
    correct_auto = above(correct)
    fp, fn = costs.false_positive or 0.0, costs.false_negative or 0.0
    positive_auto = true_positive_auto = actual_positive_auto = None
    if y is not None and decided_positive is not None:
        outcome = np.asarray(y).astype(np.int64) == 1
        positive = np.asarray(decided_positive, dtype=bool)
        if outcome.shape != conf.shape or positive.shape != conf.shape:
            raise ValueError("y and decided_positive must have one entry per confidence")
        positive_auto = above(positive)
        true_positive_auto = above(positive & outcome)
        actual_positive_auto = above(outcome)
        missed = above(~positive & outcome)
        error_cost = (positive_auto - true_positive_auto) * fp + missed * fn
    else:
        error_cost = (automatic - correct_auto) * (fp + fn) / 2
    cost = 1000 * (error_cost + costs.review * (n - automatic)) / n
    accuracy = _ratios(correct_auto, automatic)
    return {
        "rows": n,
        "threshold": [float(t) for t in grid],
        "automatic": [int(a) for a in automatic],
        "correct_auto": [int(c) for c in correct_auto],
        "positive_auto": None if positive_auto is None else [int(p) for p in positive_auto],
        "true_positive_auto": (
            None if true_positive_auto is None else [int(p) for p in true_positive_auto]
        ),
        "automation_rate": [float(a) / n for a in automatic],
        "precision_auto": (
            [None] * grid.size
            if positive_auto is None or true_positive_auto is None
            else _ratios(true_positive_auto, positive_auto)
        ),
        "recall_auto": (
            [None] * grid.size
            if actual_positive_auto is None or true_positive_auto is None
            else _ratios(true_positive_auto, actual_positive_auto)
        ),
        "accuracy_auto": accuracy,
        "risk": [None if a is None else 1.0 - a for a in accuracy],
        "cost_per_1000": [float(c) for c in cost],
    }


def _ratios(numerator: npt.NDArray[np.int64], denominator: npt.NDArray[Any]) -> list[float | None]:
    return [
        float(top) / float(bottom) if bottom else None
        for top, bottom in zip(numerator, denominator, strict=True)
    ]


def choose_threshold(curve: dict[str, Any], target_metric: str, target_value: float) -> float:
    """The threshold that meets ``target_metric >= target_value`` on ``curve``.

    For ``automation_rate`` the *highest* threshold that still automates enough (the most
    careful policy meeting the target); for ``precision_auto`` and ``accuracy_auto`` the
    *lowest* threshold that is precise enough (the most automation meeting the target).

    Raises:
        ReviewError: (422) The metric cannot be a target, or no threshold meets it; the
            message names the best value any threshold reaches.
    """
    if target_metric not in TARGETS:
        raise ReviewError(
            f"Cannot tune for {target_metric!r}; targets are {', '.join(TARGETS)}.", status=422
        )
    thresholds: list[float] = curve["threshold"]
    values: list[float | None] = curve[target_metric]
    meeting = [
        t for t, v in zip(thresholds, values, strict=True) if v is not None and v >= target_value
    ]
    if not meeting:
        reached = [(v, t) for t, v in zip(thresholds, values, strict=True) if v is not None]
        best = (
            f"the best is {max(reached)[0]:.4f} (at threshold {max(reached)[1]:.4f})"
            if reached
            else "no threshold leaves an automatic decision to measure it on"
        )
        raise ReviewError(
            f"No confidence threshold reaches {target_metric} >= {target_value:g} on the "
            f"tuning half of the held-out rows: {best}.",
            status=422,
            hint="Lower the target, or train a better model and tune again.",
        )
    return max(meeting) if target_metric == "automation_rate" else min(meeting)


def parse_target(text: str) -> tuple[str, float]:
    """Read ``metric=value`` (or ``metric>=value``), e.g. ``automation_rate=0.70``.

    Raises:
        ReviewError: (422) Not that shape, an unknown metric, or a value outside (0, 1].
    """
    name, sep, value = text.replace(">=", "=").partition("=")
    name = name.strip()
    try:
        number = float(value) if sep else None
    except ValueError:
        number = None
    if number is None or name not in TARGETS or not 0 < number <= 1:
        raise ReviewError(
            f"{text!r} is not a tuning target.",
            status=422,
            hint=f"Write METRIC=VALUE with METRIC one of {', '.join(TARGETS)} and VALUE in "
            "(0, 1], e.g. automation_rate=0.70.",
        )
    return name, number


@dataclass(frozen=True)
class TunedPolicy:
    """A tuned confidence threshold with what it promises and what held-out rows confirm.

    Attributes:
        threshold: Escalate answers whose confidence is below this (``confidence_below``).
        target: ``{"metric", "value"}`` the threshold was chosen to meet.
        split: How the held-out rows were halved (``seed``, ``tuning_rows``,
            ``verification_rows``).
        promised: Metrics at the threshold on the tuning half, with Wilson 95 % intervals
            (``<metric>_interval``).
        verified: The same metrics on the verification half, which the choice never saw.
        costs: Per 1,000 decisions on the verification half: ``policy``, ``all_manual``
            (every case reviewed) and ``no_escalation`` (threshold 0), with the ``currency``.
        success: For each declared success metric: ``metric``, ``declared``, the verified
            ``value`` where held-out rows can measure it, and ``met`` (``None``: unknown).
        nearby: Tuning-half metrics at a few thresholds around the chosen one.
        model: The model version, ``use_case@version`` (empty before it is stored).
        model_version_id: Its row id (0 before it is stored).
        policy_id: The stored ``DecisionPolicyRecord`` id.
        chart: Object-store key of the coverage-risk SVG.
    """

    threshold: float
    target: dict[str, Any]
    split: dict[str, int]
    promised: dict[str, Any]
    verified: dict[str, Any]
    costs: dict[str, Any]
    success: list[dict[str, Any]]
    nearby: list[dict[str, Any]]
    model: str = ""
    model_version_id: int = 0
    policy_id: int | None = None
    chart: str | None = None
    curves: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def delivered(self) -> dict[str, bool | None]:
        """Per metric, whether the promise lies in the verified 95 % interval (``None``: n/a)."""
        out: dict[str, bool | None] = {}
        for metric in ("automation_rate", "precision_auto", "accuracy_auto"):
            promised = self.promised.get(metric)
            interval = self.verified.get(f"{metric}_interval")
            out[metric] = (
                None
                if promised is None or interval is None
                else interval[0] <= promised <= interval[1]
            )
        return out

    def policy(self) -> dict[str, Any]:
        """The stored policy document (``confidence_below`` is what serving applies)."""
        return {
            "confidence_below": self.threshold,
            "target": self.target,
            "split": self.split,
            "promised": self.promised,
            "verified": self.verified,
            "costs": self.costs,
            "success": self.success,
            "chart": self.chart,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the curves are left out: they are in the chart)."""
        out = asdict(self)
        out.pop("curves")
        return out | {"delivered": self.delivered}


def _arrays(holdout: pl.DataFrame) -> dict[str, Any]:
    """The curve's inputs from a holdout frame (binary when it has ``y``)."""
    if "confidence" not in holdout.columns:
        raise ReviewError(
            "Threshold tuning needs a classifier's confidence; this model is a regression.",
            status=422,
        )
    correct = (holdout["label"] == holdout["prediction"]).to_numpy()
    arrays: dict[str, Any] = {
        "prediction_correct": correct,
        "confidence": holdout["confidence"].to_numpy(),
        "y": None,
        "decided_positive": None,
    }
    if "y" in holdout.columns:
        outcome = holdout["y"].to_numpy() == 1
        arrays["y"] = outcome.astype(np.int64)
        # a right answer says what the outcome was, a wrong one the opposite
        arrays["decided_positive"] = np.where(correct, outcome, ~outcome)
    return arrays


def _take(arrays: dict[str, Any], rows: npt.NDArray[np.int64]) -> dict[str, Any]:
    return {k: None if v is None else np.asarray(v)[rows] for k, v in arrays.items()}


def _at(curve: dict[str, Any], index: int) -> dict[str, Any]:
    """The metrics of one curve point, with Wilson intervals from its counts."""
    n = curve["rows"]
    automatic, correct = curve["automatic"][index], curve["correct_auto"][index]
    positives = curve["positive_auto"]
    true_positives = curve["true_positive_auto"]

    def interval(successes: int, trials: int) -> list[float] | None:
        found = wilson_interval(successes, trials)
        return None if found is None else [found[0], found[1]]

    return {
        "rows": n,
        "automation_rate": curve["automation_rate"][index],
        "automation_rate_interval": interval(automatic, n),
        "precision_auto": curve["precision_auto"][index],
        "precision_auto_interval": (
            None
            if positives is None or true_positives is None
            else interval(true_positives[index], positives[index])
        ),
        "recall_auto": curve["recall_auto"][index],
        "accuracy_auto": curve["accuracy_auto"][index],
        "accuracy_auto_interval": interval(correct, automatic),
        "cost_per_1000": curve["cost_per_1000"][index],
    }


def tune_holdout(
    holdout: pl.DataFrame,
    *,
    target: tuple[str, float],
    costs: Costs,
    success: Sequence[SuccessMetric] = (),
    seed: int = 0,
) -> TunedPolicy:
    """Tune on one seeded half of ``holdout`` and verify on the other (no database).

    Args:
        holdout: A model version's ``holdout.parquet`` (``label``, ``prediction``,
            ``confidence``, and for binary models ``y``).
        target: ``(metric, value)`` from :func:`parse_target`.
        costs: The project's ``objective.costs``.
        success: The project's declared success metrics.
        seed: Seed of the permutation that halves the rows.

    Raises:
        ReviewError: (422) A regression model, too few rows, a binary-only target on a
            multiclass model, or a target no threshold meets.
    """
    metric, value = target
    arrays = _arrays(holdout)
    n = holdout.height
    if n < _MIN_ROWS:
        raise ReviewError(
            f"Tuning needs at least {_MIN_ROWS} held-out rows; this model has {n}.", status=422
        )
    if metric == "precision_auto" and arrays["y"] is None:
        raise ReviewError(
            "precision_auto is defined for binary classifiers only.",
            status=422,
            hint="Tune for accuracy_auto or automation_rate instead.",
        )
    permutation = np.random.default_rng(seed).permutation(n)
    halves = _take(arrays, permutation[: n // 2]), _take(arrays, permutation[n // 2 :])
    tuning = coverage_risk(**halves[0], costs=costs)
    threshold = choose_threshold(tuning, metric, value)
    promised = _at(tuning, tuning["threshold"].index(threshold))
    checked = coverage_risk(**halves[1], costs=costs, thresholds=[0.0, threshold])
    verified = _at(checked, len(checked["threshold"]) - 1)
    costs_out = {
        "currency": costs.currency,
        "policy": verified["cost_per_1000"],
        "all_manual": costs.review * 1000,
        "no_escalation": checked["cost_per_1000"][0],
    }
    around = sorted({min(1.0, max(0.0, round(threshold + d, 4))) for d in _NEARBY} | {threshold})
    near = coverage_risk(**halves[0], costs=costs, thresholds=around)
    keys = ("automation_rate", "precision_auto", "accuracy_auto", "cost_per_1000")
    nearby = [
        {"threshold": t, "chosen": t == threshold, **{k: near[k][i] for k in keys}}
        for i, t in enumerate(near["threshold"])
    ]
    grid = sorted({*np.linspace(0.0, 1.0, 101).tolist(), threshold})
    curves = {
        "tuning": coverage_risk(**halves[0], costs=costs, thresholds=grid),
        "verification": coverage_risk(**halves[1], costs=costs, thresholds=grid),
    }
    return TunedPolicy(
        threshold=threshold,
        target={"metric": metric, "value": value},
        split={"seed": seed, "tuning_rows": n // 2, "verification_rows": n - n // 2},
        promised=promised,
        verified=verified,
        costs=costs_out,
        success=_success(success, verified),
        nearby=nearby,
        curves=curves,
    )


def _success(declared: Sequence[SuccessMetric], verified: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in declared:
        value = verified.get(item.metric) if item.metric in _COMPUTABLE else None
        out.append(
            {
                "metric": item.metric,
                "declared": item.text,
                "op": item.op,
                "bound": item.value,
                "value": value,
                "met": item.met_by(value),
            }
        )
    return out
