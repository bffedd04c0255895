"""The typed model of a data contract: columns, checks, severities and bounds.

A :class:`Contract` is what an Open Data Contract Standard (ODCS) v3.1.0 document means to
loopline: one table of typed :class:`Column` objects plus a flat list of :class:`Check` objects,
each with a stable name (``EDUCATION.allowed_values``, ``row.duplicate(a,b)``), a kind, the
columns it reads, a severity and its parameters. Checks implied by a column's own fields (its
type, ``required``, ``unique``, ``logicalTypeOptions``) are derived from the column; checks from
ODCS ``quality`` items are stored in :attr:`Contract.quality`. :attr:`Contract.checks` joins both.

Severities:

* ``warn``: a failure is recorded in the report only.
* ``error`` (the default): failing rows are quarantined; a failing batch-level check (row count,
  freshness, distribution, a tolerance on a count) refuses the batch, as it has no rows to
  quarantine.
* ``reject``: any failure refuses the whole batch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from loopline.errors import ContractError

__all__ = [
    "CHECK_KINDS",
    "LOGICAL_TYPES",
    "OPERATORS",
    "SEVERITIES",
    "Bound",
    "Check",
    "CheckKind",
    "Column",
    "Contract",
    "LogicalType",
    "Severity",
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
_RANGE_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


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


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column (an ODCS property) of the contract's table.

    Attributes:
        name: The column name in the data.
        logical_type: The ODCS ``logicalType``.
        required: No value may be null (ODCS ``required``).
        unique: No non-null value may repeat (ODCS ``unique``).
        primary_key: ODCS ``primaryKey``; implies required and unique.
        options: The ODCS ``logicalTypeOptions`` (``minimum``, ``maxLength``, ``pattern`` ...).
        severity: The severity of the checks derived from this column's fields (type aside,
            which always refuses the batch); from the property's ``customProperties``.
        description: Free text from the contract.
        metadata: Other ODCS fields of the property, kept so that a contract round-trips.
    """

    name: str
    logical_type: LogicalType
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity = "error"
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def derived_checks(self) -> list[Check]:
        """The checks this column's own fields imply, in a fixed order."""
        name, severity = self.name, self.severity
        checks = [
            Check(
                name=f"{name}.type",
                kind="type",
                columns=(name,),
                severity="reject",
                params={"logical_type": self.logical_type},
            )
        ]

        def add(kind: CheckKind, params: Mapping[str, Any]) -> None:
            checks.append(
                Check(
                    name=f"{name}.{kind}",
                    kind=kind,
                    columns=(name,),
                    severity=severity,
                    params=params,
                )
            )

        if self.required or self.primary_key:
            add("not_null", {})
        if self.unique or self.primary_key:
            add("unique", {})
        bounds = {key: self.options[key] for key in _RANGE_KEYS if key in self.options}
        if bounds:
            add("range", bounds)
        lengths = {key: self.options[key] for key in ("minLength", "maxLength") if key in self.options}
        if lengths:
            add("length", lengths)
        if "pattern" in self.options:
            add("pattern", {"pattern": self.options["pattern"]})
        if "multipleOf" in self.options:
            add("multiple_of", {"multipleOf": self.options["multipleOf"]})
        return checks


@dataclass(frozen=True, kw_only=True)
class Contract:
    """A parsed data contract: one table's columns and every check on it.

    Build one with :func:`~loopline.data.load_contract` or
    :func:`~loopline.data.parse_contract`, draft one from data with
    :func:`~loopline.data.infer_contract`, write one with :func:`~loopline.data.dump_contract`.

    Attributes:
        name: The contract's name (ODCS ``name``).
        version: The contract's own version (ODCS ``version``).
        columns: The table's columns, in order.
        quality: Checks from ODCS ``quality`` items (the column-derived ones are in ``checks``).
        id: The ODCS ``id``; defaults to the name.
        status: The ODCS ``status`` (``draft``, ``active`` ...).
        table: The name of the ODCS schema object; defaults to the contract's name.
        max_bad_row_fraction: Refuse a batch when a larger share of its rows fails
            error-severity checks; ``None`` for no limit.
        allow_extra_columns: Whether columns the contract does not name are accepted.
        metadata: Other top-level ODCS fields, kept so that a contract round-trips.
        checks: Every check, column-derived first, then quality items (computed).
    """

    name: str
    version: str
    columns: tuple[Column, ...]
    quality: tuple[Check, ...] = ()
    id: str | None = None
    status: str = "active"
    table: str | None = None
    max_bad_row_fraction: float | None = None
    allow_extra_columns: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = [check for column in self.columns for check in column.derived_checks()]
        checks += self.quality
        counts = Counter(check.name for check in checks)
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            raise ContractError(
                f"Contract {self.name!r} has more than one check named {', '.join(repeated)}.",
                hint="Give each quality item a distinct `name`.",
            )
        fraction = self.max_bad_row_fraction
        if fraction is not None and not (0.0 <= fraction <= 1.0 and not math.isnan(fraction)):
            raise ContractError(
                f"max_bad_row_fraction must be between 0 and 1, got {fraction!r}.",
                hint="Use e.g. 0.1 to refuse batches where more than 10% of rows are bad.",
            )
        object.__setattr__(self, "checks", tuple(checks))

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the contract's columns, in order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``.

        Raises:
            KeyError: The contract has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: The contract has no such check.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)
