"""Humans in the loop: the escalation policy, cases with leases and SLAs, and feedback."""

from __future__ import annotations

from loopline.review._cases import (
    ACTIONS,
    LEASE,
    case_columns,
    case_dict,
    claim_case,
    decide_case,
    escalate_overdue,
    get_case,
    list_cases,
    open_case,
    open_case_columns,
    open_cases,
)
from loopline.review._escalation import Escalation, EscalationPolicy
from loopline.review._feedback import SOURCES, record_feedback
from loopline.review._tuning import (
    TARGETS,
    TunedPolicy,
    choose_threshold,
    coverage_risk,
    parse_target,
    tune_holdout,
)
from loopline.review._tuning_store import current_policy, tune_policy

__all__ = [
    "ACTIONS",
    "LEASE",
    "SOURCES",
    "TARGETS",
    "Escalation",
    "EscalationPolicy",
    "TunedPolicy",
    "case_columns",
    "case_dict",
    "choose_threshold",
    "claim_case",
    "coverage_risk",
    "current_policy",
    "decide_case",
    "escalate_overdue",
    "get_case",
    "list_cases",
    "open_case",
    "open_case_columns",
    "open_cases",
    "parse_target",
    "record_feedback",
    "tune_holdout",
    "tune_policy",
]
