"""What a caller tells loopline about a job's datasets, for its OpenLineage events.

Small frozen records, turned into facets by :func:`loopline.lineage._openlineage.run_event`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

__all__ = ["Assertion", "ColumnMetrics", "DatasetRef", "ParentRun", "QualityMetrics"]


@dataclass(frozen=True)
class ColumnMetrics:
    """Profile of one column of a dataset, as measured over the rows evaluated.

    Every field is optional; values that are not finite (the mean of an empty column) are left
    out of the event.

    Attributes:
        null_count: Number of null values.
        distinct_count: Number of distinct values.
        sum: Sum of the values.
        count: Number of values.
        min: Smallest value.
        max: Largest value.
        quantiles: Value at each quantile, keyed by the quantile (``{"0.5": 41.0}``).
    """

    _: KW_ONLY
    null_count: int | None = None
    distinct_count: int | None = None
    sum: float | None = None
    count: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityMetrics:
    """Size and column profile of a dataset, as measured by a job.

    Attributes:
        row_count: Number of rows evaluated.
        bytes: Size in bytes.
        column_metrics: Profile per column name.
    """

    _: KW_ONLY
    row_count: int | None = None
    bytes: int | None = None
    column_metrics: Mapping[str, ColumnMetrics] = field(default_factory=dict)


@dataclass(frozen=True)
class Assertion:
    """The result of one data-quality check, such as a contract rule.

    Attributes:
        assertion: Kind of check, e.g. ``not_null``, ``unique``, ``range``.
        success: Whether the data passed it.
        column: The column checked; ``None`` for a check of the whole dataset.
        severity: The configured severity, e.g. ``error`` or ``warn``.
        name: A name identifying the check.
        description: What the check verifies, for people.
        expected: The expected value or threshold, as text.
        actual: The value observed, as text.
    """

    assertion: str
    success: bool
    column: str | None = None
    _: KW_ONLY
    severity: str | None = None
    name: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True)
class DatasetRef:
    """A dataset a job read or wrote, with what is known about it.

    Attributes:
        namespace: Where the dataset lives, e.g. ``file:///srv/project/.loopline/datasets``.
        name: Its unique name within the namespace, e.g. ``credit/applications``.
        schema_fields: Its columns as ``(name, type)`` pairs, in order.
        quality: Its size and column profile. On an input this becomes the
            ``dataQualityMetrics`` facet; on an output, the ``outputStatistics`` facet, which
            has no room for column profiles.
        assertions: Results of the checks run on it; only inputs can carry them.
        version: The dataset version the job read or wrote.
        facets: Further dataset facets by name, each already carrying ``_producer`` and
            ``_schemaURL``.
    """

    namespace: str
    name: str
    _: KW_ONLY
    schema_fields: Sequence[tuple[str, str]] | None = None
    quality: QualityMetrics | None = None
    assertions: Sequence[Assertion] | None = None
    version: str | None = None
    facets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ParentRun:
    """The run that started this one (a pipeline run that launched an ingest).

    Attributes:
        run_id: The parent run's id.
        job_namespace: The parent job's namespace.
        job_name: The parent job's name.
    """

    run_id: uuid.UUID | str
    job_namespace: str
    job_name: str
