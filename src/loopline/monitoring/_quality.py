"""Live data quality: what served inputs look like next to the training data.

Per input column: the null rate against the training null rate, the share of values out of the
range the model was trained for (numeric: outside the signature's minimum/maximum, else outside
the training minimum/maximum; categorical: a category the training data never had), and the
contract's row checks run on the served inputs (type, range, allowed values, rules), with the
share of rows that fail each. Uniqueness checks are left out: repeated inputs are normal traffic.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from loopline.data import Contract, validate
from loopline.training import Signature

__all__ = ["data_quality"]

_CAST = {
    "integer": pl.Int64,
    "number": pl.Float64,
    "boolean": pl.Boolean,
    "string": pl.String,
}


def _contract_frame(answers: pl.DataFrame, contract: Contract, names: list[str]) -> pl.DataFrame:
    """The logged inputs in the contract's types (a value that does not cast is null)."""
    types = {c.name: c.logical_type for c in contract.columns}
    struct = pl.Struct(dict.fromkeys(names, pl.String))
    decoded = answers.select(pl.col("inputs").str.json_decode(struct).alias("_in")).unnest("_in")
    return decoded.select(
        pl.col(name).cast(_CAST.get(str(types.get(name)), pl.String), strict=False)
        if _CAST.get(str(types.get(name))) is not pl.Boolean
        else pl.col(name).str.to_lowercase().eq("true").alias(name)
        for name in names
    )


def _contract_violations(
    answers: pl.DataFrame, contract: Contract, names: list[str]
) -> list[dict[str, Any]]:
    served = set(names)
    subset = replace(
        contract,
        columns=tuple(
            replace(c, unique=False, primary_key=False)
            for c in contract.columns
            if c.name in served
        ),
        quality=tuple(
            q for q in contract.quality if set(q.columns) <= served and q.kind != "unique"
        ),
    )
    frame = _contract_frame(answers, subset, [c.name for c in subset.columns])
    report = validate(frame, subset).report
    return [
        {
            "check": r.name,
            "kind": r.kind,
            "columns": list(r.columns),
            "severity": r.severity,
            "failing": r.failing_count,
            "failing_fraction": r.failing_fraction,
        }
        for r in report.checks
        if r.status == "failed" and r.failing_count > 0
    ]


def _column_quality(
    values: pl.Series, field: Any, reference: dict[str, Any] | None
) -> dict[str, Any]:
    rows = values.len()
    nulls = values.null_count()
    ref_null = reference.get("null_rate") if reference else None
    result: dict[str, Any] = {
        "column": field.name,
        "null_rate": nulls / rows if rows else None,
        "null_rate_reference": ref_null,
        "null_rate_increase": (nulls / rows - ref_null) if rows and ref_null is not None else None,
    }
    present = values.drop_nulls()
    if present.len() == 0:
        result["out_of_range_rate"] = None
        return result
    if field.categorical:
        known = {str(v) for v in field.allowed} if field.allowed else None
        if known is None and reference is not None:
            known = set(reference.get("categories", {}))
        outside = int((~present.is_in(sorted(known))).sum()) if known else 0
        result["unseen"] = sorted(set(present.unique().to_list()) - (known or set()))[:20]
    else:
        low = field.minimum if field.minimum is not None else (reference or {}).get("min")
        high = field.maximum if field.maximum is not None else (reference or {}).get("max")
        mask = pl.Series([False] * present.len())
        if low is not None:
            mask = mask | (present < low)
        if high is not None:
            mask = mask | (present > high)
        outside = int(mask.sum())
        result["range"] = [low, high]
    result["out_of_range_rate"] = outside / rows
    return result


def data_quality(
    answers: pl.DataFrame,
    inputs: pl.DataFrame,
    signature: Signature,
    reference: dict[str, Any],
    contract: Contract | None,
) -> dict[str, Any]:
    """The data-quality section of a monitoring report.

    Args:
        answers: The window's logged answers (for the raw inputs).
        inputs: The same rows' inputs decoded by :func:`~loopline.monitoring._window.decode_inputs`.
        signature: The model's inputs.
        reference: The reference profile's :meth:`summary` (``columns`` by name).
        contract: The use case's contract, to run its row checks on the inputs.
    """
    columns_ref = reference.get("columns", {})
    columns = [
        _column_quality(inputs[f.name], f, columns_ref.get(f.name)) for f in signature.inputs
    ]
    violations = (
        _contract_violations(answers, contract, signature.names)
        if contract is not None and answers.height
        else []
    )
    increases = [c["null_rate_increase"] for c in columns if c["null_rate_increase"] is not None]
    outside = [c["out_of_range_rate"] for c in columns if c.get("out_of_range_rate") is not None]
    return {
        "rows": inputs.height,
        "columns": columns,
        "contract_violations": violations,
        "max_null_rate_increase": max(increases) if increases else None,
        "max_out_of_range_rate": max(outside) if outside else None,
        "max_violation_rate": max((v["failing_fraction"] for v in violations), default=0.0),
    }
