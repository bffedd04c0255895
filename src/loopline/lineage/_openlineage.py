"""OpenLineage run events: what loopline tells lineage tools about its jobs.

A job (an ingest, a training run) reports a ``START`` event, then one of ``COMPLETE``, ``FAIL``
or ``ABORT``, all with the same run id. Each event names the job, the datasets it read (inputs)
and wrote (outputs), and carries *facets*: small documents, each with its own published schema,
for the dataset's columns, its data-quality metrics and assertions, the job's type and the
run's error.

The events follow the OpenLineage 2-0-2 ``RunEvent`` schema. Data-quality facets are *input*
facets in the specification, so a job that validates a batch describes that batch as an input,
carrying the metrics and the results of the contract checks.

Sending events is the business of :mod:`loopline.lineage._openlineage_transports`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from loopline._ids import uuid7_increasing
from loopline._version import __version__
from loopline.errors import LineageError
from loopline.lineage._openlineage_models import (
    Assertion,
    DatasetRef,
    ParentRun,
    QualityMetrics,
)

__all__ = [
    "PRODUCER",
    "RUN_EVENT_SCHEMA_URL",
    "EventType",
    "new_run_id",
    "run_event",
]

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]

#: The URI naming loopline as the producer of events and facets.
PRODUCER = f"https://github.com/loopline/loopline/tree/{__version__}"
#: The schema every event declares it follows.
RUN_EVENT_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

_FACETS = "https://openlineage.io/spec/facets"
#: The facet schema version loopline writes, per facet definition name.
_FACET_SCHEMAS = {
    "DataQualityAssertionsDatasetFacet": f"{_FACETS}/1-1-0/DataQualityAssertionsDatasetFacet.json",
    "DataQualityMetricsInputDatasetFacet": f"{_FACETS}/1-0-3/"
    "DataQualityMetricsInputDatasetFacet.json",
    "DatasetVersionDatasetFacet": f"{_FACETS}/1-0-1/DatasetVersionDatasetFacet.json",
    "ErrorMessageRunFacet": f"{_FACETS}/1-0-1/ErrorMessageRunFacet.json",
    "JobTypeJobFacet": f"{_FACETS}/2-0-4/JobTypeJobFacet.json",
    "OutputStatisticsOutputDatasetFacet": f"{_FACETS}/1-0-2/"
    "OutputStatisticsOutputDatasetFacet.json",
    "ParentRunFacet": f"{_FACETS}/1-2-0/ParentRunFacet.json",
    "SchemaDatasetFacet": f"{_FACETS}/1-2-0/SchemaDatasetFacet.json",
}


def run_event(
    event_type: EventType,
    *,
    run_id: uuid.UUID | str,
    job_namespace: str,
    job_name: str,
    job_type: str = "JOB",
    inputs: Sequence[DatasetRef] = (),
    outputs: Sequence[DatasetRef] = (),
    event_time: datetime | None = None,
    error_message: str | None = None,
    stack_trace: str | None = None,
    parent: ParentRun | None = None,
) -> dict[str, Any]:
    """Build an OpenLineage ``RunEvent`` as a JSON-ready dict.

    Args:
        event_type: The run's transition: ``START`` first, then ``COMPLETE``, ``FAIL`` or
            ``ABORT``; ``RUNNING`` and ``OTHER`` add information in between or after.
        run_id: The run's id, the same in every event of the run (see :func:`new_run_id`).
        job_namespace: The namespace of the job, e.g. the project name.
        job_name: The job's name within its namespace, e.g. ``ingest.applications``.
        job_type: What kind of job this is, e.g. ``INGEST`` or ``TRAIN``.
        inputs: The datasets the job read, including a batch it validated.
        outputs: The datasets the job wrote.
        event_time: When the transition happened, timezone-aware; now when not given.
        error_message: Why the run failed; becomes the ``errorMessage`` run facet.
        stack_trace: The traceback of that failure, if it helps.
        parent: The run that started this one.

    Returns:
        The event, ready for :func:`json.dumps`.

    Raises:
        LineageError: An argument cannot be expressed in OpenLineage: an unknown event type,
            a naive ``event_time``, a malformed run id, quality data that the specification
            has no place for, or an extra facet without ``_producer``/``_schemaURL``.
    """
    if event_type not in get_args(EventType):
        raise LineageError(
            f"Unknown OpenLineage event type {event_type!r}.",
            hint=f"Use one of: {', '.join(get_args(EventType))}.",
        )
    run_facets: dict[str, Any] = {}
    if error_message is not None:
        error = {"message": error_message, "programmingLanguage": "PYTHON"}
        if stack_trace is not None:
            error["stackTrace"] = stack_trace
        run_facets["errorMessage"] = _facet("ErrorMessageRunFacet", error)
    if parent is not None:
        run_facets["parent"] = _facet(
            "ParentRunFacet",
            {
                "run": {"runId": _run_id_text(parent.run_id)},
                "job": {"namespace": parent.job_namespace, "name": parent.job_name},
            },
        )
    run: dict[str, Any] = {"runId": _run_id_text(run_id)}
    if run_facets:
        run["facets"] = run_facets
    job_facet = {"processingType": "BATCH", "integration": "LOOPLINE", "jobType": job_type}
    return {
        "eventType": event_type,
        "eventTime": _timestamp(event_time),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": run,
        "job": {
            "namespace": job_namespace,
            "name": job_name,
            "facets": {"jobType": _facet("JobTypeJobFacet", job_facet)},
        },
        "inputs": [_input_dataset(dataset) for dataset in inputs],
        "outputs": [_output_dataset(dataset) for dataset in outputs],
    }


def new_run_id() -> uuid.UUID:
    """A new, time-ordered run id (a UUID version 7, RFC 9562).

    Ids sort by creation time, to the millisecond, and strictly increase within a process.
    """
    return uuid7_increasing()


def _facet(definition: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"{_FACET_SCHEMAS[definition]}#/$defs/{definition}",
        **fields,
    }


def _dataset_facets(dataset: DatasetRef) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if dataset.schema_fields is not None:
        fields = [
            {"name": name, "type": kind, "ordinal_position": position}
            for position, (name, kind) in enumerate(dataset.schema_fields, start=1)
        ]
        facets["schema"] = _facet("SchemaDatasetFacet", {"fields": fields})
    if dataset.version is not None:
        facets["version"] = _facet(
            "DatasetVersionDatasetFacet", {"datasetVersion": dataset.version}
        )
    for key, facet in dataset.facets.items():
        if key in facets:
            raise LineageError(
                f"Extra facet {key!r} of dataset {dataset.name!r} would replace the one "
                "loopline builds from its other fields.",
                hint=f"Drop {key!r} from facets, or the field it is built from.",
            )
        missing = [name for name in ("_producer", "_schemaURL") if name not in facet]
        if missing:
            raise LineageError(
                f"Extra facet {key!r} of dataset {dataset.name!r} lacks {' and '.join(missing)}.",
                hint="Every OpenLineage facet names its producer and the URL of its schema.",
            )
        facets[key] = dict(facet)
    return facets


def _input_dataset(dataset: DatasetRef) -> dict[str, Any]:
    node: dict[str, Any] = {"namespace": dataset.namespace, "name": dataset.name}
    facets = _dataset_facets(dataset)
    if facets:
        node["facets"] = facets
    input_facets: dict[str, Any] = {}
    if dataset.quality is not None:
        input_facets["dataQualityMetrics"] = _facet(
            "DataQualityMetricsInputDatasetFacet", _quality_fields(dataset.quality)
        )
    if dataset.assertions is not None:
        input_facets["dataQualityAssertions"] = _facet(
            "DataQualityAssertionsDatasetFacet",
            {"assertions": [_assertion_fields(item) for item in dataset.assertions]},
        )
    if input_facets:
        node["inputFacets"] = input_facets
    return node


def _output_dataset(dataset: DatasetRef) -> dict[str, Any]:
    if dataset.assertions is not None or (dataset.quality and dataset.quality.column_metrics):
        raise LineageError(
            f"Output dataset {dataset.name!r} carries assertions or column metrics, which "
            "OpenLineage records only on inputs.",
            hint="Describe the validated batch as an input dataset carrying them, and give "
            "the output only row_count and bytes.",
        )
    node: dict[str, Any] = {"namespace": dataset.namespace, "name": dataset.name}
    facets = _dataset_facets(dataset)
    if facets:
        node["facets"] = facets
    if dataset.quality is not None:
        statistics = _drop_none(
            {"rowCount": _int(dataset.quality.row_count), "size": _int(dataset.quality.bytes)}
        )
        node["outputFacets"] = {
            "outputStatistics": _facet("OutputStatisticsOutputDatasetFacet", statistics)
        }
    return node


def _quality_fields(quality: QualityMetrics) -> dict[str, Any]:
    columns = {
        str(name): _drop_none(
            {
                "nullCount": _int(metrics.null_count),
                "distinctCount": _int(metrics.distinct_count),
                "sum": _number(metrics.sum),
                "count": _number(metrics.count),
                "min": _number(metrics.min),
                "max": _number(metrics.max),
                "quantiles": _drop_none(
                    {str(q): _number(value) for q, value in metrics.quantiles.items()}
                )
                or None,
            }
        )
        for name, metrics in quality.column_metrics.items()
    }
    return _drop_none(
        {
            "rowCount": _int(quality.row_count),
            "bytes": _int(quality.bytes),
            "columnMetrics": columns,
        }
    )


def _assertion_fields(item: Assertion) -> dict[str, Any]:
    return _drop_none(
        {
            "assertion": item.assertion,
            "success": bool(item.success),
            "column": item.column,
            "severity": item.severity,
            "name": item.name,
            "description": item.description,
            "expected": item.expected,
            "actual": item.actual,
        }
    )


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _int(value: int | None) -> int | None:
    # int() also turns numpy integers into plain ones that json can write
    return None if value is None else int(value)


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _run_id_text(run_id: uuid.UUID | str) -> str:
    if isinstance(run_id, uuid.UUID):
        return str(run_id)
    try:
        return str(uuid.UUID(run_id))
    except (ValueError, TypeError, AttributeError) as exc:
        raise LineageError(
            f"Run id {run_id!r} is not a UUID.",
            hint="Create run ids with loopline.lineage.new_run_id().",
        ) from exc


def _timestamp(moment: datetime | None) -> str:
    if moment is None:
        moment = datetime.now(timezone.utc)
    elif moment.tzinfo is None or moment.utcoffset() is None:
        raise LineageError(
            f"Event time {moment.isoformat()} has no timezone.",
            hint="Pass a timezone-aware datetime, e.g. datetime.now(timezone.utc).",
        )
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
