"""The report of one validation: one result per check, JSON-ready and printable as a table."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rich.table import Table

from loopline.data._check_model import Severity

__all__ = ["CheckResult", "CheckStatus", "ValidationReport", "jsonable"]

CheckStatus = Literal["passed", "failed", "skipped"]
_STYLE = {"passed": "green", "failed": "red", "skipped": "yellow"}


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """What one check found in a batch.

    Attributes:
        name: The check's stable name.
        kind: The check's kind (``range``, ``allowed_values`` ...).
        columns: The columns it read.
        severity: ``warn``, ``error`` or ``reject``.
        status: ``passed``, ``failed`` or ``skipped`` (it could not run: a missing column, no
            reference profile).
        observed: What was measured: the failing-row count for row checks, the value for
            batch checks (row count, age, PSI), the dtype for type checks.
        bound: What was required, as short text.
        failing_count: Rows that failed (0 for batch-level checks).
        failing_fraction: ``failing_count`` over the rows in the batch.
        sample: Up to five failing rows, each ``{"row": n, "value": v}``; ``row`` is the
            0-based row number in the batch, ``value`` the checked value (a mapping of column
            to value for multi-column checks).
        message: Why the check was skipped or failed as a whole, when a count does not say it.
    """

    name: str
    kind: str
    columns: tuple[str, ...]
    severity: Severity
    status: CheckStatus
    observed: Any = None
    bound: str | None = None
    failing_count: int = 0
    failing_fraction: float = 0.0
    sample: tuple[Mapping[str, Any], ...] = ()
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": list(self.columns),
            "severity": self.severity,
            "status": self.status,
            "observed": jsonable(self.observed),
            "bound": self.bound,
            "failing_count": self.failing_count,
            "failing_fraction": self.failing_fraction,
            "sample": [jsonable(dict(item)) for item in self.sample],
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    """Every check's result for one batch, and the verdict on the batch.

    Attributes:
        contract: The contract's name.
        contract_version: The contract's version.
        rows_in: Rows in the batch.
        rows_good: Rows that passed every error- and reject-severity row check.
        rows_bad: Rows quarantined; ``rows_in == rows_good + rows_bad``.
        refused: Whether the batch is refused as a whole.
        refusal_reasons: Why, one sentence per reason.
        checks: One result per check, in the contract's order.
    """

    contract: str
    contract_version: str
    rows_in: int
    rows_good: int
    rows_bad: int
    refused: bool
    refusal_reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The results of the checks that failed."""
        return tuple(result for result in self.checks if result.status == "failed")

    def result(self, name: str) -> CheckResult:
        """The result of the check called ``name``.

        Raises:
            KeyError: No check has that name.
        """
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, as stored with a dataset version and shown by ``--json``."""
        return {
            "contract": self.contract,
            "contract_version": self.contract_version,
            "rows_in": self.rows_in,
            "rows_good": self.rows_good,
            "rows_bad": self.rows_bad,
            "refused": self.refused,
            "refusal_reasons": list(self.refusal_reasons),
            "checks": [result.to_dict() for result in self.checks],
        }

    def to_table(self, *, only_failed: bool = False) -> Table:
        """A rich table of the checks, failures in red, for the command line."""
        verdict = "[red]refused[/red]" if self.refused else "[green]accepted[/green]"
        table = Table(
            title=f"{self.contract} {self.contract_version}: {verdict}, "
            f"{self.rows_good:,} good / {self.rows_bad:,} quarantined of {self.rows_in:,} rows",
            title_justify="left",
        )
        for header, justify in (
            ("check", "left"),
            ("severity", "left"),
            ("status", "left"),
            ("failing rows", "right"),
            ("observed", "right"),
            ("bound", "left"),
        ):
            table.add_column(header, justify=justify)  # type: ignore[arg-type]
        for result in self.checks:
            if only_failed and result.status != "failed":
                continue
            style = _STYLE[result.status]
            failing = (
                f"{result.failing_count:,} ({result.failing_fraction:.2%})"
                if result.failing_count
                else ""
            )
            observed = result.message if result.status == "skipped" else _short(result.observed)
            table.add_row(
                result.name,
                result.severity,
                f"[{style}]{result.status}[/{style}]",
                failing,
                observed or "",
                result.bound or "",
            )
        return table


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` with dates, decimals and other non-JSON types turned into plain ones."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return str(value)
