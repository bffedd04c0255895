"""Dataset records in the metadata store: get or create, versions, time travel."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.data._contract import Contract, contract_to_odcs
from loopline.errors import DatasetError
from loopline.store import Contract as ContractRecord
from loopline.store import Dataset, DatasetVersion, IngestBatch

if TYPE_CHECKING:  # the tables' readers are imported where rows are read: records need neither
    import polars as pl

__all__ = [
    "DatasetRef",
    "contract_record",
    "dataset_record",
    "get_version",
    "latest_version",
    "list_datasets",
    "list_versions",
    "load_version",
    "parse_ref",
    "quarantine_frame",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class DatasetRef:
    """A dataset name and an optional version, written ``name`` or ``name@3``."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str) -> DatasetRef:
    """Parse ``name`` or ``name@version``.

    Raises:
        DatasetError: The text is not of that form.
    """
    name, _, version = text.partition("@")
    if not _NAME.match(name) or (version and not version.isdigit()):
        raise DatasetError(
            f"{text!r} does not name a dataset version.",
            hint="Write NAME or NAME@VERSION, e.g. credit@3 (names: lower-case, digits, - and _).",
        )
    return DatasetRef(name, int(version) if version else None)


def dataset_record(session: Session, name: str, actor: str) -> Dataset:
    """The dataset called ``name``, created on first use."""
    if not _NAME.match(name):
        raise DatasetError(
            f"{name!r} is not a valid dataset name.",
            hint="Use lower-case letters, digits, - and _, starting with a letter.",
        )
    record = session.scalar(select(Dataset).where(Dataset.name == name))
    if record is None:
        record = Dataset(name=name, created_by=actor)
        session.add(record)
        session.flush()
    return record


def latest_version(session: Session, dataset_id: int) -> DatasetVersion | None:
    """The newest version of a dataset, if any."""
    return session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )


def contract_record(session: Session, contract: Contract) -> ContractRecord:
    """The stored copy of ``contract`` (stored once per distinct content)."""
    body = contract_to_odcs(contract)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    record = session.scalar(
        select(ContractRecord).where(
            ContractRecord.name == contract.name, ContractRecord.sha256 == digest
        )
    )
    if record is None:
        record = ContractRecord(
            name=contract.name, version=str(contract.version), sha256=digest, body=body
        )
        session.add(record)
        session.flush()
    return record


def _dataset(session: Session, name: str) -> Dataset:
    record = session.scalar(select(Dataset).where(Dataset.name == name))
    if record is None:
        known = ", ".join(session.scalars(select(Dataset.name).order_by(Dataset.name))) or "none"
        raise DatasetError(
            f"No dataset named {name!r}.",
            hint=f"Known datasets: {known}. Create one with `loopline ingest FILE --dataset NAME`.",
        )
    return record


def get_version(session: Session, ref: DatasetRef) -> DatasetVersion:
    """The version ``ref`` names (the latest when it names none).

    Raises:
        DatasetError: No such dataset or version.
    """
    record = _dataset(session, ref.name)
    if ref.version is None:
        version = latest_version(session, record.id)
    else:
        version = session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == record.id, DatasetVersion.version == ref.version
            )
        )
    if version is None:
        count = session.scalar(select(func.count()).where(DatasetVersion.dataset_id == record.id))
        raise DatasetError(
            f"Dataset {ref.name!r} has no version {ref.version or ''}".rstrip() + ".",
            hint=f"It has {count} version(s); list them with `loopline datasets show {ref.name}`.",
        )
    return version


def list_datasets(session: Session) -> list[dict[str, Any]]:
    """Every dataset with its latest version number, row count and time."""
    out = []
    for record in session.scalars(select(Dataset).order_by(Dataset.name)):
        latest = latest_version(session, record.id)
        out.append(
            {
                "dataset": record.name,
                "versions": latest.version if latest else 0,
                "rows": latest.row_count if latest else 0,
                "updated_at": latest.created_at if latest else record.created_at,
            }
        )
    return out


def list_versions(session: Session, name: str) -> Sequence[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    record = _dataset(session, name)
    return session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == record.id)
        .order_by(DatasetVersion.version)
    ).all()


def load_version(ws: Workspace, ref: DatasetRef | str) -> pl.DataFrame:
    """Exactly the rows of a dataset version, in ingest order (time travel)."""
    from loopline.data._tables import read_table_version, table_uri

    ref = parse_ref(ref) if isinstance(ref, str) else ref
    with ws.store.transaction() as session:
        version = get_version(session, ref)
        table_version = version.table_version
    return read_table_version(table_uri(ws.settings.data_uri, ref.name), table_version)


def quarantine_frame(ws: Workspace, name: str, *, batch: str | None = None) -> pl.DataFrame:
    """Quarantined rows of a dataset (optionally of one batch), with their failed checks."""
    import polars as pl

    from loopline.data._quarantine import read_quarantine
    from loopline.data._tables import table_uri

    with ws.store.transaction() as session:
        record = _dataset(session, name)
        query = select(IngestBatch.uid).where(
            IngestBatch.dataset_id == record.id,
            IngestBatch.status.in_(("accepted", "refused")),
        )
        if batch:
            query = query.where(IngestBatch.uid.startswith(batch))
        uids = list(session.scalars(query.order_by(IngestBatch.id)))
    if not uids:
        return pl.DataFrame()
    return read_quarantine(table_uri(ws.settings.data_uri, name, quarantine=True), uids)
