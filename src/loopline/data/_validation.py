"""The vectorised validation engine: a contract's checks over a polars frame.

All row-level checks are compiled into boolean "this row fails" expressions and evaluated in one
``select``, so polars runs them in parallel over each column once; counts, the good/bad split
and samples are then computed from those masks, and samples only for checks that failed.
Nothing loops over rows in Python.

Outcome rules:

* A missing column or a column of the wrong type refuses the batch; checks reading it are
  skipped.
* A failing row-level check quarantines its rows at ``error`` severity, refuses the batch at
  ``reject`` severity (the rows are still listed in ``bad``), and is only recorded at ``warn``.
* A failing batch-level check (row count, freshness, distribution, a count with a tolerance)
  refuses the batch at ``error`` or ``reject`` severity.
* The batch is refused when the share of quarantined rows exceeds ``maxBadRowFraction``.
* Uniqueness keeps the first occurrence: later repetitions fail (see ``_checks``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from loopline.data._check_batch import evaluate_batch_check
from loopline.data._check_model import Check
from loopline.data._check_schema import check_schema
from loopline.data._checks import failing_mask
from loopline.data._contract import Contract
from loopline.data._validation_report import CheckResult, ValidationReport
from loopline.errors import BatchRefusedError, DataError, Problem

__all__ = ["FAILED_COLUMN", "ROW_COLUMN", "ValidationResult", "validate"]

#: The column of ``bad`` holding each row's 0-based row number in the input batch.
ROW_COLUMN = "_row"
#: The column of ``bad`` holding the names of the checks each row failed.
FAILED_COLUMN = "_failed_checks"
_SAMPLE_SIZE = 5
_QUARANTINING = ("error", "reject")


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one batch.

    Attributes:
        report: Per-check results and the verdict.
        good: The rows that passed every error- and reject-severity row check, with the
            input's columns only.
        bad: The other rows, with two more columns: ``_row`` (0-based row number in the
            input) and ``_failed_checks`` (the names of the checks the row failed).
    """

    report: ValidationReport
    good: pl.DataFrame
    bad: pl.DataFrame

    @property
    def rows_in(self) -> int:
        """Rows in the batch; always ``len(good) + len(bad)``."""
        return self.report.rows_in

    @property
    def refused(self) -> bool:
        """Whether the batch is refused as a whole."""
        return self.report.refused

    @property
    def refusal_reasons(self) -> tuple[str, ...]:
        """Why the batch is refused (empty when it is not)."""
        return self.report.refusal_reasons

    def raise_if_refused(self) -> None:
        """Raise when the batch is refused.

        Raises:
            BatchRefusedError: With one problem per reason.
        """
        if not self.refused:
            return
        raise BatchRefusedError(
            f"The batch was refused by contract {self.report.contract!r}: "
            f"{len(self.refusal_reasons)} reason(s).",
            hint="Fix the source data or relax the contract, then ingest again; "
            "the report lists every failing check.",
            problems=[
                Problem(loc=(), code="batch-refused", msg=reason) for reason in self.refusal_reasons
            ],
        )


def validate(
    frame: pl.DataFrame,
    contract: Contract,
    *,
    reference_profile: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> ValidationResult:
    """Check ``frame`` against ``contract``, splitting good rows from bad ones.

    Args:
        frame: The batch.
        contract: The contract to enforce.
        reference_profile: A profile (as :func:`~loopline.data.profile_frame` writes) for
            distribution checks; without one they are skipped.
        now: The time freshness is measured against; defaults to the current UTC time.

    Raises:
        DataError: A check could not be evaluated on this data (its message names the check).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    rows = frame.height
    schema_problems = check_schema(frame, contract)
    broken = {str(p.loc[0]) for p in schema_problems if p.code != "unexpected-column"}
    reasons = [p.msg for p in schema_problems]
    row_checks = [
        check
        for check in contract.checks
        if check.has_row_mask and not broken.intersection(check.columns)
    ]
    # Mask columns get positional names: check names are free text and could read as regexes.
    alias = {check.name: f"m{index}" for index, check in enumerate(row_checks)}
    masks = _masks(frame, row_checks, alias)
    totals = masks.sum().row(0, named=True) if row_checks else {}
    counts = {name: int(totals[column]) for name, column in alias.items()}
    failing = [check for check in row_checks if counts[check.name]]
    quarantining = [c.name for c in failing if c.row_level and c.severity in _QUARANTINING]
    good, bad = _split(frame, masks, quarantining, alias)
    samples = _samples(frame, masks, failing, alias)
    results: list[CheckResult] = []
    for check in contract.checks:
        if check.kind == "type":
            result = _type_result(check, schema_problems)
        elif broken.intersection(check.columns):
            result = _skipped(check, f"column {', '.join(check.columns)} is missing or mistyped")
        elif check.has_row_mask:
            result = _row_result(check, counts[check.name], rows, samples.get(check.name, ()))
        else:
            result = _batch_result(check, frame, reference_profile, now)
        results.append(result)
        if result.status == "failed" and _refuses(check):
            reasons.append(_reason(result))
    limit = contract.max_bad_row_fraction
    if limit is not None and rows and bad.height / rows > limit:
        reasons.append(
            f"{bad.height:,} of {rows:,} rows ({bad.height / rows:.2%}) failed error-severity "
            f"checks, more than maxBadRowFraction {limit:.2%}"
        )
    report = ValidationReport(
        contract=contract.name,
        contract_version=contract.version,
        rows_in=rows,
        rows_good=good.height,
        rows_bad=bad.height,
        refused=bool(reasons),
        refusal_reasons=tuple(reasons),
        checks=tuple(results),
    )
    return ValidationResult(report=report, good=good, bad=bad)


def _masks(frame: pl.DataFrame, checks: list[Check], alias: dict[str, str]) -> pl.DataFrame:
    if not checks:
        return pl.DataFrame()
    schema = frame.schema
    try:
        return frame.select([failing_mask(c, schema).alias(alias[c.name]) for c in checks])
    except pl.exceptions.PolarsError:
        for check in checks:  # find the culprit, to name it
            try:
                frame.head(0).select(failing_mask(check, schema))
                frame.select(failing_mask(check, schema))
            except pl.exceptions.PolarsError as exc:
                raise DataError(
                    f"Check {check.name!r} cannot run on this data: {str(exc).splitlines()[0]}",
                    hint="Check the column's values and dtype against the contract.",
                    problems=[Problem(loc=check.columns, code="check-failed", msg=str(exc))],
                ) from exc
        raise


def _split(
    frame: pl.DataFrame, masks: pl.DataFrame, quarantining: list[str], alias: dict[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    if not quarantining:
        bad = frame.head(0).with_columns(
            pl.lit(None, dtype=pl.Int64).alias(ROW_COLUMN),
            pl.lit(None, dtype=pl.List(pl.String)).alias(FAILED_COLUMN),
        )
        return frame, bad
    columns = [alias[name] for name in quarantining]
    is_bad = masks.select(pl.any_horizontal(columns)).to_series()
    rows = is_bad.arg_true()
    good = frame.filter(is_bad.not_())
    bad = frame[rows].with_columns(
        rows.cast(pl.Int64).alias(ROW_COLUMN),
        _failed_checks(masks.select(columns)[rows], quarantining),
    )
    return good, bad


def _failed_checks(failed: pl.DataFrame, names: list[str]) -> pl.Series:
    """Per row, the names of its true columns; every row has at least one.

    Built from the (row, column) positions of the true cells and grouped back by row: far
    faster than a ``concat_list`` of ``when/then`` over many columns.
    """
    rows, columns = np.nonzero(failed.to_numpy())
    pairs = pl.DataFrame({"row": rows, FAILED_COLUMN: pl.Series(names).gather(columns)})
    lists = pairs.group_by("row", maintain_order=True).agg(pl.col(FAILED_COLUMN))
    return lists.get_column(FAILED_COLUMN)


def _samples(
    frame: pl.DataFrame, masks: pl.DataFrame, failing: list[Check], alias: dict[str, str]
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Up to five failing rows per failing check, fetched from ``frame`` in one gather."""
    if not failing:
        return {}
    firsts = masks.select(
        [pl.col(alias[c.name]).arg_true().head(_SAMPLE_SIZE).implode() for c in failing]
    ).row(0, named=True)
    heads = {check.name: firsts[alias[check.name]] for check in failing}
    wanted = sorted({row for check in failing for row in heads[check.name]})
    names = list(dict.fromkeys(name for check in failing for name in check.columns))
    picked = frame.select(names)[wanted]
    values = {name: picked.get_column(name).to_list() for name in names}
    position = {row: index for index, row in enumerate(wanted)}
    out: dict[str, tuple[dict[str, Any], ...]] = {}
    for check in failing:
        sample: list[dict[str, Any]] = []
        for row in heads[check.name]:
            at = position[row]
            if len(check.columns) == 1:
                value: Any = values[check.columns[0]][at]
            else:
                value = {name: values[name][at] for name in check.columns}
            sample.append({"row": row, "value": value})
        out[check.name] = tuple(sample)
    return out


def _refuses(check: Check) -> bool:
    if check.severity == "reject":
        return True
    return check.severity == "error" and not check.row_level


def _reason(result: CheckResult) -> str:
    if result.failing_count and result.bound is not None:
        what = f"{result.failing_count:,} failing rows"
    else:
        what = f"observed {result.observed}" if result.observed is not None else str(result.message)
    return f"check {result.name!r} ({result.severity}) failed: {what}; required {result.bound}"


def _type_result(check: Check, problems: list[Problem]) -> CheckResult:
    expected = str(check.params["logical_type"])
    for problem in problems:
        if problem.loc == check.columns and problem.code in ("missing-column", "wrong-type"):
            return _result(
                check,
                "failed",
                observed=problem.value or "missing",
                bound=expected,
                message=problem.msg,
            )
    return _result(check, "passed", bound=expected)


def _row_result(
    check: Check, count: int, rows: int, sample: tuple[dict[str, Any], ...]
) -> CheckResult:
    fraction = count / rows if rows else 0.0
    bound = check.bound
    if bound is None or bound.zero_only:
        passed = count == 0
        observed: Any = count
        text = _describe(check)
    else:
        observed = 100.0 * fraction if bound.unit == "percent" else count
        passed = bound.allows(observed)
        text = f"failing {bound.describe()} ({_describe(check)})"
    return _result(
        check,
        "passed" if passed else "failed",
        observed=observed,
        bound=text,
        failing_count=count,
        failing_fraction=fraction,
        sample=sample,
    )


def _batch_result(
    check: Check, frame: pl.DataFrame, reference: Mapping[str, Any] | None, now: dt.datetime
) -> CheckResult:
    outcome = evaluate_batch_check(check, frame, reference_profile=reference, now=now)
    if outcome.passed is None:
        return _result(check, "skipped", bound=outcome.bound, message=outcome.message)
    status = "passed" if outcome.passed else "failed"
    return _result(
        check, status, observed=outcome.observed, bound=outcome.bound, message=outcome.message
    )


def _skipped(check: Check, message: str) -> CheckResult:
    return _result(check, "skipped", message=message)


def _result(check: Check, status: Any, **fields: Any) -> CheckResult:
    return CheckResult(
        name=check.name,
        kind=check.kind,
        columns=check.columns,
        severity=check.severity,
        status=status,
        **fields,
    )


def _describe(check: Check) -> str:
    params = check.params
    if check.kind in ("not_null", "null_values"):
        return "no nulls"
    if check.kind == "missing_values":
        return f"none of {list(params['values'])}"
    if check.kind in ("unique", "duplicates"):
        return "no repeats of " + (
            ", ".join(check.columns) if len(check.columns) < 4 else f"{len(check.columns)} columns"
        )
    if check.kind == "allowed_values":
        return f"in {list(params['values'])}"
    if check.kind == "pattern":
        return f"matches {params['pattern']}"
    if check.kind == "rule":
        return str(params["rule"])
    symbols = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
        "minLength": "length >=",
        "maxLength": "length <=",
        "multipleOf": "multiple of",
    }
    return " and ".join(f"{symbols[key]} {value}" for key, value in params.items())
