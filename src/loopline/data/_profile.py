"""Column profiles of a dataset version: counts, nulls, quantiles, histograms, top categories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

__all__ = ["QUANTILES", "profile_frame"]

#: The quantiles every numeric profile records.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_HISTOGRAM_BINS = 20
_TOP_CATEGORIES = 20
_HIDDEN_PREFIX = "_loopline"


def profile_frame(frame: pl.DataFrame) -> dict[str, Any]:
    """Profile every column of ``frame``; numeric statistics are computed in one vectorised pass.

    Returns:
        ``{"rows": n, "columns": {name: {...}}}``; a numeric column has ``min``, ``max``,
        ``mean``, ``std``, ``quantiles`` and a 20-bin equal-width ``histogram``; a string or
        boolean column has ``top`` (up to 20 most frequent values with counts). Integer columns
        with few distinct values get both.
    """
    columns = [name for name in frame.columns if not name.startswith(_HIDDEN_PREFIX)]
    numeric = [name for name in columns if frame.schema[name].is_numeric()]
    aggregates: list[pl.Expr] = []
    for name in columns:
        column = pl.col(name)
        aggregates += [
            column.null_count().alias(f"{name}\x00nulls"),
            column.approx_n_unique().alias(f"{name}\x00distinct"),
        ]
    for name in numeric:
        column = pl.col(name).cast(pl.Float64)
        aggregates += [
            column.min().alias(f"{name}\x00min"),
            column.max().alias(f"{name}\x00max"),
            column.mean().alias(f"{name}\x00mean"),
            column.std().alias(f"{name}\x00std"),
        ]
    stats = frame.select(aggregates).row(0, named=True) if aggregates and frame.height else {}
    out: dict[str, Any] = {}
    for name in columns:
        nulls = int(stats.get(f"{name}\x00nulls", frame.height) or 0) if frame.height else 0
        entry: dict[str, Any] = {
            "dtype": str(frame.schema[name]),
            "count": frame.height - nulls,
            "nulls": nulls,
            "null_fraction": nulls / frame.height if frame.height else 0.0,
            "distinct": int(stats.get(f"{name}\x00distinct", 0) or 0),
        }
        if name in numeric:
            entry.update(_numeric(frame, name, stats))
        if name not in numeric or entry["distinct"] <= _TOP_CATEGORIES:
            entry["top"] = _top(frame, name)
        out[name] = entry
    return {"rows": frame.height, "columns": out}


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _numeric(frame: pl.DataFrame, name: str, stats: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        key: _clean(stats.get(f"{name}\x00{key}")) for key in ("min", "max", "mean", "std")
    }
    values = frame.get_column(name).drop_nulls().cast(pl.Float64).to_numpy()
    values = values[np.isfinite(values)]
    # one partial sort for all quantiles (linear interpolation, as numpy's and polars' default)
    found = np.quantile(values, QUANTILES) if values.size else [None] * len(QUANTILES)
    entry["quantiles"] = {str(q): _clean(v) for q, v in zip(QUANTILES, found, strict=True)}
    low, high = entry["min"], entry["max"]
    if low is None or high is None:
        entry["histogram"] = {"edges": [], "counts": []}
        return entry
    if low == high:
        high = low + 1.0
    counts, edges = np.histogram(values, bins=_HISTOGRAM_BINS, range=(low, high))
    entry["histogram"] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    return entry


def _top(frame: pl.DataFrame, name: str) -> list[dict[str, Any]]:
    counts = (
        frame.get_column(name).drop_nulls().value_counts(sort=True).head(_TOP_CATEGORIES).rows()
    )
    return [{"value": _plain(value), "count": int(count)} for value, count in counts]


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
