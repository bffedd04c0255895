"""Modelling: pipelines from the contract, splits, calibration, conformal sets, evaluation.

Pure functions and scikit-learn-style estimators over arrays and frames; no store, no I/O. The
orchestration of a run (data version → registered model) is ``loopline.runs``.
"""

from __future__ import annotations

from loopline.training._bootstrap import paired_bootstrap
from loopline.training._calibration import ProbabilityCalibrator, choose_calibration
from loopline.training._conformal import (
    ConformalClassifier,
    ConformalQuantileRegressor,
    ConformalRegressor,
    conformal_quantile,
    conformal_rank,
)
from loopline.training._costs import (
    baseline_costs,
    bayes_threshold,
    cost_optimal_threshold,
    cost_per_1000,
    threshold_cost_curve,
)
from loopline.training._metrics import (
    binary_metrics,
    expected_calibration_error,
    multiclass_metrics,
    regression_metrics,
    reliability_curve,
)
from loopline.training._model import TrainedModel
from loopline.training._signature import InputField, Signature, signature_from_contract
from loopline.training._slices import slice_gap, slice_metrics
from loopline.training._split import Split, split_rows

__all__ = [
    "ConformalClassifier",
    "ConformalQuantileRegressor",
    "ConformalRegressor",
    "InputField",
    "ProbabilityCalibrator",
    "Signature",
    "Split",
    "TrainedModel",
    "baseline_costs",
    "bayes_threshold",
    "binary_metrics",
    "choose_calibration",
    "conformal_quantile",
    "conformal_rank",
    "cost_optimal_threshold",
    "cost_per_1000",
    "expected_calibration_error",
    "multiclass_metrics",
    "paired_bootstrap",
    "regression_metrics",
    "reliability_curve",
    "signature_from_contract",
    "slice_gap",
    "slice_metrics",
    "split_rows",
    "threshold_cost_curve",
]
