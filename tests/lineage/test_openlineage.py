"""OpenLineage events: valid against the official schemas, and delivered without breaking runs."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from loopline.errors import LineageError, SettingsError
from loopline.lineage._openlineage import new_run_id, run_event
from loopline.lineage._openlineage_models import (
    Assertion,
    ColumnMetrics,
    DatasetRef,
    ParentRun,
    QualityMetrics,
)
from loopline.lineage._openlineage_transports import (
    FileTransport,
    HttpTransport,
    emit,
    transport_from_settings,
)
from loopline.settings import load_settings

Validate = Callable[[dict[str, Any]], list[str]]
RUN_ID = new_run_id()
NAMESPACE = "file:///srv/credit/.loopline/datasets"
COLUMNS = [("applicant_id", "string"), ("income", "double")]


def ingest_event(event_type: Any, **overrides: Any) -> dict[str, Any]:
    """An event of an ingest that validated a batch and wrote a dataset version."""
    batch = DatasetRef(
        "file:///srv/credit/incoming",
        "applications-2024-06.csv",
        schema_fields=COLUMNS,
        quality=QualityMetrics(
            row_count=1200,
            bytes=80_000,
            column_metrics={
                "income": ColumnMetrics(
                    null_count=3,
                    distinct_count=900,
                    sum=5.4e7,
                    count=1197,
                    min=0.0,
                    max=float("nan"),
                    quantiles={"0.5": 41_000.0},
                )
            },
        ),
        assertions=[
            Assertion("not_null", True, "applicant_id", severity="error"),
            Assertion("range", False, "income", expected=">= 0", actual="-5"),
        ],
    )
    version = DatasetRef(
        NAMESPACE,
        "credit/applications",
        schema_fields=COLUMNS,
        quality=QualityMetrics(row_count=1197),
        version="7",
    )
    arguments: dict[str, Any] = {
        "run_id": RUN_ID,
        "job_namespace": "credit",
        "job_name": "ingest.applications",
        "job_type": "INGEST",
        "inputs": [batch],
        "outputs": [version],
    }
    return run_event(event_type, **(arguments | overrides))


@pytest.mark.parametrize("event_type", ["START", "COMPLETE", "FAIL"])
def test_ingest_events_are_valid_openlineage(
    event_type: str, validate_openlineage: Validate
) -> None:
    error = "3 rows broke the contract" if event_type == "FAIL" else None
    event = ingest_event(event_type, error_message=error)

    assert validate_openlineage(event) == []
    assert event["run"]["runId"] == str(RUN_ID)
    assert event["eventType"] == event_type


def test_a_run_with_a_parent_and_a_stack_trace_is_valid(validate_openlineage: Validate) -> None:
    parent = ParentRun(new_run_id(), "credit", "pipeline.nightly")
    event = ingest_event("FAIL", error_message="boom", stack_trace="Traceback...", parent=parent)

    assert validate_openlineage(event) == []
    assert event["run"]["facets"]["parent"]["run"]["runId"] == str(parent.run_id)


def test_fail_event_carries_the_error_message() -> None:
    facets = ingest_event("FAIL", error_message="3 rows broke the contract")["run"]["facets"]

    assert facets["errorMessage"]["message"] == "3 rows broke the contract"
    assert facets["errorMessage"]["programmingLanguage"] == "PYTHON"
    assert "facets" not in ingest_event("COMPLETE")["run"]


def test_quality_facets_are_input_facets_of_the_validated_batch() -> None:
    batch = ingest_event("COMPLETE")["inputs"][0]
    metrics = batch["inputFacets"]["dataQualityMetrics"]
    assertions = batch["inputFacets"]["dataQualityAssertions"]["assertions"]

    assert metrics["rowCount"] == 1200
    assert metrics["columnMetrics"]["income"]["nullCount"] == 3
    assert "max" not in metrics["columnMetrics"]["income"]  # NaN is no JSON number
    assert assertions[1] == {
        "assertion": "range",
        "success": False,
        "column": "income",
        "expected": ">= 0",
        "actual": "-5",
    }


def test_inputs_and_outputs_carry_their_schema_and_the_output_its_statistics() -> None:
    event = ingest_event("COMPLETE")
    output = event["outputs"][0]

    for dataset in (event["inputs"][0], output):
        fields = dataset["facets"]["schema"]["fields"]
        assert [(field["name"], field["type"]) for field in fields] == COLUMNS
    assert output["facets"]["version"]["datasetVersion"] == "7"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 1197
    assert event["job"]["facets"]["jobType"]["jobType"] == "INGEST"


def test_validation_catches_a_row_count_given_as_text(validate_openlineage: Validate) -> None:
    event = ingest_event("COMPLETE")
    event["inputs"][0]["inputFacets"]["dataQualityMetrics"]["rowCount"] = "1200"

    problems = validate_openlineage(event)

    assert len(problems) == 1
    assert "dataQualityMetrics['rowCount']: '1200' is not of type 'integer'" in problems[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.update(eventTime="yesterday"), "is not a 'date-time'"),
        (lambda e: e["run"].update(runId="run-1"), "is not a 'uuid'"),
        (lambda e: e["job"]["facets"]["jobType"].pop("_producer"), "'_producer' is a required"),
        (lambda e: e["job"]["facets"]["jobType"].update(_schemaURL="https://x.io/a"), "expected"),
        (
            lambda e: e["outputs"][0]["outputFacets"].update(
                dataQualityMetrics=e["inputs"][0]["inputFacets"]["dataQualityMetrics"]
            ),
            "no vendored schema for a OutputDatasetFacet named 'dataQualityMetrics'",
        ),
    ],
    ids=["time", "run-id", "producer", "schema-url", "facet-in-wrong-place"],
)
def test_validation_catches_broken_events(
    change: Callable[[dict[str, Any]], object], expected: str, validate_openlineage: Validate
) -> None:
    event = ingest_event("COMPLETE")
    change(event)

    assert any(expected in problem for problem in validate_openlineage(event))


def test_run_ids_are_time_ordered_uuid7() -> None:
    ids = [new_run_id() for _ in range(5000)]

    assert all(run_id.version == 7 and run_id.variant == uuid.RFC_4122 for run_id in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_event_time_is_written_in_utc() -> None:
    moment = datetime(2024, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))

    assert ingest_event("START", event_time=moment)["eventTime"] == "2024-06-01T12:30:00.000Z"


@pytest.mark.parametrize(
    "overrides",
    [
        {"event_time": datetime(2024, 6, 1)},  # naive: no timezone
        {"run_id": "run-1"},
        {"outputs": [DatasetRef("ns", "out", assertions=[Assertion("unique", True)])]},
        {"inputs": [DatasetRef("ns", "in", facets={"owner": {"name": "x"}})]},
        {"inputs": [DatasetRef("ns", "in", version="1", facets={"version": {}})]},
    ],
    ids=["naive-time", "bad-run-id", "assertions-on-output", "facet-sans-schema", "clash"],
)
def test_what_openlineage_cannot_express_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(LineageError):
        ingest_event("START", **overrides)


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(LineageError, match="Use one of: START"):
        ingest_event("DONE")


def test_file_transport_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "lineage" / "events.jsonl"
    transport = FileTransport(path)
    events = [ingest_event("START"), ingest_event("COMPLETE")]

    assert all(emit(event, transport) for event in events)
    assert [json.loads(line) for line in path.read_text().splitlines()] == events


WRITER = """
import sys
from loopline.lineage._openlineage_transports import FileTransport

transport, tag = FileTransport(sys.argv[1]), sys.argv[2]
for index in range(150):
    assert transport.send({"writer": tag, "index": index, "pad": tag * 50_000})
"""


def test_concurrent_writers_do_not_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag], env=env) for tag in "ab"
    ]

    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for tag in "ab":
        mine = [line for line in lines if line["writer"] == tag]
        assert [line["index"] for line in mine] == list(range(150))
        assert all(line["pad"] == tag * 50_000 for line in mine)


def test_file_transport_failure_warns_and_returns_false(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    transport = FileTransport(tmp_path / "blocker" / "events.jsonl")

    with caplog.at_level(logging.WARNING, logger="loopline.lineage"):
        assert emit(ingest_event("START"), transport) is False
    assert "not written" in caplog.text


class _Endpoint(HTTPServer):
    status = 201
    received: list[tuple[str, str, Any]]


class _Recorder(BaseHTTPRequestHandler):
    server: _Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def endpoint() -> Iterator[_Endpoint]:
    server = _Endpoint(("127.0.0.1", 0), _Recorder)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_transport_posts_the_event_as_json(endpoint: _Endpoint) -> None:
    url = f"http://127.0.0.1:{endpoint.server_port}/api/v1/lineage"
    event = ingest_event("START")

    assert emit(event, HttpTransport(url)) is True
    assert endpoint.received == [("/api/v1/lineage", "application/json", event)]


def test_http_transport_reports_a_server_error_as_false(
    endpoint: _Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.status = 500
    transport = HttpTransport(f"http://127.0.0.1:{endpoint.server_port}/")

    with caplog.at_level(logging.WARNING, logger="loopline.lineage"):
        assert emit(ingest_event("START"), transport) is False
    assert "answered 500" in caplog.text


def test_http_transport_to_a_closed_port_returns_false() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends

    assert emit(ingest_event("START"), HttpTransport(f"http://127.0.0.1:{port}/")) is False


def test_http_transport_gives_up_on_a_silent_endpoint() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections in the kernel, never answers
        transport = HttpTransport(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.2)

        assert emit(ingest_event("START"), transport) is False


def test_emit_survives_a_transport_that_raises() -> None:
    class Broken:
        def send(self, event: Any) -> bool:
            raise RuntimeError("disk on fire")

    assert emit(ingest_event("START"), Broken()) is False


def test_settings_choose_http_when_an_endpoint_is_set(tmp_path: Path) -> None:
    url = "http://lineage.internal:5000/api/v1/lineage"
    with_url = load_settings({"LOOPLINE_OPENLINEAGE_URL": url}, project_dir=tmp_path)
    without = load_settings({}, project_dir=tmp_path)

    assert isinstance(transport_from_settings(with_url), HttpTransport)
    transport = transport_from_settings(without)
    assert isinstance(transport, FileTransport)
    assert transport.path == tmp_path.resolve() / ".loopline" / "openlineage.jsonl"


def test_settings_with_a_non_http_endpoint_are_refused(tmp_path: Path) -> None:
    settings = load_settings({"LOOPLINE_OPENLINEAGE_URL": "ftp://x/y"}, project_dir=tmp_path)

    with pytest.raises(SettingsError, match="LOOPLINE_OPENLINEAGE_URL"):
        transport_from_settings(settings)
