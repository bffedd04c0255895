"""Monitoring: drift of served data against reference profiles of the training data."""

from __future__ import annotations

from loopline.monitoring._drift import DriftReport, FeatureDrift, drift_report
from loopline.monitoring._reference import ReferenceProfile, build_reference
from loopline.monitoring._stats import benjamini_hochberg

__all__ = [
    "DriftReport",
    "FeatureDrift",
    "ReferenceProfile",
    "benjamini_hochberg",
    "build_reference",
    "drift_report",
]
