"""Held-out splits: train, calibration and test rows, by the strategy the project declares.

The test part is split off first (``test_fraction`` of all rows); the calibration part is
``calibration_fraction`` of what remains. Calibration rows fit the probability calibrator, the
conformal quantile and the cost-optimal threshold; test rows are touched only to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from loopline.errors import TrainingError
from loopline.spec import SplitSpec

__all__ = ["Split", "split_rows"]

Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """Row positions of each part."""

    train: Index
    calibration: Index
    test: Index

    def sizes(self) -> dict[str, int]:
        """How many rows each part has."""
        return {
            "train": len(self.train),
            "calibration": len(self.calibration),
            "test": len(self.test),
        }


def split_rows(frame: pl.DataFrame, spec: SplitSpec, *, target: str, seed: int) -> Split:
    """Split ``frame``'s rows; the same data, spec and seed always give the same split.

    Raises:
        TrainingError: The split column is missing, or a part would be empty.
    """
    rows = np.arange(frame.height, dtype=np.int64)
    if spec.column is not None and spec.column not in frame.columns:
        raise TrainingError(
            f"The split column {spec.column!r} is not in the dataset.",
            hint=f"training.split.column must be one of: {', '.join(frame.columns)}.",
        )
    if spec.method == "time":
        order = rows[np.argsort(frame.get_column(spec.column or "").to_numpy(), kind="stable")]
        n_test = max(1, round(len(order) * spec.test_fraction))
        rest, test = order[:-n_test], order[-n_test:]
        n_cal = max(1, round(len(rest) * spec.calibration_fraction))
        split = Split(train=rest[:-n_cal], calibration=rest[-n_cal:], test=test)
    elif spec.method == "group":
        groups = frame.get_column(spec.column or "").to_numpy()
        outer = GroupShuffleSplit(n_splits=1, test_size=spec.test_fraction, random_state=seed)
        rest, test = next(outer.split(rows, groups=groups))
        inner = GroupShuffleSplit(
            n_splits=1, test_size=spec.calibration_fraction, random_state=seed + 1
        )
        train, calibration = next(inner.split(rest, groups=groups[rest]))
        split = Split(train=rows[rest][train], calibration=rows[rest][calibration], test=rows[test])
    else:
        labels = frame.get_column(target).to_numpy() if spec.method == "stratified" else None
        rest, test = train_test_split(
            rows, test_size=spec.test_fraction, random_state=seed, stratify=labels
        )
        inner = labels[rest] if labels is not None else None
        train, calibration = train_test_split(
            rest, test_size=spec.calibration_fraction, random_state=seed + 1, stratify=inner
        )
        split = Split(train=np.sort(train), calibration=np.sort(calibration), test=np.sort(test))
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise TrainingError(
            f"The {spec.method} split leaves no rows for {', '.join(empty)} "
            f"({frame.height} rows in all).",
            hint="Use more data, or adjust training.split.test_fraction and calibration_fraction.",
        )
    return split
