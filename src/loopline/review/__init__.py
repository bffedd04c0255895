"""Humans in the loop: the escalation policy, cases with leases and SLAs, and feedback."""

from __future__ import annotations

from loopline.review._cases import (
    ACTIONS,
    LEASE,
    case_dict,
    claim_case,
    decide_case,
    escalate_overdue,
    get_case,
    list_cases,
    open_case,
)
from loopline.review._escalation import Escalation, EscalationPolicy
from loopline.review._feedback import SOURCES, record_feedback

__all__ = [
    "ACTIONS",
    "LEASE",
    "SOURCES",
    "Escalation",
    "EscalationPolicy",
    "case_dict",
    "claim_case",
    "decide_case",
    "escalate_overdue",
    "get_case",
    "list_cases",
    "open_case",
    "record_feedback",
]
