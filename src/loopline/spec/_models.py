"""Typed models of ``loopline.yaml``: one use case, its objective, data, training and policies.

Unknown keys are errors everywhere (a typo must never be silently ignored). The objective —
task, target, the cost of each kind of error and of a review, and the success metrics — is
required: no model can be trained for a use case that has not said what success means.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from loopline.errors import ExpressionError
from loopline.expressions import Compare, Name, parse
from loopline.expressions import Literal as LiteralNode

__all__ = [
    "SUCCESS_METRICS",
    "Costs",
    "DataSpec",
    "Duration",
    "EscalationSpec",
    "MonitoringSpec",
    "Objective",
    "ProjectSpec",
    "RetrainingSpec",
    "RolloutSpec",
    "ServingSpec",
    "SplitSpec",
    "SuccessMetric",
    "Task",
    "TrainingSpec",
    "TuningSpec",
]

#: Success metrics a use case may declare, with what each one measures.
SUCCESS_METRICS: dict[str, str] = {
    "automation_rate": "share of predictions decided without a person",
    "precision_auto": "precision of the positive decisions the model makes alone",
    "recall_auto": "recall of the positive class among automatic decisions",
    "accuracy_auto": "accuracy of automatic decisions",
    "override_rate": "share of reviewed cases where the person changed the recommendation",
    "review_sla_hours": "hours within which escalated cases are decided (95th percentile)",
    "cost_per_1000": "business cost per 1,000 decisions, in the declared currency",
    "mae_auto": "mean absolute error of automatic decisions (regression)",
}

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(str, Enum):
    """The kind of prediction a use case makes."""

    binary_classification = "binary_classification"
    multiclass_classification = "multiclass_classification"
    regression = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.regression


def _parse_duration(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit, e.g. 30m, 1h, 7d"
        )
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


Duration = Annotated[int, Field(gt=0, description="seconds; written as 30s, 15m, 1h, 7d or 2w")]


class Costs(_Strict):
    """What each outcome costs the business, in one currency.

    Classification needs ``false_positive`` and ``false_negative``; every task needs ``review``,
    the cost of one person looking at one case. Regression uses ``per_unit_error``.
    """

    false_positive: float | None = Field(default=None, ge=0)
    false_negative: float | None = Field(default=None, ge=0)
    review: float = Field(ge=0)
    per_unit_error: float | None = Field(default=None, ge=0)
    currency: str = "USD"


class SuccessMetric(_Strict):
    """One declared success criterion, such as ``automation_rate >= 0.70``."""

    metric: str
    op: Literal["<", "<=", ">", ">=", "=="]
    value: float
    text: str

    @classmethod
    def from_text(cls, text: str) -> SuccessMetric:
        try:
            node = parse(text)
        except ExpressionError as exc:
            raise ValueError(exc.message) from None
        ok = (
            isinstance(node, Compare)
            and isinstance(node.left, Name)
            and isinstance(node.right, LiteralNode)
            and isinstance(node.right.value, int | float)
            and node.op in ("<", "<=", ">", ">=", "==")
        )
        if not ok:
            raise ValueError(
                f"{text!r} must read 'metric op number', e.g. 'automation_rate >= 0.7'"
            )
        assert isinstance(node, Compare)  # narrowed above; for the type checker
        assert isinstance(node.left, Name)
        assert isinstance(node.right, LiteralNode)
        metric = node.left.dotted
        if metric not in SUCCESS_METRICS:
            known = ", ".join(sorted(SUCCESS_METRICS))
            raise ValueError(f"unknown success metric {metric!r}; known metrics: {known}")
        return cls(metric=metric, op=node.op, value=float(node.right.value), text=text)

    def met_by(self, observed: float | None) -> bool | None:
        """Whether ``observed`` meets this criterion; ``None`` when there is no value yet."""
        if observed is None:
            return None
        return {
            "<": observed < self.value,
            "<=": observed <= self.value,
            ">": observed > self.value,
            ">=": observed >= self.value,
            "==": observed == self.value,
        }[self.op]


def _success_from_text(value: Any) -> Any:
    return SuccessMetric.from_text(value) if isinstance(value, str) else value


def _check_expression(value: str) -> str:
    try:
        parse(value)
    except ExpressionError as exc:
        raise ValueError(exc.message) from None
    return value


def _check_comparison(value: str) -> str:
    _check_expression(value)
    if not isinstance(parse(value), Compare):
        raise ValueError(f"{value!r} must be a comparison, e.g. 'roc_auc >= 0.75'")
    return value


Expression = Annotated[str, AfterValidator(_check_expression)]
Comparison = Annotated[str, AfterValidator(_check_comparison)]


class Objective(_Strict):
    """What the use case predicts, and what success and mistakes are worth."""

    task: Task
    target: str = Field(min_length=1)
    positive_class: int | str | None = None
    costs: Costs
    success: tuple[Annotated[SuccessMetric, BeforeValidator(_success_from_text)], ...] = Field(
        min_length=1
    )

    @model_validator(mode="after")
    def _costs_fit_task(self) -> Objective:
        if self.task.is_classification:
            missing = [
                name
                for name in ("false_positive", "false_negative")
                if getattr(self.costs, name) is None
            ]
            if missing:
                raise ValueError(
                    f"a classification objective must declare costs.{' and costs.'.join(missing)}"
                )
            if (
                not missing
                and (self.costs.false_positive or 0) + (self.costs.false_negative or 0) == 0
            ):
                raise ValueError("false_positive and false_negative cannot both cost 0")
            if self.task is Task.binary_classification and self.positive_class is None:
                raise ValueError("a binary_classification objective must declare positive_class")
        elif self.costs.per_unit_error is None:
            raise ValueError("a regression objective must declare costs.per_unit_error")
        return self


class DataSpec(_Strict):
    """Where the use case's data comes from and which contract guards it."""

    contract: str = Field(min_length=1, description="path of the contract, relative to the project")
    dataset: str = Field(min_length=1)
    feedback_dataset: str | None = None

    @field_validator("dataset", "feedback_dataset")
    @classmethod
    def _dataset_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a dataset name: use lower-case letters, digits, - and _"
            )
        return value


class SplitSpec(_Strict):
    """How held-out evaluation data is split off."""

    method: Literal["stratified", "random", "time", "group"] = "stratified"
    column: str | None = None
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    calibration_fraction: float = Field(default=0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _column_when_needed(self) -> SplitSpec:
        if self.method in ("time", "group") and not self.column:
            raise ValueError(f"split method {self.method!r} needs a column")
        return self


class TuningSpec(_Strict):
    """Optional hyper-parameter search."""

    trials: int = Field(default=20, ge=1)
    metric: str = "roc_auc"
    space: dict[str, Any] = Field(default_factory=dict)


class TrainingSpec(_Strict):
    """The training recipe."""

    estimator: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)
    split: SplitSpec = SplitSpec()
    drop: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()
    seed: int = 0
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = "auto"
    conformal_alpha: float = Field(default=0.1, gt=0, lt=1)
    tuning: TuningSpec | None = None


class ConformalEscalation(_Strict):
    alpha: float = Field(gt=0, lt=1)


class EscalationSpec(_Strict):
    """When a prediction goes to a person instead of being decided automatically."""

    confidence_below: float | None = Field(default=None, ge=0, le=1)
    conformal: ConformalEscalation | None = None
    cost_band: bool = False
    out_of_distribution: bool = False
    novelty_rate: float = Field(default=0.01, gt=0, lt=1)
    rules: tuple[Expression, ...] = ()
    audit_sample_rate: float = Field(default=0.0, ge=0, le=1)
    sla_hours: float = Field(default=24, gt=0)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    double_review_rate: float = Field(default=0.0, ge=0, le=1)
    tiers: tuple[str, ...] = ("reviewer",)


class RolloutSpec(_Strict):
    """How a new champion is rolled out."""

    strategy: Literal["direct", "canary", "ab", "shadow"] = "direct"
    steps: tuple[float, ...] = (0.05, 0.25, 1.0)
    min_requests: int = Field(default=500, ge=1)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_latency_p99_ms: float | None = Field(default=None, gt=0)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < step <= 1 for step in value) or list(value) != sorted(value):
            raise ValueError("canary steps must be increasing fractions in (0, 1]")
        return value


class ServingSpec(_Strict):
    """How predictions are served and when people take over."""

    escalation: EscalationSpec = EscalationSpec()
    rollout: RolloutSpec = RolloutSpec()
    max_batch_size: int = Field(default=2048, ge=1)
    max_wait_ms: float = Field(default=0.0, ge=0)
    #: Run each model's validation, scores and decisions in a process of its own (``False``:
    #: in a thread of the server's process).
    model_process: bool = True


class DriftSpec(_Strict):
    """How drift is tested: an alarm needs a significant test (Benjamini-Hochberg at ``fdr``
    across the report's features) and an effect of at least ``min_effect``."""

    method: Literal["auto", "ks", "wasserstein", "psi", "chi2", "jensenshannon"] = "auto"
    fdr: float = Field(default=0.05, gt=0, lt=1)
    min_effect: float | None = Field(default=None, gt=0)
    persistence: int = Field(default=1, ge=1)
    share: float = Field(default=0.5, gt=0, le=1)
    columns: dict[str, Literal["auto", "ks", "wasserstein", "psi", "chi2", "jensenshannon"]] = (
        Field(default_factory=dict)
    )


class PerformanceSpec(_Strict):
    metric: Literal["accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse"] = "roc_auc"
    min: float | None = None


class AlertSpec(_Strict):
    """An alert rule over a monitoring report's metrics.

    ``when`` and ``clear`` are expressions over the report's flat metrics (``drift_share``,
    ``dataset_drift``, ``estimated.roc_auc``, ``performance.roc_auc``, ``automation_rate``, ...).
    A firing alert resolves only when ``clear`` holds (hysteresis; default: ``when`` is false).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    when: str
    clear: str | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown: Duration = 21600
    route: tuple[Literal["log", "webhook", "retrain", "rollback", "raise_audit"], ...] = ("log",)
    message: str | None = None

    @field_validator("cooldown", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return _parse_duration(value)

    @field_validator("when", "clear")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        return None if value is None else _check_expression(value)


class MonitoringSpec(_Strict):
    """What is checked on live traffic, and how often."""

    every: Duration = 3600
    window: Duration = 86400
    min_rows: int = Field(default=100, ge=1)
    drift: DriftSpec = DriftSpec()
    performance: PerformanceSpec | None = None
    alerts: tuple[AlertSpec, ...] | None = None
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")

    @field_validator("every", "window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return _parse_duration(value)


#: The guardrails an A/B experiment can check (see docs/experiments.md).
GuardrailName = Literal["escalation_rate", "latency_ms", "cost"]
_DEFAULT_GUARDRAILS: dict[GuardrailName, float] = {"escalation_rate": 0.05, "latency_ms": 50.0}


class RetrainingThen(_Strict):
    strategy: Literal["direct", "canary", "ab", "shadow"] = "ab"
    min_samples: int = Field(default=2000, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    approval: bool = False
    # the A/B experiment's primary metric, effect size, power and guardrails (max increases)
    metric: Literal["accuracy", "outcome", "cost"] = "accuracy"
    mde: float = Field(default=0.02, gt=0)
    power: float = Field(default=0.8, gt=0, lt=1)
    guardrails: dict[GuardrailName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: _DEFAULT_GUARDRAILS.copy()
    )


class RetrainingSpec(_Strict):
    """When to retrain and what to do with the new model."""

    when: tuple[str | dict[str, Any], ...] = ()
    then: RetrainingThen = RetrainingThen()

    @field_validator("when")
    @classmethod
    def _triggers(cls, value: tuple[str | dict[str, Any], ...]) -> tuple[str | dict[str, Any], ...]:
        simple = {"drift", "performance", "estimated_performance"}
        keyed = {"new_labels", "every"}
        for trigger in value:
            if isinstance(trigger, str) and trigger not in simple:
                raise ValueError(
                    f"unknown trigger {trigger!r}; use one of {sorted(simple | keyed)}"
                )
            if isinstance(trigger, dict):
                unknown = set(trigger) - keyed
                if unknown or len(trigger) != 1:
                    raise ValueError(
                        f"a trigger mapping has one key of {sorted(keyed)}, got {sorted(trigger)}"
                    )
                if "every" in trigger:
                    _parse_duration(trigger["every"])
        return value


class ProjectSpec(_Strict):
    """A whole ``loopline.yaml``: one use case."""

    name: str
    description: str = ""
    objective: Objective
    data: DataSpec
    training: TrainingSpec | None = None
    gates: tuple[Comparison, ...] = ()
    serving: ServingSpec = ServingSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    retraining: RetrainingSpec = RetrainingSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a use-case name: start with a letter; use lower-case letters, "
                "digits, - and _ (at most 63 characters)"
            )
        return value
