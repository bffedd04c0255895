"""A/B experiment statistics: sample-ratio check, comparisons, a sequential test, the decision.

Pure functions over counts and summaries, and the experiments built on them: records of A/B
deployments (``create_experiment`` … ``stop_experiment``) analysed on live traffic and decided
(``analyze_experiment``). The formulas, the reference implementations they equal and the
decision rules are in ``docs/experiments.md``.
"""

from __future__ import annotations

from loopline.experiments._analysis import MAX_LOOKS, analyze_experiment
from loopline.experiments._decision import Decision, Guardrail, check_guardrail, decide
from loopline.experiments._planning import plan_sample_size, standardized_effect
from loopline.experiments._records import (
    STATUSES,
    create_experiment,
    experiment_dict,
    get_experiment,
    list_experiments,
    running_experiment,
    stop_experiment,
    stop_running_experiment,
)
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
    "MAX_LOOKS",
    "STATUSES",
    "Comparison",
    "Decision",
    "Guardrail",
    "Kind",
    "Sequential",
    "SequentialPath",
    "SrmCheck",
    "analyze_experiment",
    "check_guardrail",
    "compare_means",
    "compare_proportions",
    "compare_samples",
    "create_experiment",
    "decide",
    "experiment_dict",
    "get_experiment",
    "list_experiments",
    "plan_sample_size",
    "running_experiment",
    "sequential_path",
    "sequential_test",
    "srm_check",
    "standardized_effect",
    "stop_experiment",
    "stop_running_experiment",
]
