"""Ingest: a batch of rows → contract check → new dataset version + quarantine, all recorded.

Invariant: ``rows_in == rows_versioned + rows_quarantined`` for every batch. A refused batch
creates no version; its rows go to the quarantine with the refusal as their failed check, so
nothing is lost and they can be re-ingested after a fix.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from sqlalchemy import select

from loopline._workspace import Workspace
from loopline.data._contract import Contract
from loopline.data._datasets import contract_record, dataset_record, latest_version
from loopline.data._locks import dataset_lock
from loopline.data._openlineage_ingest import IngestLineage
from loopline.data._profile import profile_frame
from loopline.data._quarantine import write_quarantine
from loopline.data._read import SourceFile, read_source
from loopline.data._repeats import quarantine_repeats
from loopline.data._tables import (
    content_hash,
    read_table_version,
    schema_of,
    table_uri,
    write_table_version,
)
from loopline.data._validation import ValidationResult, validate
from loopline.errors import DataError
from loopline.lineage import add_edge, add_node
from loopline.store import Dataset, DatasetVersion, IngestBatch, record_audit, utcnow

__all__ = ["IngestResult", "Progress", "ingest_frame", "ingest_path"]

Progress = Callable[[str], None]
Status = Literal["accepted", "refused", "duplicate"]


@dataclass
class IngestResult:
    """What happened to one batch."""

    dataset: str
    version: int | None
    rows_in: int
    rows_versioned: int
    rows_quarantined: int
    status: Status
    batch: str
    source_sha256: str | None = None
    refusal_reasons: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the CLI's ``--json``)."""
        return {
            "dataset": self.dataset,
            "version": self.version,
            "rows_in": self.rows_in,
            "rows_versioned": self.rows_versioned,
            "rows_quarantined": self.rows_quarantined,
            "status": self.status,
            "batch": self.batch,
            "source_sha256": self.source_sha256,
            "refusal_reasons": self.refusal_reasons,
            "report": self.report,
        }


def ingest_path(
    ws: Workspace,
    path: Path | str,
    *,
    dataset: str,
    contract: Contract,
    mode: Literal["append", "overwrite"] = "append",
    force: bool = False,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest a CSV, Parquet or JSON Lines file into ``dataset`` through ``contract``."""
    say = progress or (lambda _step: None)
    say(f"reading {Path(path).name}")
    source, frame = read_source(path, delimiter=delimiter)
    if not force:
        duplicate = _duplicate_of(ws, dataset, source.sha256, frame.height, mode)
        if duplicate is not None:
            return duplicate
    return ingest_frame(
        ws, frame, dataset=dataset, contract=contract, mode=mode, source=source, progress=progress
    )


def ingest_frame(
    ws: Workspace,
    frame: pl.DataFrame,
    *,
    dataset: str,
    contract: Contract,
    mode: Literal["append", "overwrite"] = "append",
    source: SourceFile | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Validate ``frame`` against ``contract`` and store its good rows as a new version."""
    if mode not in ("append", "overwrite"):
        raise DataError(f"Unknown ingest mode {mode!r}.", hint="Use append or overwrite.")
    say = progress or (lambda _step: None)
    # columns loopline added (e.g. in an exported quarantine file) are not data
    frame = frame.drop([name for name in frame.columns if name.startswith("_loopline")])
    uid = str(uuid.uuid4())
    lineage = IngestLineage(ws.settings, dataset=dataset, batch_uid=uid, source=source)
    lineage.start(frame)
    try:
        with dataset_lock(ws.settings.home, ws.store, dataset):
            say("validating")
            reference = _latest_profile(ws, dataset)
            result = validate(frame, contract, reference_profile=reference)
            return _store(ws, frame, result, dataset, contract, mode, source, uid, lineage, say)
    except BaseException as exc:
        lineage.fail(str(exc))
        raise


def _store(
    ws: Workspace,
    frame: pl.DataFrame,
    result: ValidationResult,
    dataset: str,
    contract: Contract,
    mode: Literal["append", "overwrite"],
    source: SourceFile | None,
    uid: str,
    lineage: IngestLineage,
    say: Progress,
) -> IngestResult:
    now = utcnow()
    source_sha = source.sha256 if source else content_hash(frame)
    source_uri = str(source.path) if source else "frame"
    with ws.store.transaction() as session:
        record = dataset_record(session, dataset, ws.actor)
        parent = latest_version(session, record.id)
        batch = IngestBatch(
            uid=uid,
            dataset_id=record.id,
            source_uri=source_uri,
            source_sha256=source_sha,
            mode=mode,
            status="running",
            rows_in=frame.height,
            rows_versioned=0,
            rows_quarantined=0,
            report={},
            created_by=ws.actor,
        )
        session.add(batch)
        session.flush()
        batch_id = batch.id
    if source is not None:
        say("keeping a copy of the source file")
        ws.objects.put_file(f"sources/{source.sha256}/{source.path.name}", source.path)
    q_uri = table_uri(ws.settings.data_uri, dataset, quarantine=True)
    if result.refused:
        say("quarantining the refused batch")
        refusing = [c.name for c in result.report.failed if c.severity == "reject"]
        names = ["batch.refused", *refusing]
        write_quarantine(
            q_uri,
            frame,
            batch_uid=uid,
            row_numbers=pl.Series(range(frame.height)),
            failed_checks=pl.Series([names] * frame.height),
            at=now,
        )
        return _finish_refused(ws, dataset, frame, batch_id, result, source_sha, lineage)
    say("writing the new version")
    uri = table_uri(ws.settings.data_uri, dataset)
    parent_table = parent.table_version if parent else None
    good, bad, report = result.good, result.bad, result.report.to_dict()
    if mode == "append" and parent_table is not None:
        good, bad, report = quarantine_repeats(uri, parent_table, contract, good, bad, report)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the new version's summary is computed while its files are written
        summary = pool.submit(_summarise, uri, parent_table, good, mode)
        table_version = write_table_version(
            uri,
            good,
            batch=batch_id,
            mode=mode,
            expected_version=parent_table,
            metadata={"loopline.batch": uid, "loopline.dataset": dataset},
        )
        write_quarantine(
            q_uri,
            bad.drop("_row", "_failed_checks"),
            batch_uid=uid,
            row_numbers=bad["_row"],
            failed_checks=bad["_failed_checks"],
            at=now,
        )
        say("profiling")
        snapshot, profile, digest = summary.result()
    with ws.store.transaction() as session:
        record = dataset_record(session, dataset, ws.actor)
        parent = latest_version(session, record.id)
        number = (parent.version if parent else 0) + 1
        stored_contract = contract_record(session, contract)
        version = DatasetVersion(
            dataset_id=record.id,
            version=number,
            row_count=snapshot.height,
            table_version=table_version,
            columns=schema_of(snapshot),
            content_hash=digest,
            schema_hash=_schema_hash(snapshot),
            contract_id=stored_contract.id,
            report=report,
            profile=profile,
            source={
                "kind": "file" if source else "frame",
                "uri": source_uri,
                "sha256": source_sha,
                "mode": mode,
                "batch": uid,
                "parent": parent.version if parent else None,
            },
            created_by=ws.actor,
        )
        session.add(version)
        session.flush()
        batch = session.get_one(IngestBatch, batch_id)
        batch.status = "accepted"
        batch.rows_versioned = good.height
        batch.rows_quarantined = bad.height
        batch.version_id = version.id
        batch.report = report
        key = f"{dataset}@{number}"
        node = add_node(session, "dataset_version", key, label=key, rows=snapshot.height)
        if source is not None:
            file_node = add_node(
                session,
                "source_file",
                source.sha256,
                label=source.path.name,
                uri=source_uri,
                size=source.size,
            )
            add_edge(session, file_node, node, "ingested_into")
        if parent is not None and mode == "append":
            parent_node = add_node(session, "dataset_version", f"{dataset}@{parent.version}")
            add_edge(session, parent_node, node, "appended_to")
        record_audit(
            session,
            actor=ws.actor,
            action="dataset.ingest",
            target_type="dataset_version",
            target=key,
            after={
                "rows": snapshot.height,
                "rows_in": frame.height,
                "rows_quarantined": bad.height,
                "batch": uid,
            },
        )
    lineage.complete(frame, result, snapshot, number)
    return IngestResult(
        dataset=dataset,
        version=number,
        rows_in=frame.height,
        rows_versioned=good.height,
        rows_quarantined=bad.height,
        status="accepted",
        batch=uid,
        source_sha256=source_sha,
        report=report,
    )


def _finish_refused(
    ws: Workspace,
    dataset: str,
    frame: pl.DataFrame,
    batch_id: int,
    result: ValidationResult,
    source_sha: str,
    lineage: IngestLineage,
) -> IngestResult:
    report = result.report.to_dict()
    with ws.store.transaction() as session:
        batch = session.get_one(IngestBatch, batch_id)
        batch.status = "refused"
        batch.rows_quarantined = batch.rows_in
        batch.report = report
        record_audit(
            session,
            actor=ws.actor,
            action="dataset.refuse",
            target_type="ingest_batch",
            target=batch.uid,
            after={"dataset": dataset, "reasons": result.refusal_reasons},
        )
        rows_in, uid = batch.rows_in, batch.uid
    lineage.fail("batch refused: " + "; ".join(result.refusal_reasons), frame, result)
    return IngestResult(
        dataset=dataset,
        version=None,
        rows_in=rows_in,
        rows_versioned=0,
        rows_quarantined=rows_in,
        status="refused",
        batch=uid,
        source_sha256=source_sha,
        refusal_reasons=list(result.refusal_reasons),
        report=report,
    )


def _duplicate_of(
    ws: Workspace, dataset: str, sha256: str, rows: int, mode: str
) -> IngestResult | None:
    """An earlier accepted batch of the same bytes in the same mode, if there is one."""
    with ws.store.transaction() as session:
        found = session.execute(
            select(IngestBatch, DatasetVersion.version)
            .join(DatasetVersion, IngestBatch.version_id == DatasetVersion.id)
            .where(IngestBatch.source_sha256 == sha256, IngestBatch.status == "accepted")
            .where(IngestBatch.mode == mode)
            .join(Dataset, IngestBatch.dataset_id == Dataset.id)
            .where(Dataset.name == dataset)
        ).first()
    if found is None:
        return None
    batch, version = found
    return IngestResult(
        dataset=dataset,
        version=version,
        rows_in=rows,
        rows_versioned=0,
        rows_quarantined=0,
        status="duplicate",
        batch=batch.uid,
        source_sha256=sha256,
    )


def _latest_profile(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """The profile of the dataset's latest version: the reference for distribution checks."""
    with ws.store.transaction() as session:
        found = session.execute(
            select(DatasetVersion.profile)
            .join(Dataset, DatasetVersion.dataset_id == Dataset.id)
            .where(Dataset.name == dataset)
            .order_by(DatasetVersion.version.desc())
            .limit(1)
        ).scalar_one_or_none()
    return found


def _summarise(
    uri: str, parent_table: int | None, good: pl.DataFrame, mode: str
) -> tuple[pl.DataFrame, dict[str, Any], str]:
    """The new version's rows (parent rows, then this batch's), profile and content hash."""
    if mode == "overwrite" or parent_table is None:
        snapshot = good
    else:
        snapshot = pl.concat([read_table_version(uri, parent_table), good], how="diagonal_relaxed")
    return snapshot, profile_frame(snapshot), content_hash(snapshot)


def _schema_hash(frame: pl.DataFrame) -> str:
    return hashlib.sha256(json.dumps(schema_of(frame)).encode()).hexdigest()
