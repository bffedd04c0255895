"""OpenLineage events for one ingest: START, then COMPLETE or FAIL, under one run id.

The validated batch is the job's input (with ``schema``, ``dataQualityMetrics`` and
``dataQualityAssertions`` facets); the dataset's Delta table is its output. Delivery failures are
logged by the transport and never break the ingest.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from loopline.data._read import SourceFile
from loopline.data._validation import ValidationResult
from loopline.lineage._openlineage import new_run_id, run_event
from loopline.lineage._openlineage_models import (
    Assertion,
    ColumnMetrics,
    DatasetRef,
    QualityMetrics,
)
from loopline.lineage._openlineage_transports import emit, transport_from_settings
from loopline.settings import Settings

__all__ = ["IngestLineage"]


def _namespace(uri: str) -> str:
    return uri if "://" in uri else f"file://{uri}"


class IngestLineage:
    """Emits the events of one ingest run."""

    def __init__(
        self, settings: Settings, *, dataset: str, batch_uid: str, source: SourceFile | None
    ) -> None:
        self.settings = settings
        self.dataset = dataset
        self.batch_uid = batch_uid
        self.source = source
        self.run_id = new_run_id()
        self.transport = transport_from_settings(settings)
        self._schema: list[tuple[str, str]] = []

    def _job(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job_namespace": f"loopline://{self.settings.project_dir.name}",
            "job_name": f"ingest.{self.dataset}",
            "job_type": "INGEST",
        }

    def _input(self, quality: QualityMetrics | None = None, assertions: Any = None) -> DatasetRef:
        if self.source is not None:
            namespace, name = "file", str(self.source.path)
        else:
            namespace, name = "loopline://frames", f"{self.dataset}/batch-{self.batch_uid}"
        return DatasetRef(
            namespace,
            name,
            schema_fields=self._schema or None,
            quality=quality,
            assertions=assertions,
        )

    def _output(self, version: int | None = None, rows: int | None = None) -> DatasetRef:
        return DatasetRef(
            _namespace(self.settings.data_uri),
            self.dataset,
            schema_fields=self._schema or None,
            quality=QualityMetrics(row_count=rows) if rows is not None else None,
            version=str(version) if version is not None else None,
        )

    def start(self, frame: pl.DataFrame) -> None:
        """The run started on ``frame``."""
        self._schema = [(name, str(dtype)) for name, dtype in frame.schema.items()]
        emit(
            run_event("START", inputs=[self._input()], outputs=[self._output()], **self._job()),
            self.transport,
        )

    def complete(
        self, frame: pl.DataFrame, result: ValidationResult, snapshot: pl.DataFrame, version: int
    ) -> None:
        """The run validated ``frame`` and made a version of ``snapshot.height`` rows."""
        event = run_event(
            "COMPLETE",
            inputs=[self._input(_quality(frame), _assertions(result))],
            outputs=[self._output(version, snapshot.height)],
            **self._job(),
        )
        emit(event, self.transport)

    def fail(
        self,
        message: str,
        frame: pl.DataFrame | None = None,
        result: ValidationResult | None = None,
    ) -> None:
        """The run failed (or its batch was refused after validating ``frame``)."""
        if result is not None and frame is not None:
            inputs = [self._input(_quality(frame), _assertions(result))]
        else:
            inputs = [self._input()]
        event = run_event(
            "FAIL", inputs=inputs, outputs=[self._output()], error_message=message, **self._job()
        )
        emit(event, self.transport)


def _quality(frame: pl.DataFrame) -> QualityMetrics:
    numeric = [name for name, dtype in frame.schema.items() if dtype.is_numeric()]
    exprs: list[pl.Expr] = [pl.col(c).null_count().alias(f"{c}\x00nulls") for c in frame.columns]
    for name in numeric:
        column = pl.col(name).cast(pl.Float64)
        exprs += [
            column.sum().alias(f"{name}\x00sum"),
            column.min().alias(f"{name}\x00min"),
            column.max().alias(f"{name}\x00max"),
        ]
    stats = frame.select(exprs).row(0, named=True) if frame.height else {}
    metrics = {}
    for name in frame.columns:
        nulls = int(stats.get(f"{name}\x00nulls") or 0)
        metrics[name] = ColumnMetrics(
            null_count=nulls,
            count=float(frame.height - nulls),
            sum=_float(stats.get(f"{name}\x00sum")),
            min=_float(stats.get(f"{name}\x00min")),
            max=_float(stats.get(f"{name}\x00max")),
        )
    return QualityMetrics(row_count=frame.height, column_metrics=metrics)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _assertions(result: ValidationResult | None) -> list[Assertion] | None:
    if result is None:
        return None
    out = []
    for check in result.report.checks:
        if check.status == "skipped":
            continue
        out.append(
            Assertion(
                check.kind,
                check.status == "passed",
                check.columns[0] if len(check.columns) == 1 else None,
                severity=check.severity,
                name=check.name,
                expected=None if check.bound is None else str(check.bound),
                actual=None if check.observed is None else str(check.observed),
            )
        )
    return out
