"""Drift reports: is a window of data still distributed like the reference, feature by feature?

Per feature, one test gives the p-value and one distance gives the effect size:

| kind | method | p-value | effect (default minimum) |
|---|---|---|---|
| numeric | ``ks`` (default) | two-sample KS | Wasserstein-1 / reference std (0.1) |
| numeric | ``wasserstein`` | two-sample KS | Wasserstein-1 / reference std (0.1) |
| numeric | ``psi`` | chi-square on the PSI bins | PSI on reference-decile bins (0.2) |
| categorical | ``chi2`` (default) | chi-square, 2 x k | Jensen-Shannon distance, base 2 (0.05) |
| categorical | ``jensenshannon`` | chi-square, 2 x k | Jensen-Shannon distance, base 2 (0.05) |
| categorical | ``psi`` | chi-square, 2 x k | PSI on the category shares (0.2) |

A feature alarms when its Benjamini-Hochberg q-value (across the features of the report) is at
most ``fdr`` *and* its effect reaches the minimum: significance alone would make large windows
alarm on trivial shifts. Features that cannot be tested get a status instead (``empty``,
``missing``, ``all_null``, ``insufficient``, ``constant``), never an alarm, and are left out of
the Benjamini-Hochberg family. The dataset drifts when the share of alarmed tested features is
at least ``share``. Prediction (score) drift is tested on its own, outside that family and
outside the share.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, cast

import numpy as np
import pandas as pd
import polars as pl

from loopline.errors import DataError
from loopline.monitoring._reference import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    build_reference,
    category_counts,
    sorted_values,
    to_polars,
)
from loopline.monitoring._stats import (
    benjamini_hochberg,
    bin_counts,
    chi2_test,
    compare_sorted,
    jensenshannon,
    psi,
)

__all__ = ["DEFAULT_THRESHOLDS", "DriftReport", "FeatureDrift", "drift_report"]

from loopline.monitoring._drift_types import (
    _CATEGORICAL_METHODS,
    _NUMERIC_METHODS,
    DEFAULT_THRESHOLDS,
    DriftReport,
    FeatureDrift,
)


def drift_report(
    reference: pl.DataFrame | pd.DataFrame | ReferenceProfile,
    current: pl.DataFrame | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    methods: Mapping[str, str] | None = None,
    fdr: float = 0.05,
    min_effect: float | Mapping[str, float] | None = None,
    share: float = 0.5,
    min_rows: int = 30,
    prediction: str | None = None,
    reference_prediction: np.ndarray | None = None,
) -> DriftReport:
    """Compare a window of data with a reference, feature by feature, with calibrated alarms.

    Args:
        reference: The reference (training) data, or its profile from
            :func:`~loopline.monitoring.build_reference` (the fast way: built once, stored).
        current: The window to check, polars or pandas.
        columns: The features to compare (default: every reference column but the prediction).
        categorical: Columns to treat as categorical, when ``reference`` is a frame.
        methods: A method per column: ``ks``, ``wasserstein`` or ``psi`` for numeric columns,
            ``chi2``, ``jensenshannon`` or ``psi`` for categorical ones (default ``auto``).
        fdr: The false-discovery rate of the alarms (Benjamini-Hochberg across the features).
        min_effect: The minimum effect for an alarm: one number for every feature, or a
            number per column (the others keep their measure's default).
        share: The share of alarmed features at which the whole dataset drifts.
        min_rows: Fewer non-null values than this in either sample: ``insufficient``.
        prediction: A score column present in both: its drift is reported separately.
        reference_prediction: The reference scores, when the reference does not hold them.

    Raises:
        DataError: An argument is out of range, a column or method is unknown, or an input
            is not a data frame.

    Example:
        >>> import numpy as np, polars as pl
        >>> rng = np.random.default_rng(0)
        >>> ref = pl.DataFrame({"x": rng.normal(size=5000)})
        >>> now = pl.DataFrame({"x": rng.normal(1.0, size=1000)})
        >>> drift_report(ref, now).features[0].alarm
        True
    """
    _check_arguments(fdr, share, min_rows)
    window = to_polars(current, "current data")
    profile = _profile(reference, columns, categorical, prediction)
    names = [n for n in profile.columns if n != prediction] if columns is None else list(columns)
    unknown = [n for n in names if n not in profile.columns]
    if unknown:
        raise DataError(
            f"Column(s) {unknown} are not in the reference.",
            hint=f"Choose among {list(profile.columns)}.",
        )
    chosen = _methods(profile, names, methods or {})
    present = [n for n in names if n in window.columns]
    numeric_names = [n for n in present if isinstance(profile.columns[n], NumericReference)]
    values = sorted_values(window, numeric_names) if window.height else {}
    computed = _numeric_stats_of(profile.columns, values)
    features = []
    for name in names:
        threshold = _threshold(min_effect, name)
        features.append(
            _feature(
                name, profile.columns[name], window, computed, chosen[name], threshold, min_rows
            )
        )
    features = _decide(features, fdr)
    score = None
    if prediction is not None:
        ref, scores = _prediction(prediction, reference_prediction, profile, window)
        scored = _numeric_stats_of({prediction: ref}, scores)
        threshold = _threshold(min_effect, prediction)
        default = "ks" if isinstance(ref, NumericReference) else "chi2"
        score = _decide(
            [_feature(prediction, ref, window, scored, default, threshold, min_rows)], fdr
        )[0]
    tested = [f for f in features if f.status in ("ok", "drift")]
    drift_share = sum(f.alarm for f in tested) / len(tested) if tested else None
    dataset_drift = drift_share is not None and drift_share >= share
    status = (
        "empty"
        if window.height == 0
        else "no_features"
        if not tested
        else "drift"
        if dataset_drift
        else "ok"
    )
    return DriftReport(
        features=tuple(features),
        prediction=score,
        drift_share=drift_share,
        dataset_drift=dataset_drift,
        fdr=fdr,
        share_threshold=share,
        rows_reference=profile.rows,
        rows_current=window.height,
        status=status,
    )


def _check_arguments(fdr: float, share: float, min_rows: int) -> None:
    for name, value in (("fdr", fdr), ("share", share)):
        if not 0.0 < value <= 1.0:
            raise DataError(
                f"{name}={value!r} is out of range.", hint=f"Give {name} in (0, 1], e.g. 0.05."
            )
    if min_rows < 1:
        raise DataError(f"min_rows={min_rows!r} is out of range.", hint="Give min_rows >= 1.")


def _profile(
    reference: Any,
    columns: Sequence[str] | None,
    categorical: Iterable[str],
    prediction: str | None,
) -> ReferenceProfile:
    if isinstance(reference, ReferenceProfile):
        return reference
    frame = to_polars(reference, "reference")
    wanted = None
    if columns is not None:
        wanted = list(columns)
        if prediction is not None and prediction in frame.columns and prediction not in wanted:
            wanted.append(prediction)
    forced = [c for c in categorical if wanted is None or c in wanted]
    return build_reference(frame, categorical=forced, columns=wanted)


def _methods(
    profile: ReferenceProfile, names: list[str], methods: Mapping[str, str]
) -> dict[str, str]:
    chosen: dict[str, str] = {}
    stray = sorted(set(methods) - set(names))
    if stray:
        raise DataError(
            f"Method(s) given for column(s) {stray} that the report does not compare.",
            hint=f"Name columns among {names}.",
        )
    for name in names:
        kind = profile.columns[name].kind
        table = _NUMERIC_METHODS if kind == "numeric" else _CATEGORICAL_METHODS
        asked = methods.get(name, "auto")
        if asked not in table:
            raise DataError(
                f"Method {asked!r} does not apply to the {kind} column {name!r}.",
                hint=f"Choose one of {', '.join(table)}.",
            )
        chosen[name] = table[asked]
    return chosen


def _threshold(min_effect: float | Mapping[str, float] | None, name: str) -> float | None:
    if min_effect is None:
        return None
    if isinstance(min_effect, Mapping):
        value = min_effect.get(name)
        return None if value is None else float(value)
    return float(min_effect)


def _feature(
    name: str,
    ref: NumericReference | CategoricalReference,
    window: pl.DataFrame,
    computed: Mapping[str, tuple[Any, int, dict[str, float]]],
    method: str,
    threshold: float | None,
    min_rows: int,
) -> FeatureDrift:
    """The statistics and status of one column, before FDR control."""
    numeric = isinstance(ref, NumericReference)
    if numeric:
        measure = "psi" if method == "psi" else "wasserstein_norm"
    else:
        measure = "psi" if method == "psi" else "jensenshannon"
    ref_rows = ref.rows
    base = FeatureDrift(
        column=name,
        kind=ref.kind,
        method=method,
        statistic=None,
        p_value=None,
        q_value=None,
        effect_measure=measure,
        effect_size=None,
        threshold=DEFAULT_THRESHOLDS[measure] if threshold is None else threshold,
        alarm=False,
        status="ok",
        rows_reference=ref_rows,
        rows_current=window.height,
        null_rate_reference=ref.nulls / ref_rows if ref_rows else 0.0,
        null_rate_current=None,
    )
    if name not in window.columns:
        return replace(base, status="missing")
    if window.height == 0:
        return replace(base, status="empty")
    if isinstance(ref, NumericReference):
        current, nulls, stats = computed[name]
        count, filled = int(current.size), int(ref.values.size)
        constant = filled > 0 and ref.std == 0.0
    else:
        categories, counts, nulls = category_counts(window.get_column(name))
        count, filled = int(counts.sum()), int(ref.counts.sum())
        stats = _categorical_stats(ref, categories, counts) if count and filled else {}
        constant = len(ref.categories) == 1
    base = replace(base, null_rate_current=nulls / window.height)
    if count == 0 or filled == 0:
        return replace(base, status="all_null", stats=stats)
    if numeric and constant and measure == "wasserstein_norm":
        measure = "wasserstein"
        base = replace(base, effect_measure=measure)
    statistic, p_value = {
        "ks": ("ks", "ks_p"),
        "wasserstein": ("ks", "ks_p"),
        "psi": ("chi2", "chi2_p"),
        "chi2": ("chi2", "chi2_p"),
        "jensenshannon": ("chi2", "chi2_p"),
    }[method]
    status = "insufficient" if min(count, filled) < min_rows else "constant" if constant else "ok"
    return replace(
        base,
        statistic=stats.get(statistic),
        p_value=stats.get(p_value),
        effect_size=stats.get(measure),
        status=status,
        stats=stats,
    )


def _numeric_stats_of(
    references: Mapping[str, NumericReference | CategoricalReference],
    values: Mapping[str, tuple[Any, int]],
) -> dict[str, tuple[Any, int, dict[str, float]]]:
    """Each numeric column's sorted values, nulls and statistics, columns compared in threads.

    NumPy releases the GIL in the binary searches, scatters and sums that do the work, so
    columns run in parallel on the machine's cores.
    """

    def one(name: str) -> tuple[Any, int, dict[str, float]]:
        current, nulls = values[name]
        ref = cast("NumericReference", references[name])  # sorted_values took numerics only
        stats = _numeric_stats(ref, current) if current.size and ref.values.size else {}
        return current, nulls, stats

    names = list(values)
    workers = min(len(names), os.cpu_count() or 1)
    if workers <= 1:
        return {name: one(name) for name in names}
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def _numeric_stats(ref: NumericReference, current: Any) -> dict[str, float]:
    ks, ks_p, wasserstein = compare_sorted(ref.values, current)
    current_counts = bin_counts(current, ref.edges)
    reference_counts = np.rint(ref.proportions * ref.values.size).astype(np.int64)
    chi2, chi2_p = chi2_test(reference_counts, current_counts)
    stats = {
        "ks": ks,
        "ks_p": ks_p,
        "wasserstein": wasserstein,
        "psi": psi(ref.proportions, current_counts / current.size),
        "chi2": chi2,
        "chi2_p": chi2_p,
    }
    if ref.std > 0:
        stats["wasserstein_norm"] = wasserstein / ref.std
    return stats


def _categorical_stats(
    ref: CategoricalReference, categories: tuple[str, ...], counts: Any
) -> dict[str, float]:
    union = sorted(set(ref.categories) | set(categories))
    index = {name: i for i, name in enumerate(union)}
    reference = np.zeros(len(union), dtype=np.int64)
    reference[[index[c] for c in ref.categories]] = ref.counts
    current = np.zeros(len(union), dtype=np.int64)
    current[[index[c] for c in categories]] = counts
    chi2, chi2_p = chi2_test(reference, current)
    p = reference / reference.sum()
    q = current / current.sum()
    return {
        "chi2": chi2,
        "chi2_p": chi2_p,
        "jensenshannon": jensenshannon(reference.astype(np.float64), current.astype(np.float64)),
        "psi": psi(p, q),
    }


def _decide(features: list[FeatureDrift], fdr: float) -> list[FeatureDrift]:
    """Benjamini-Hochberg across the testable features, then both conditions for an alarm."""
    tested = [i for i, f in enumerate(features) if f.status == "ok" and f.p_value is not None]
    q_values = benjamini_hochberg([features[i].p_value or 0.0 for i in tested])
    out = list(features)
    for i, q in zip(tested, q_values, strict=True):
        feature = features[i]
        effect = feature.effect_size
        alarm = bool(q <= fdr and effect is not None and effect >= feature.threshold)
        out[i] = replace(feature, q_value=float(q), alarm=alarm, status="drift" if alarm else "ok")
    return out


def _prediction(
    name: str,
    reference_prediction: np.ndarray | None,
    profile: ReferenceProfile,
    window: pl.DataFrame,
) -> tuple[NumericReference | CategoricalReference, dict[str, tuple[Any, int]]]:
    """The reference of the score column and the window's sorted scores (if numeric)."""
    if reference_prediction is not None:
        scores = pl.DataFrame({name: np.asarray(reference_prediction)})
        ref = build_reference(scores).columns[name]
    elif name in profile.columns:
        ref = profile.columns[name]
    else:
        raise DataError(
            f"The prediction column {name!r} is not in the reference.",
            hint="Profile the reference with its scores, or pass reference_prediction=.",
        )
    present = [name] if name in window.columns and isinstance(ref, NumericReference) else []
    return ref, sorted_values(window, present) if window.height else {}
