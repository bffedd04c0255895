"""Data contracts and validation: what data must look like before loopline uses it.

A contract is an Open Data Contract Standard (ODCS) v3.1.0 document; :func:`load_contract`
reads it into a typed :class:`Contract`, :func:`validate` checks a polars frame against it and
splits good rows from quarantined ones, :func:`infer_contract` drafts one from data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline._lazy import lazy_names

if (
    TYPE_CHECKING
):  # imported on first use: reading the store's dataset records loads no polars or Delta Lake
    from loopline.data._check_model import Bound, Check
    from loopline.data._check_schema import check_schema
    from loopline.data._contract import Column, Contract, contract_to_odcs, dump_contract
    from loopline.data._contract_parse import load_contract, parse_contract
    from loopline.data._infer import infer_contract
    from loopline.data._profile import profile_frame
    from loopline.data._validation import ValidationResult, validate
    from loopline.data._validation_report import CheckResult, ValidationReport

_WHERE = {
    "Bound": "loopline.data._check_model",
    "Check": "loopline.data._check_model",
    "CheckResult": "loopline.data._validation_report",
    "Column": "loopline.data._contract",
    "Contract": "loopline.data._contract",
    "ValidationReport": "loopline.data._validation_report",
    "ValidationResult": "loopline.data._validation",
    "check_schema": "loopline.data._check_schema",
    "contract_to_odcs": "loopline.data._contract",
    "dump_contract": "loopline.data._contract",
    "infer_contract": "loopline.data._infer",
    "load_contract": "loopline.data._contract_parse",
    "parse_contract": "loopline.data._contract_parse",
    "profile_frame": "loopline.data._profile",
    "validate": "loopline.data._validation",
}

__all__ = [
    "Bound",
    "Check",
    "CheckResult",
    "Column",
    "Contract",
    "ValidationReport",
    "ValidationResult",
    "check_schema",
    "contract_to_odcs",
    "dump_contract",
    "infer_contract",
    "load_contract",
    "parse_contract",
    "profile_frame",
    "validate",
]


__getattr__, __dir__ = lazy_names("loopline.data", _WHERE, __all__, globals())
