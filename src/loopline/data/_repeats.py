"""Uniqueness across versions: appended rows must not repeat keys already in the dataset.

Within a batch, the validation engine keeps the first occurrence of a key and quarantines later
ones. When a batch is *appended*, its keys are also compared with the latest version's: a row
whose key (a unique column, or the columns of a duplicate check) is already there fails that
check and is quarantined like any other failing row.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from deltalake import DeltaTable

from loopline.data._contract import Contract

__all__ = ["quarantine_repeats"]


def _key_checks(contract: Contract) -> list[tuple[str, list[str]]]:
    return [
        (check.name, list(check.columns))
        for check in contract.checks
        if check.kind in ("unique", "duplicates")
        and check.severity in ("error", "reject")
        and check.columns
    ]


def quarantine_repeats(
    uri: str,
    parent_table_version: int,
    contract: Contract,
    good: pl.DataFrame,
    bad: pl.DataFrame,
    report: dict[str, Any],
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Move rows of ``good`` whose keys exist in the parent version to ``bad``.

    Returns:
        The new good rows, bad rows (with ``_row`` and ``_failed_checks``) and report.
    """
    checks = [
        (name, cols) for name, cols in _key_checks(contract) if set(cols) <= set(good.columns)
    ]
    if not checks or good.height == 0:
        return good, bad, report
    needed = sorted({c for _, cols in checks for c in cols})
    existing = pl.from_arrow(
        DeltaTable(uri, version=parent_table_version).to_pyarrow_table(columns=needed)
    )
    assert isinstance(existing, pl.DataFrame)  # from_arrow of a Table is a DataFrame
    taken = set(bad["_row"].to_list()) if bad.height else set()
    rows = pl.Series(
        "_row", [i for i in range(good.height + len(taken)) if i not in taken], dtype=pl.Int64
    )
    marked = good.with_columns(rows)
    failed: dict[int, list[str]] = {}
    for name, cols in checks:
        keys = existing.select(cols).unique().with_columns(pl.lit(True).alias("_seen"))
        cast = marked.select(["_row", *[pl.col(c).cast(existing.schema[c]) for c in cols]])
        hits = cast.join(keys, on=cols, how="inner", nulls_equal=False)["_row"].to_list()
        for row in hits:
            failed.setdefault(row, []).append(name)
        _count(report, name, len(hits), marked.height)
    if not failed:
        return good, bad, report
    moved = marked.filter(pl.col("_row").is_in(list(failed))).with_columns(
        pl.col("_row")
        .replace_strict(failed, return_dtype=pl.List(pl.String))
        .alias("_failed_checks")
    )
    kept = marked.filter(~pl.col("_row").is_in(list(failed))).drop("_row")
    merged = (
        pl.concat([bad, moved.select(bad.columns)], how="vertical_relaxed").sort("_row")
        if bad.height
        else moved
    )
    report["rows_good"] = kept.height
    report["rows_bad"] = merged.height
    return kept, merged, report


def _count(report: dict[str, Any], name: str, hits: int, rows: int) -> None:
    if not hits:
        return
    for check in report.get("checks", []):
        if check.get("name") == name:
            check["failing_count"] = int(check.get("failing_count") or 0) + hits
            check["failing_fraction"] = check["failing_count"] / rows if rows else 0.0
            check["status"] = "failed"
            check["message"] = "keys repeat rows of the previous version"
