"""What a drift report says: each feature's result, the dataset verdict, default thresholds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["DEFAULT_THRESHOLDS", "STAT_KEYS", "DriftReport", "FeatureDrift"]

#: The default minimum effect for an alarm, per effect measure.
DEFAULT_THRESHOLDS = {
    "wasserstein_norm": 0.1,
    "wasserstein": 0.1,
    "psi": 0.2,
    "jensenshannon": 0.05,
}
_NUMERIC_METHODS = {"auto": "ks", "ks": "ks", "wasserstein": "wasserstein", "psi": "psi"}
_CATEGORICAL_METHODS = {
    "auto": "chi2",
    "chi2": "chi2",
    "jensenshannon": "jensenshannon",
    "psi": "psi",
}
STAT_KEYS = (
    "ks",
    "ks_p",
    "wasserstein",
    "wasserstein_norm",
    "psi",
    "chi2",
    "chi2_p",
    "jensenshannon",
)


@dataclass(frozen=True)
class FeatureDrift:
    """The drift verdict for one feature (or the prediction) of a report.

    Attributes:
        column: The column.
        kind: ``"numeric"`` or ``"categorical"``.
        method: The method chosen: ``ks``, ``wasserstein``, ``psi``, ``chi2`` or
            ``jensenshannon`` (the table in this module says which test gives the p-value).
        statistic: The statistic of the test that gives the p-value.
        p_value: That test's p-value.
        q_value: The Benjamini-Hochberg adjusted p-value across the report's tested features.
        effect_measure: ``wasserstein_norm``, ``jensenshannon`` or ``psi``; ``wasserstein``
            (absolute) when the reference is constant and has no spread to normalise by.
        effect_size: The effect, in that measure.
        threshold: The minimum effect for an alarm.
        alarm: Significant after FDR control and at least the minimum effect.
        status: ``ok``, ``drift``, ``empty`` (no current rows), ``missing`` (no such column in
            the current data), ``all_null``, ``constant`` (one category, or zero spread, in the
            reference), ``insufficient`` (fewer than ``min_rows`` non-null values).
        rows_reference: Reference rows (nulls included).
        rows_current: Current rows (nulls included).
        null_rate_reference: Share of nulls in the reference column.
        null_rate_current: Share of nulls in the current column (``None`` if missing or empty).
        stats: Every statistic computed (``ks``, ``ks_p``, ``wasserstein``,
            ``wasserstein_norm``, ``psi``, ``chi2``, ``chi2_p``, ``jensenshannon``).
    """

    column: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    q_value: float | None
    effect_measure: str
    effect_size: float | None
    threshold: float
    alarm: bool
    status: str
    rows_reference: int
    rows_current: int
    null_rate_reference: float
    null_rate_current: float | None
    stats: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (no NaN: a value that could not be computed is ``None``)."""
        out = {name: _finite(getattr(self, name)) for name in self.__dataclass_fields__}
        out["stats"] = {k: _finite(v) for k, v in self.stats.items()}
        return out


@dataclass(frozen=True)
class DriftReport:
    """A drift report: every feature's verdict, the prediction's, and the dataset's.

    Attributes:
        features: One entry per feature, in the order they were asked for.
        prediction: Prediction (score) drift, when a prediction column was given; it is not
            counted in ``drift_share``.
        drift_share: Alarmed features over tested features (``None`` if none was tested).
        dataset_drift: ``drift_share`` reached ``share_threshold``.
        fdr: The false-discovery rate the alarms are controlled at.
        share_threshold: The share of drifting features that makes the dataset drift.
        rows_reference: Rows of the reference.
        rows_current: Rows of the current window.
        status: ``ok``, ``drift`` (dataset drift), ``empty`` (no current rows) or
            ``no_features`` (no feature could be tested).
    """

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    drift_share: float | None
    dataset_drift: bool
    fdr: float
    share_threshold: float
    rows_reference: int
    rows_current: int
    status: str

    @property
    def alarmed(self) -> list[str]:
        """The columns whose drift alarmed."""
        return [f.column for f in self.features if f.alarm]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as ``loopline monitor drift --json`` prints it."""
        return {
            "status": self.status,
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "fdr": self.fdr,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
        }

    def to_polars(self) -> pl.DataFrame:
        """One row per feature (the prediction is not included), every statistic a column."""
        rows = []
        for feature in self.features:
            row = feature.to_dict()
            stats = row.pop("stats")
            row.update({key: stats.get(key) for key in STAT_KEYS})
            rows.append(row)
        schema: dict[str, Any] = {
            "column": pl.String,
            "kind": pl.String,
            "method": pl.String,
            "statistic": pl.Float64,
            "p_value": pl.Float64,
            "q_value": pl.Float64,
            "effect_measure": pl.String,
            "effect_size": pl.Float64,
            "threshold": pl.Float64,
            "alarm": pl.Boolean,
            "status": pl.String,
            "rows_reference": pl.Int64,
            "rows_current": pl.Int64,
            "null_rate_reference": pl.Float64,
            "null_rate_current": pl.Float64,
            **dict.fromkeys(STAT_KEYS, pl.Float64),
        }
        return pl.DataFrame(rows, schema=schema, orient="row")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
