"""The data pages' data: datasets and versions, a version's report, profile and quarantine, diffs.

Lists are paginated in the store (``LIMIT``/``OFFSET``); a version's quarantine is read lazily
from its Delta table, filtered to the version's ingest batches and sliced to one page, so the
pages cost the same however many versions or quarantined rows a project has. A diff reads both
versions whole, as ``loopline datasets diff`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from deltalake.exceptions import TableNotFoundError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.charts import histogram
from loopline.data._datasets import DatasetRef, get_version
from loopline.data._diff import diff_versions
from loopline.data._quarantine import AT_COLUMN, CHECKS_COLUMN, ROW, UID_COLUMN
from loopline.data._tables import table_uri
from loopline.errors import DatasetError
from loopline.store import Contract, Dataset, DatasetVersion, IngestBatch

__all__ = [
    "PAGE_SIZE",
    "Window",
    "dataset_summaries",
    "diff_view",
    "quarantine_page",
    "version_detail",
    "version_rows",
]

#: Rows per page unless the query asks for another size (at most :data:`MAX_PAGE_SIZE`).
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_HIDDEN = (UID_COLUMN, ROW, CHECKS_COLUMN, AT_COLUMN)


@dataclass(frozen=True)
class Window:
    """One page of a list: where it starts and how many rows it holds at most."""

    offset: int = 0
    limit: int = PAGE_SIZE

    @classmethod
    def from_query(cls, query: Mapping[str, str], prefix: str = "") -> Window:
        """Read ``offset`` and ``limit`` (optionally prefixed, e.g. ``q_offset``) from a query.

        Raises:
            DatasetError: A value is not a whole number in range.
        """
        values = {}
        for name, default, high in (("offset", 0, None), ("limit", PAGE_SIZE, MAX_PAGE_SIZE)):
            key = prefix + name
            text = query.get(key, "")
            if not text:
                values[name] = default
                continue
            if not text.isdigit() or (high is not None and not 1 <= int(text) <= high):
                bound = f"1 to {high}" if high else "0 or more"
                raise DatasetError(
                    f"The page parameter {key}={text!r} is not a whole number from {bound}.",
                    hint=f"Use the page links, or set {key} to a whole number from {bound}.",
                )
            values[name] = int(text)
        return cls(offset=values["offset"], limit=values["limit"])

    def pages(self, total: int) -> dict[str, int | None]:
        """Offsets of the previous and next pages (``None`` at either end) and the range shown."""
        return {
            "first": self.offset + 1 if total else 0,
            "last": min(self.offset + self.limit, total),
            "total": total,
            "previous": max(self.offset - self.limit, 0) if self.offset > 0 else None,
            "next": self.offset + self.limit if self.offset + self.limit < total else None,
            "limit": self.limit,
        }


def dataset_summaries(session: Session) -> list[dict[str, Any]]:
    """Every dataset with its number of versions, latest version, its rows and time (one query)."""
    latest = (
        select(
            DatasetVersion.dataset_id,
            func.count().label("versions"),
            func.max(DatasetVersion.version).label("latest"),
        )
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    rows = session.execute(
        select(Dataset.name, latest.c.versions, latest.c.latest, DatasetVersion)
        .join(latest, latest.c.dataset_id == Dataset.id, isouter=True)
        .join(
            DatasetVersion,
            (DatasetVersion.dataset_id == Dataset.id) & (DatasetVersion.version == latest.c.latest),
            isouter=True,
        )
        .order_by(Dataset.name)
    ).all()
    return [
        {
            "dataset": name,
            "versions": versions or 0,
            "latest": latest_number,
            "rows": version.row_count if version else 0,
            "updated_at": version.created_at if version else None,
        }
        for name, versions, latest_number, version in rows
    ]


def _status(report: Mapping[str, Any], quarantined: int) -> str:
    """``quarantined`` (rows kept aside), ``warnings`` (checks failed, rows kept) or ``passed``."""
    if quarantined or report.get("rows_bad"):
        return "quarantined"
    if any(check.get("status") == "failed" for check in report.get("checks", [])):
        return "warnings"
    return "passed"


def version_rows(
    session: Session, window: Window, *, dataset: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """One page of dataset versions (by dataset, newest first) and how many there are in all."""
    where = [Dataset.name == dataset] if dataset else []
    total = session.scalar(
        select(func.count())
        .select_from(DatasetVersion)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(*where)
    )
    quarantined = (
        select(
            IngestBatch.version_id,
            func.sum(IngestBatch.rows_quarantined).label("rows"),
        )
        .group_by(IngestBatch.version_id)
        .subquery()
    )
    rows = session.execute(
        select(Dataset.name, DatasetVersion, Contract.name, Contract.version, quarantined.c.rows)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .join(Contract, Contract.id == DatasetVersion.contract_id, isouter=True)
        .join(quarantined, quarantined.c.version_id == DatasetVersion.id, isouter=True)
        .where(*where)
        .order_by(Dataset.name, DatasetVersion.version.desc())
        .offset(window.offset)
        .limit(window.limit)
    ).all()
    out = []
    for name, version, contract, contract_version, kept_aside in rows:
        out.append(
            {
                "dataset": name,
                "version": version.version,
                "rows": version.row_count,
                "created_at": version.created_at,
                "created_by": version.created_by,
                "contract": f"{contract} {contract_version}" if contract else None,
                "content_hash": version.content_hash,
                "quarantined": int(kept_aside or 0),
                "status": _status(version.report, int(kept_aside or 0)),
                "mode": version.source.get("mode"),
            }
        )
    return int(total or 0), out


def _profile_columns(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per column: type, nulls, min/max/mean or top categories, and a histogram SVG if numeric."""
    out = []
    for name, entry in profile.get("columns", {}).items():
        bins = entry.get("histogram") or {}
        chart = None
        if bins.get("counts"):
            chart = histogram(bins["edges"], bins["counts"], title=name)
        out.append(
            {
                "column": name,
                "dtype": entry.get("dtype"),
                "count": entry.get("count"),
                "nulls": entry.get("nulls", 0),
                "null_fraction": entry.get("null_fraction"),
                "distinct": entry.get("distinct"),
                "min": entry.get("min"),
                "max": entry.get("max"),
                "mean": entry.get("mean"),
                "std": entry.get("std"),
                "top": (entry.get("top") or [])[:8],
                "histogram": chart,
            }
        )
    return out


def _batch_uids(session: Session, version_id: int) -> list[str]:
    return list(
        session.scalars(
            select(IngestBatch.uid)
            .where(IngestBatch.version_id == version_id)
            .order_by(IngestBatch.id)
        )
    )


def version_detail(ws: Workspace, name: str, number: int) -> dict[str, Any]:
    """What ``data_version.html`` shows, bar the quarantine's rows: report, profile, links.

    Raises:
        DatasetError: No such dataset or version.
    """
    with ws.store.transaction() as session:
        version = get_version(session, DatasetRef(name, number))
        contract = session.get(Contract, version.contract_id) if version.contract_id else None
        previous = session.scalar(
            select(func.max(DatasetVersion.version)).where(
                DatasetVersion.dataset_id == version.dataset_id,
                DatasetVersion.version < number,
            )
        )
        batches = session.scalars(
            select(IngestBatch).where(IngestBatch.version_id == version.id).order_by(IngestBatch.id)
        ).all()
        report = dict(version.report)
        quarantined = sum(b.rows_quarantined for b in batches)
        info: dict[str, Any] = {
            "dataset": name,
            "version": number,
            "rows": version.row_count,
            "columns": list(version.columns),
            "content_hash": version.content_hash,
            "schema_hash": version.schema_hash,
            "created_at": version.created_at,
            "created_by": version.created_by,
            "source": dict(version.source),
            "contract": f"{contract.name} {contract.version}" if contract else None,
            "previous": previous,
            "batches": [
                {
                    "uid": b.uid,
                    "mode": b.mode,
                    "status": b.status,
                    "rows_in": b.rows_in,
                    "rows_versioned": b.rows_versioned,
                    "rows_quarantined": b.rows_quarantined,
                    "source_uri": b.source_uri,
                }
                for b in batches
            ],
            "profile": _profile_columns(version.profile),
        }
    # failures first, then checks that could not run, then passes; contract order within each
    rank = {"failed": 0, "skipped": 1}
    checks = sorted(report.get("checks", []), key=lambda c: rank.get(c.get("status", ""), 2))
    info["report"] = {
        "rows_in": report.get("rows_in"),
        "rows_good": report.get("rows_good"),
        "rows_bad": report.get("rows_bad", 0),
        "refused": report.get("refused", False),
        "refusal_reasons": report.get("refusal_reasons", []),
        "checks": checks,
        "failed": sum(1 for check in checks if check.get("status") == "failed"),
    }
    info["status"] = _status(report, quarantined)
    info["lineage_node"] = f"dataset_version:{name}@{number}"
    return info


def quarantine_page(ws: Workspace, name: str, number: int, window: Window) -> dict[str, Any]:
    """One page of the rows a version's ingest kept aside, with the checks each failed.

    Reads the quarantine table lazily: only the version's batches, only one page of rows; the
    per-check counts are aggregated in the same scan.

    Raises:
        DatasetError: No such dataset or version.
    """
    with ws.store.transaction() as session:
        version = get_version(session, DatasetRef(name, number))
        uids = _batch_uids(session, version.id)
    empty: dict[str, Any] = {"total": 0, "columns": [], "rows": [], "by_check": []}
    if not uids:
        return {**empty, "pages": window.pages(0)}
    try:
        scan = pl.scan_delta(table_uri(ws.settings.data_uri, name, quarantine=True))
        kept = scan.filter(pl.col(UID_COLUMN).is_in(uids))
        total = int(kept.select(pl.len()).collect().item())
    except (TableNotFoundError, FileNotFoundError, OSError):
        return {**empty, "pages": window.pages(0)}
    by_check = (
        kept.select(pl.col(CHECKS_COLUMN).explode().alias("check"))
        .group_by("check")
        .agg(pl.len().alias("rows"))
        .sort(["rows", "check"], descending=[True, False])
        .collect()
        .to_dicts()
    )
    order = {uid: index for index, uid in enumerate(uids)}
    frame = (
        kept.with_columns(
            pl.col(UID_COLUMN).replace_strict(order, return_dtype=pl.Int64).alias("_order")
        )
        .sort("_order", ROW)
        .slice(window.offset, window.limit)
        .collect()
    )
    columns = [c for c in frame.columns if c not in _HIDDEN and c != "_order"]
    rows = [
        {
            "row": record[ROW],
            "checks": list(record[CHECKS_COLUMN] or []),
            "cells": [record[c] for c in columns],
        }
        for record in frame.iter_rows(named=True)
    ]
    return {
        "total": total,
        "columns": columns,
        "rows": rows,
        "by_check": by_check,
        "pages": window.pages(total),
    }


def diff_view(ws: Workspace, name: str, left: int, right: int) -> dict[str, Any]:
    """Rows added and removed (by key), schema changes and distribution changes, for the page.

    Raises:
        DatasetError: No such dataset or version.
    """
    found = diff_versions(ws, DatasetRef(name, left), DatasetRef(name, right))
    distributions = sorted(
        found["distributions"],
        key=lambda d: -max(abs(d.get("mean_shift_sd") or 0.0), d.get("max_share_change") or 0.0),
    )
    for entry in distributions:
        for key in ("mean", "mean_shift_sd", "max_share_change"):
            entry.setdefault(key, None)
        before, after = entry["null_fraction"]
        entry["null_change"] = (after or 0.0) - (before or 0.0)
    return {**found, "distributions": distributions}
