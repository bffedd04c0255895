"""Monitoring: drift of served data against reference profiles of the training data, live data
quality, realised and estimated performance, business metrics, stored reports and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline._lazy import lazy_names

if TYPE_CHECKING:  # imported on first use: the standalone drift engine does not load the rest
    from loopline.monitoring._alerts import default_rules, list_alerts
    from loopline.monitoring._drift import DriftReport, FeatureDrift, drift_report
    from loopline.monitoring._estimated import estimated_performance
    from loopline.monitoring._history import get_report, latest_report, report_series
    from loopline.monitoring._monitor import run_monitor, run_monitor_job
    from loopline.monitoring._performance import MetricValue, realised_performance
    from loopline.monitoring._reference import ReferenceProfile, build_reference
    from loopline.monitoring._routes import raise_audit_rate
    from loopline.monitoring._stats import benjamini_hochberg

_WHERE = {
    "DriftReport": "loopline.monitoring._drift",
    "FeatureDrift": "loopline.monitoring._drift",
    "MetricValue": "loopline.monitoring._performance",
    "ReferenceProfile": "loopline.monitoring._reference",
    "benjamini_hochberg": "loopline.monitoring._stats",
    "build_reference": "loopline.monitoring._reference",
    "default_rules": "loopline.monitoring._alerts",
    "drift_report": "loopline.monitoring._drift",
    "estimated_performance": "loopline.monitoring._estimated",
    "get_report": "loopline.monitoring._history",
    "latest_report": "loopline.monitoring._history",
    "list_alerts": "loopline.monitoring._alerts",
    "raise_audit_rate": "loopline.monitoring._routes",
    "realised_performance": "loopline.monitoring._performance",
    "report_series": "loopline.monitoring._history",
    "run_monitor": "loopline.monitoring._monitor",
    "run_monitor_job": "loopline.monitoring._monitor",
}

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


__getattr__, __dir__ = lazy_names("loopline.monitoring", _WHERE, __all__, globals())
