"""A/B experiment statistics: sample-ratio check, comparisons, a sequential test, the decision.

Pure functions over counts and summaries; experiment records, the CLI and the console build on
them. The formulas, the reference implementations they equal and the decision rules are in
``docs/experiments.md``.
"""

from __future__ import annotations

from loopline.experiments._decision import Decision, Guardrail, check_guardrail, decide
from loopline.experiments._planning import plan_sample_size, standardized_effect
from loopline.experiments._sequential import (
    DEFAULT_TAU,
    Sequential,
    SequentialPath,
    sequential_path,
    sequential_test,
)
from loopline.experiments._stats import (
    Comparison,
    Kind,
    SrmCheck,
    compare_means,
    compare_proportions,
    compare_samples,
    srm_check,
)

__all__ = [
    "DEFAULT_TAU",
    "Comparison",
    "Decision",
    "Guardrail",
    "Kind",
    "Sequential",
    "SequentialPath",
    "SrmCheck",
    "check_guardrail",
    "compare_means",
    "compare_proportions",
    "compare_samples",
    "decide",
    "plan_sample_size",
    "sequential_path",
    "sequential_test",
    "srm_check",
    "standardized_effect",
]
