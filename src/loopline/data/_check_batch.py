"""Batch-level checks: row count, freshness and distribution against a reference profile.

These measure one value for the whole batch; there is no row to quarantine, so a failure at
``error`` or ``reject`` severity refuses the batch.

The reference profile is the dictionary :func:`loopline.data.profile_frame` writes for every
dataset version: ``{"rows": n, "columns": {name: entry}}`` where a numeric entry has ``mean``,
``std``, ``count`` and ``histogram: {edges, counts}``, and a low-cardinality entry has ``top: [
{value, count}, ...]``. The population stability index (PSI) uses the reference's categories when
``top`` covers every value, its histogram bins otherwise, with extra bins for values outside the
reference range.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from loopline.data._check_model import Check
from loopline.data._contract_reader import parse_duration

__all__ = ["BatchOutcome", "evaluate_batch_check", "population_stability_index"]

_EPSILON = 1e-4


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch-level check measured: ``passed`` is ``None`` when it could not run."""

    passed: bool | None
    observed: Any
    bound: str
    message: str | None = None


def evaluate_batch_check(
    check: Check,
    frame: pl.DataFrame,
    *,
    reference_profile: Mapping[str, Any] | None,
    now: dt.datetime,
) -> BatchOutcome:
    """Measure a ``row_count``, ``freshness`` or ``distribution`` check on ``frame``."""
    if check.kind == "row_count":
        if check.bound is None:  # a parsed rowCount always has a comparison
            raise ValueError(f"row-count check {check.name!r} has no bound")
        rows = frame.height
        return BatchOutcome(check.bound.allows(rows), rows, check.bound.describe())
    if check.kind == "freshness":
        return _freshness(check, frame, now)
    if check.kind == "distribution":
        return _distribution(check, frame, reference_profile)
    raise ValueError(f"check {check.name!r} of kind {check.kind!r} is not batch-level")


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two vectors of bin fractions (each summing to 1); bins floored at 1e-4."""
    e = np.clip(expected, _EPSILON, None)
    a = np.clip(actual, _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _freshness(check: Check, frame: pl.DataFrame, now: dt.datetime) -> BatchOutcome:
    column = check.params["column"]
    max_age = str(check.params["max_age"])
    seconds = parse_duration(max_age) or 0.0
    bound = f"age <= {max_age}"
    newest = frame.get_column(column).max()
    if newest is None:
        return BatchOutcome(False, None, bound, f"column {column!r} has no values")
    if isinstance(newest, dt.datetime):
        moment = newest if newest.tzinfo else newest.replace(tzinfo=dt.timezone.utc)
    elif isinstance(newest, dt.date):
        moment = dt.datetime.combine(newest, dt.time(), tzinfo=dt.timezone.utc)
    else:
        return BatchOutcome(None, None, bound, f"column {column!r} holds no timestamps")
    current = now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    age = (current - moment).total_seconds()
    observed = f"{age / 3600:.2f}h (newest {moment.isoformat()})"
    return BatchOutcome(age <= seconds, observed, bound)


def _distribution(
    check: Check, frame: pl.DataFrame, reference_profile: Mapping[str, Any] | None
) -> BatchOutcome:
    column = check.params["column"]
    metric = "max_psi" if "max_psi" in check.params else "max_mean_shift_sd"
    limit = float(check.params[metric])
    label = "psi" if metric == "max_psi" else "mean shift (reference SDs)"
    bound = f"{label} <= {limit}"
    if reference_profile is None:
        return BatchOutcome(None, None, bound, "no reference profile was given")
    entry = reference_profile.get("columns", {}).get(column)
    if not isinstance(entry, Mapping):
        return BatchOutcome(None, None, bound, f"the reference profile has no column {column!r}")
    values = frame.get_column(column).drop_nulls()
    if values.len() == 0:
        return BatchOutcome(None, None, bound, f"column {column!r} has no values")
    measure = _mean_shift if metric == "max_mean_shift_sd" else _psi
    value = measure(values, entry)
    if value is None:
        return BatchOutcome(None, None, bound, f"the reference for {column!r} lacks {label} data")
    return BatchOutcome(value <= limit, round(value, 6), bound)


def _mean_shift(values: pl.Series, entry: Mapping[str, Any]) -> float | None:
    mean, std = entry.get("mean"), entry.get("std")
    if mean is None:
        return None
    current = float(values.cast(pl.Float64).to_numpy().mean())
    if not std:
        return 0.0 if current == mean else math.inf
    return abs(current - float(mean)) / float(std)


def _psi(values: pl.Series, entry: Mapping[str, Any]) -> float | None:
    top = entry.get("top")
    if (
        isinstance(top, list)
        and top
        and sum(int(t["count"]) for t in top) >= int(entry.get("count", 0))
    ):
        return _categorical_psi(values, top)
    histogram = entry.get("histogram") or {}
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    if len(edges) < 2 or not values.dtype.is_numeric() or sum(counts) == 0:
        return None
    reference = np.asarray([0.0, *counts, 0.0], dtype=float)
    reference /= reference.sum()
    data = values.cast(pl.Float64).to_numpy()
    inner, _ = np.histogram(data, bins=np.asarray(edges, dtype=float))
    below = int(np.sum(data < edges[0]))
    above = int(np.sum(data > edges[-1]))
    actual = np.asarray([below, *inner, above], dtype=float)
    actual /= actual.sum()
    return population_stability_index(reference, actual)


def _categorical_psi(values: pl.Series, top: list[Mapping[str, Any]]) -> float:
    reference = {_key(item["value"]): float(item["count"]) for item in top}
    counts = values.value_counts()
    current: dict[str, float] = {}
    for value, count in counts.iter_rows():
        current[_key(value)] = current.get(_key(value), 0.0) + float(count)
    keys = sorted(set(reference) | set(current))
    expected = np.asarray([reference.get(k, 0.0) for k in keys])
    actual = np.asarray([current.get(k, 0.0) for k in keys])
    return population_stability_index(expected / expected.sum(), actual / actual.sum())


def _key(value: Any) -> str:
    return repr(value) if isinstance(value, bool | int | float) else str(value)
