"""Operations shared by the Python API and the CLI (both are thin shells over these)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from loopline._workspace import Workspace, open_workspace
from loopline.data._contract import Contract
from loopline.data._datasets import (
    get_version,
    list_versions,
    load_version,
    parse_ref,
    quarantine_frame,
)
from loopline.data._datasets import list_datasets as _list_datasets
from loopline.errors import DataError
from loopline.lineage import LineageTree, find_node, walk
from loopline.store import Contract as ContractRecord
from loopline.store import list_audit

if TYPE_CHECKING:  # the reading commands (datasets, audit, lineage) load no pandas or polars
    import pandas as pd
    import polars as pl

    from loopline.data._ingest import IngestResult, Progress

__all__ = [
    "audit",
    "diff",
    "export_quarantine",
    "ingest",
    "ingest_path",
    "lineage",
    "list_datasets",
    "load",
    "quarantine",
    "quarantine_summary",
    "show_dataset",
]

Mode = Literal["append", "overwrite"]


def _contract_and_dataset(ws: Workspace, dataset: str | None) -> tuple[Contract, str]:
    from loopline.data._contract_parse import load_contract  # polars: the ingest paths only

    project = ws.project
    contract = load_contract(project.resolve(project.spec.data.contract))
    return contract, dataset or project.spec.data.dataset


def ingest_path(
    ws: Workspace,
    path: Path | str,
    *,
    dataset: str | None = None,
    mode: Mode = "append",
    force: bool = False,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest a file into the project's dataset (or ``dataset``) through the project's contract."""
    from loopline.data._ingest import ingest_path as _ingest_path

    contract, name = _contract_and_dataset(ws, dataset)
    return _ingest_path(
        ws,
        path,
        dataset=name,
        contract=contract,
        mode=mode,
        force=force,
        delimiter=delimiter,
        progress=progress,
    )


def ingest(
    data: pl.DataFrame | pd.DataFrame | str | Path,
    *,
    dataset: str | None = None,
    mode: Mode = "append",
    force: bool = False,
    project: str | Path | None = None,
) -> IngestResult:
    """Validate data against the project's contract and store its good rows as a new version.

    Args:
        data: A polars or pandas frame, or the path of a CSV, Parquet or JSON Lines file.
        dataset: The dataset to add to; the project's ``data.dataset`` by default.
        mode: ``append`` to add rows to the latest version, ``overwrite`` to replace them.
        force: Ingest a file even if the same bytes were ingested before.
        project: The project folder; the current one by default.

    Returns:
        What happened: ``status`` is ``accepted``, ``refused`` or ``duplicate``; rows are
        conserved (``rows_in == rows_versioned + rows_quarantined``).
    """
    import pandas as pd
    import polars as pl

    from loopline.data._ingest import ingest_frame

    ws = open_workspace(project)
    try:
        if isinstance(data, str | Path):
            return ingest_path(ws, data, dataset=dataset, mode=mode, force=force)
        frame = pl.from_pandas(data) if isinstance(data, pd.DataFrame) else data
        if not isinstance(frame, pl.DataFrame):
            raise DataError(
                f"Cannot ingest a {type(data).__name__}.",
                hint="Pass a polars or pandas DataFrame, or a file path.",
            )
        contract, name = _contract_and_dataset(ws, dataset)
        return ingest_frame(ws, frame, dataset=name, contract=contract, mode=mode)
    finally:
        ws.close()


def load(
    name: str, version: int | None = None, *, project: str | Path | None = None
) -> pl.DataFrame:
    """The rows of a dataset version exactly as ingested (the latest version by default)."""
    ws = open_workspace(project)
    try:
        ref = parse_ref(name)
        return load_version(ws, ref if version is None else type(ref)(ref.name, version))
    finally:
        ws.close()


def list_datasets(ws: Workspace) -> list[dict[str, Any]]:
    """Every dataset with its latest version number and size."""
    with ws.store.transaction() as session:
        return _list_datasets(session)


def show_dataset(ws: Workspace, ref_text: str, *, head: int = 5) -> dict[str, Any]:
    """All versions of ``NAME``, or the details of ``NAME@VERSION``."""
    ref = parse_ref(ref_text)
    with ws.store.transaction() as session:
        if ref.version is None:
            versions = list_versions(session, ref.name)
            return {
                "dataset": ref.name,
                "versions": [
                    {
                        "version": v.version,
                        "rows": v.row_count,
                        "source": v.source.get("uri"),
                        "contract": _contract_label(session, v.contract_id),
                        "created_at": v.created_at,
                        "created_by": v.created_by,
                        "content_hash": v.content_hash,
                    }
                    for v in versions
                ],
            }
        version = get_version(session, ref)
        info = {
            "dataset": ref.name,
            "version": version.version,
            "rows": version.row_count,
            "columns": version.columns,
            "content_hash": version.content_hash,
            "schema_hash": version.schema_hash,
            "contract": _contract_label(session, version.contract_id),
            "source": version.source,
            "report": version.report,
            "profile": version.profile.get("columns", {}),
            "created_at": version.created_at,
            "created_by": version.created_by,
        }
    info["head"] = load_version(ws, ref).head(head)
    return info


def _contract_label(session: Any, contract_id: int | None) -> str | None:
    if contract_id is None:
        return None
    record = session.get(ContractRecord, contract_id)
    return f"{record.name} {record.version}" if record else None


def diff(ws: Workspace, left: str, right: str) -> dict[str, Any]:
    """Rows, schema and distribution differences between two dataset versions."""
    from loopline.data._diff import diff_versions

    return diff_versions(ws, left, right)


def quarantine(ws: Workspace, name: str, *, batch: str | None = None) -> pl.DataFrame:
    """Quarantined rows of a dataset with the checks each failed."""
    return quarantine_frame(ws, name, batch=batch)


def quarantine_summary(frame: pl.DataFrame) -> dict[str, int]:
    """How many quarantined rows failed each check."""
    from loopline.data._quarantine import CHECKS_COLUMN

    if frame.height == 0:
        return {}
    counts: Counter[str] = Counter()
    for checks in frame.get_column(CHECKS_COLUMN).to_list():
        counts.update(checks)
    return dict(counts.most_common())


def export_quarantine(frame: pl.DataFrame, path: Path) -> None:
    """Write quarantined rows for fixing: the original columns plus the failed checks.

    Columns whose names start with ``_loopline`` are ignored when the file is ingested again.
    """
    import polars as pl

    from loopline.data._quarantine import CHECKS_COLUMN

    out = frame.with_columns(pl.col(CHECKS_COLUMN).list.join("; "))
    if path.suffix.lower() == ".parquet":
        out.write_parquet(path)
    else:
        out.write_csv(path)


def lineage(ws: Workspace, node: str, *, up: bool, depth: int = 20) -> LineageTree:
    """The lineage tree above (``up``) or below a node such as ``credit@2``."""
    with ws.store.transaction() as session:
        return walk(session, find_node(session, node), up=up, depth=depth)


def audit(
    ws: Workspace,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit events, newest first."""
    with ws.store.transaction() as session:
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target": e.target,
                "use_case": e.use_case,
                "before": e.before,
                "after": e.after,
                "reason": e.reason,
            }
            for e in list_audit(
                session, action=action, actor=actor, target=target, since=since, limit=limit
            )
        ]
