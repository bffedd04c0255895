"""``loopline demo``: the whole loop on the bundled credit-default example."""

from __future__ import annotations

from loopline.demo._demo import DemoSummary, bundled_example, create_demo_project, run_demo

__all__ = ["DemoSummary", "bundled_example", "create_demo_project", "run_demo"]
