"""Monitoring: drift of served data against reference profiles of the training data, live data
quality, realised and estimated performance, business metrics, stored reports and alerts."""

from __future__ import annotations

from loopline.monitoring._alerts import default_rules, list_alerts
from loopline.monitoring._drift import DriftReport, FeatureDrift, drift_report
from loopline.monitoring._history import get_report, latest_report, report_series
from loopline.monitoring._monitor import run_monitor, run_monitor_job
from loopline.monitoring._performance import (
    MetricValue,
    estimated_performance,
    realised_performance,
)
from loopline.monitoring._reference import ReferenceProfile, build_reference
from loopline.monitoring._routes import raise_audit_rate
from loopline.monitoring._stats import benjamini_hochberg

__all__ = [
    "DriftReport",
    "FeatureDrift",
    "MetricValue",
    "ReferenceProfile",
    "benjamini_hochberg",
    "build_reference",
    "default_rules",
    "drift_report",
    "estimated_performance",
    "get_report",
    "latest_report",
    "list_alerts",
    "raise_audit_rate",
    "realised_performance",
    "report_series",
    "run_monitor",
    "run_monitor_job",
]
