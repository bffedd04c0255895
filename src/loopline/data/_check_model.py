"""Checks: what a contract verifies, how badly a failure counts, and the bounds it uses.

Every check has a stable name (``EDUCATION.allowed_values``, ``row.duplicate(a,b)``), a kind,
the columns it reads, a severity and its parameters.

Severities:

* ``warn``: a failure is recorded in the report only.
* ``error`` (the default): failing rows are quarantined; a failing batch-level check (row count,
  freshness, distribution, a tolerance on a count) refuses the batch, as it has no rows to
  quarantine.
* ``reject``: any failure refuses the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "CHECK_KINDS",
    "COLUMN_KINDS",
    "LOGICAL_TYPES",
    "OPERATORS",
    "ROW_KINDS",
    "SEVERITIES",
    "Bound",
    "Check",
    "CheckKind",
    "LogicalType",
    "Severity",
    "default_name",
]

Severity = Literal["warn", "error", "reject"]
LogicalType = Literal["string", "integer", "number", "boolean", "date", "timestamp", "time"]
CheckKind = Literal[
    "type",
    "not_null",
    "unique",
    "range",
    "length",
    "pattern",
    "multiple_of",
    "allowed_values",
    "null_values",
    "missing_values",
    "duplicates",
    "row_count",
    "rule",
    "freshness",
    "distribution",
]

#: Every severity, mildest first.
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
#: The ODCS logical types loopline checks.
LOGICAL_TYPES: tuple[LogicalType, ...] = get_args(LogicalType)
#: Every check kind.
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)
#: The ODCS comparison operators of a quality item, as ``{key: symbol}``.
OPERATORS: dict[str, str] = {
    "mustBe": "==",
    "mustNotBe": "!=",
    "mustBeGreaterThan": ">",
    "mustBeGreaterOrEqualTo": ">=",
    "mustBeLessThan": "<",
    "mustBeLessOrEqualTo": "<=",
    "mustBeBetween": "between",
    "mustNotBeBetween": "not between",
}

#: Kinds whose failures are individual rows (each has a failing-row mask).
ROW_KINDS: frozenset[str] = frozenset(
    {
        "not_null",
        "unique",
        "range",
        "length",
        "pattern",
        "multiple_of",
        "allowed_values",
        "null_values",
        "missing_values",
        "duplicates",
        "rule",
    }
)
#: Kinds derived from a column's own ODCS fields rather than from ``quality`` items.
COLUMN_KINDS: frozenset[str] = frozenset(
    {"type", "not_null", "unique", "range", "length", "pattern", "multiple_of"}
)


@dataclass(frozen=True, kw_only=True)
class Bound:
    """An ODCS comparison a measured value must satisfy, e.g. ``mustBeBetween: [1, 10]``.

    Attributes:
        operator: The ODCS key, one of :data:`OPERATORS`.
        value: The number (or pair of numbers for the ``between`` operators) to compare with.
        unit: ``rows`` to compare a count, ``percent`` to compare a share of the batch (0-100).
    """

    operator: str
    value: Any
    unit: Literal["rows", "percent"] = "rows"

    @property
    def zero_only(self) -> bool:
        """Whether only zero satisfies the bound (``mustBe: 0``): each failing row counts."""
        return self.operator == "mustBe" and self.value == 0

    def allows(self, observed: float) -> bool:
        """Whether ``observed`` satisfies the bound."""
        value = self.value
        if self.operator in ("mustBeBetween", "mustNotBeBetween"):
            inside = bool(value[0] <= observed <= value[1])
            return inside if self.operator == "mustBeBetween" else not inside
        compare = {
            "mustBe": observed == value,
            "mustNotBe": observed != value,
            "mustBeGreaterThan": observed > value,
            "mustBeGreaterOrEqualTo": observed >= value,
            "mustBeLessThan": observed < value,
            "mustBeLessOrEqualTo": observed <= value,
        }
        return bool(compare[self.operator])

    def describe(self) -> str:
        """The bound as short text for reports, e.g. ``between 1 and 10``."""
        symbol = OPERATORS[self.operator]
        suffix = "%" if self.unit == "percent" else ""
        if self.operator in ("mustBeBetween", "mustNotBeBetween"):
            return f"{symbol} {self.value[0]}{suffix} and {self.value[1]}{suffix}"
        return f"{symbol} {self.value}{suffix}"


@dataclass(frozen=True, kw_only=True)
class Check:
    """One named check of a contract.

    Attributes:
        name: Stable and unique within the contract, e.g. ``EDUCATION.allowed_values``; it is
            what quarantined rows list in ``_failed_checks``.
        kind: What is checked, one of :data:`CHECK_KINDS`.
        columns: The columns the check reads (empty for ``row_count``).
        severity: ``warn``, ``error`` or ``reject`` (see the module docstring).
        params: Kind-specific parameters, e.g. ``{"values": [1, 2, 3]}``.
        bound: For checks from ODCS quality metrics: the comparison the failing count (or the
            measured value) must satisfy; ``None`` means no row may fail.
        description: Free text from the contract.
    """

    name: str
    kind: CheckKind
    columns: tuple[str, ...] = ()
    severity: Severity = "error"
    params: Mapping[str, Any] = field(default_factory=dict)
    bound: Bound | None = None
    description: str | None = None

    @property
    def column(self) -> str | None:
        """The single column the check reads, or ``None`` for table-level checks."""
        return self.columns[0] if len(self.columns) == 1 else None

    @property
    def row_level(self) -> bool:
        """Whether each failing row is a failure on its own (and may be quarantined).

        Row-level kinds with a tolerance bound (``mustBeLessThan: 10`` invalid values) are
        judged on their count instead, as a batch-level check.
        """
        return self.kind in ROW_KINDS and (self.bound is None or self.bound.zero_only)

    @property
    def has_row_mask(self) -> bool:
        """Whether the check is measured by a failing-row mask (row-level or a count)."""
        return self.kind in ROW_KINDS


def default_name(kind: CheckKind, columns: tuple[str, ...], params: Mapping[str, Any]) -> str:
    """The stable name a quality check gets when its item has no ``name``."""
    if kind == "row_count":
        return "row_count"
    if kind == "rule":
        return f"rule({params['rule']})"
    if kind == "duplicates" and "exceptProperties" in params:
        return f"row.duplicate(* except {','.join(params['exceptProperties'])})"
    if kind == "duplicates" and "properties" in params:
        return f"row.duplicate({','.join(columns)})"
    suffix = {"duplicates": "duplicate_values", "allowed_values": "allowed_values"}.get(kind, kind)
    return f"{columns[0]}.{suffix}"
