"""Diff two dataset versions: rows added and removed, schema changes, distribution changes."""

from __future__ import annotations

from typing import Any

import polars as pl

from loopline._workspace import Workspace
from loopline.data._datasets import DatasetRef, get_version, load_version, parse_ref
from loopline.store import Contract as ContractRecord

__all__ = ["diff_versions"]


def _key_columns(body: dict[str, Any] | None) -> list[str]:
    """Primary-key (or else unique) columns declared in a stored ODCS contract."""
    if not body:
        return []
    properties = [p for obj in body.get("schema", []) for p in obj.get("properties", [])]
    primary = sorted(
        (p for p in properties if p.get("primaryKey")),
        key=lambda p: p.get("primaryKeyPosition", -1),
    )
    if primary:
        return [p["name"] for p in primary]
    unique = [p["name"] for p in properties if p.get("unique")]
    return unique[:1]


def diff_versions(ws: Workspace, left: DatasetRef | str, right: DatasetRef | str) -> dict[str, Any]:
    """Compare two versions (of one dataset or two).

    Rows are matched by the contract's key when it declares one (primary key, else a unique
    column), otherwise by whole-row content. Distribution changes come from the stored profiles.
    """
    a = parse_ref(left) if isinstance(left, str) else left
    b = parse_ref(right) if isinstance(right, str) else right
    with ws.store.transaction() as session:
        va, vb = get_version(session, a), get_version(session, b)
        a = DatasetRef(a.name, va.version)
        b = DatasetRef(b.name, vb.version)
        stored = session.get(ContractRecord, vb.contract_id) if vb.contract_id else None
        body = stored.body if stored is not None else None
        profiles = (va.profile, vb.profile)
        columns = (va.columns, vb.columns)
    fa, fb = load_version(ws, a), load_version(ws, b)
    keys = [k for k in _key_columns(body) if k in fa.columns and k in fb.columns]
    rows = _row_diff(fa, fb, keys)
    return {
        "left": str(a),
        "right": str(b),
        "rows": {"left": fa.height, "right": fb.height, **rows, "key": keys or None},
        "schema": _schema_diff(columns[0], columns[1]),
        "distributions": _distribution_diff(profiles[0], profiles[1]),
    }


def _row_diff(fa: pl.DataFrame, fb: pl.DataFrame, keys: list[str]) -> dict[str, int]:
    if keys:
        ka, kb = fa.select(keys).unique(), fb.select(keys).unique()
        added = kb.join(ka, on=keys, how="anti").height
        removed = ka.join(kb, on=keys, how="anti").height
        common = [c for c in fa.columns if c in fb.columns]
        joined = fa.select(common).join(fb.select(common), on=keys, how="inner", suffix="__r")
        others = [c for c in common if c not in keys]
        if others and joined.height:
            changed_mask = pl.any_horizontal(
                [pl.col(c).ne_missing(pl.col(f"{c}__r")) for c in others]
            )
            changed = joined.filter(changed_mask).height
        else:
            changed = 0
        return {"added": added, "removed": removed, "changed": changed}
    common = [c for c in fa.columns if c in fb.columns]
    ha = fa.select(common).hash_rows(seed=0).value_counts(name="n")
    hb = fb.select(common).hash_rows(seed=0).value_counts(name="n")
    name = ha.columns[0]
    merged = ha.join(hb, on=name, how="full", coalesce=True, suffix="_b").fill_null(0)
    added = int((merged["n_b"] - merged["n"]).clip(lower_bound=0).sum())
    removed = int((merged["n"] - merged["n_b"]).clip(lower_bound=0).sum())
    return {"added": added, "removed": removed, "changed": 0}


def _schema_diff(left: list[Any], right: list[Any]) -> dict[str, Any]:
    a = {c["name"]: c["type"] for c in left}
    b = {c["name"]: c["type"] for c in right}
    return {
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "type_changed": {c: [a[c], b[c]] for c in sorted(set(a) & set(b)) if a[c] != b[c]},
    }


def _distribution_diff(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    la, lb = left.get("columns", {}), right.get("columns", {})
    for name in sorted(set(la) & set(lb)):
        a, b = la[name], lb[name]
        entry: dict[str, Any] = {
            "column": name,
            "null_fraction": [a.get("null_fraction"), b.get("null_fraction")],
        }
        if a.get("mean") is not None and b.get("mean") is not None:
            std = a.get("std") or 0.0
            entry["mean"] = [a["mean"], b["mean"]]
            entry["mean_shift_sd"] = (b["mean"] - a["mean"]) / std if std else None
        if "top" in a and "top" in b:
            share_a = _shares(a["top"], a.get("count") or 1)
            share_b = _shares(b["top"], b.get("count") or 1)
            entry["max_share_change"] = max(
                (
                    abs(share_b.get(k, 0.0) - share_a.get(k, 0.0))
                    for k in set(share_a) | set(share_b)
                ),
                default=0.0,
            )
        out.append(entry)
    return out


def _shares(top: list[dict[str, Any]], count: int) -> dict[str, float]:
    return {str(item["value"]): item["count"] / count for item in top}
