"""Humans in the loop: the escalation policy, cases with leases and SLAs, and feedback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline._lazy import lazy_names

if TYPE_CHECKING:  # imported on first use: listing cases loads no pandas, polars or scikit-learn
    from loopline.review._cases import (
        ACTIONS,
        LEASE,
        case_columns,
        case_dict,
        case_history,
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
    from loopline.review._tuning_store import current_policy, policy_outlook, tune_policy

_WHERE = {
    "ACTIONS": "loopline.review._cases",
    "Escalation": "loopline.review._escalation",
    "EscalationPolicy": "loopline.review._escalation",
    "LEASE": "loopline.review._cases",
    "SOURCES": "loopline.review._feedback",
    "TARGETS": "loopline.review._tuning",
    "TunedPolicy": "loopline.review._tuning",
    "case_columns": "loopline.review._cases",
    "case_dict": "loopline.review._cases",
    "case_history": "loopline.review._cases",
    "choose_threshold": "loopline.review._tuning",
    "claim_case": "loopline.review._cases",
    "coverage_risk": "loopline.review._tuning",
    "current_policy": "loopline.review._tuning_store",
    "decide_case": "loopline.review._cases",
    "escalate_overdue": "loopline.review._cases",
    "get_case": "loopline.review._cases",
    "list_cases": "loopline.review._cases",
    "open_case": "loopline.review._cases",
    "open_case_columns": "loopline.review._cases",
    "open_cases": "loopline.review._cases",
    "parse_target": "loopline.review._tuning",
    "policy_outlook": "loopline.review._tuning_store",
    "record_feedback": "loopline.review._feedback",
    "tune_holdout": "loopline.review._tuning",
    "tune_policy": "loopline.review._tuning_store",
}

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
    "case_history",
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
    "policy_outlook",
    "record_feedback",
    "tune_holdout",
    "tune_policy",
]


__getattr__, __dir__ = lazy_names("loopline.review", _WHERE, __all__, globals())
