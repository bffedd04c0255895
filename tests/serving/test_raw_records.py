"""A native request's records cross the server as the JSON text the client sent.

``native_payload`` against a full ``orjson`` parse of the same bodies (the reference: what the
server did before), the model stage's parse of that text (one request whose text orjson refuses
fails alone in its batch), and the HTTP answers for such bodies.
"""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest

from loopline.errors import ServingError
from loopline.review import EscalationPolicy
from loopline.serving._answers import _Request, _score_batch
from loopline.serving._batcher import BatchJob
from loopline.serving._raw_records import RawRecords, native_payload, parse_body
from loopline.serving._scoring import Scorer
from loopline.spec import EscalationSpec
from loopline.training import TrainedModel
from tests.serving.conftest import Server
from tests.serving.test_batch_scoring import COSTS
from tests.serving.test_model_process import _jobs

BODIES = [
    b'{"records": [{"a": 1, "b": "x"}, {"a": 2.5, "b": null}], "unit_key": "customer-7"}',
    b'{"unit_key": 42, "records": [[1, 2], 3, "four", {"n": {"nested": [true]}}]}',
    b'  {"records" : [ ] }  ',
    b'{"records": [{"s": "caf\\u00e9 \\ud83d\\ude00", "big": 18446744073709551616}]}',
    b'{"records": [{"a": 1}], "records": [{"a": 2}, {"a": 3}]}',  # duplicate key: the last wins
]


@pytest.mark.parametrize("body", BODIES)
def test_a_native_body_reads_as_the_whole_parse(body: bytes) -> None:
    expected = orjson.loads(body)
    payload = native_payload(body)
    raw = payload["records"]
    assert isinstance(raw, RawRecords)
    assert len(raw) == len(expected["records"])
    assert raw.parse() == expected["records"]
    assert {k: v for k, v in payload.items() if k != "records"} == {
        k: v for k, v in expected.items() if k != "records"
    }
    assert pickle.loads(pickle.dumps(raw)) == raw  # it crosses the pipe to the model process


@pytest.mark.parametrize(
    "body", [b'{"rows": [1]}', b'{"records": {"a": 1}}', b'{"records": "x"}', b"[1, 2]", b"3"]
)
def test_records_that_are_not_an_array_are_parsed_as_they_are(body: bytes) -> None:
    assert native_payload(body) == orjson.loads(body)


@pytest.mark.parametrize("body", [b"{not json", b'{"records": [1, 2', b"", b'{"a": 1} x'])
def test_broken_json_gets_the_error_of_the_whole_parse(body: bytes) -> None:
    with pytest.raises(ServingError) as expected:
        parse_body(body)
    with pytest.raises(ServingError) as got:
        native_payload(body)
    assert got.value.status == expected.value.status == 400
    assert str(got.value) == str(expected.value)


def test_text_the_scan_accepts_and_orjson_refuses_fails_where_it_is_parsed() -> None:
    payload = native_payload(b'{"records": [{"a": 1e400}]}')  # valid syntax, not a double
    with pytest.raises(ServingError) as caught:
        payload["records"].parse()
    assert caught.value.status == 400
    assert "infinity" in str(caught.value)


def test_one_unparsable_request_in_a_batch_fails_alone(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    model, frame = trained
    records = frame.head(3).to_dict("records")
    good = RawRecords(orjson.dumps(records[:2]), 2)
    bad = RawRecords(b'[{"LIMIT_BAL": 1e400}]', 1)
    parts: list[Any] = [good, bad, records[2:3]]
    policy = EscalationPolicy(EscalationSpec(confidence_below=0.8), COSTS, seed=2)
    jobs = _jobs(parts, _Request(model.signature, policy))
    results = _score_batch(Scorer(model), parts, jobs)
    assert isinstance(results[1], ServingError)
    assert results[1].status == 400
    reference = _score_batch(
        Scorer(model), [records[:2], records[2:3]], [jobs[0], BatchJob(2, 3, jobs[2].context)]
    )
    assert results[0][0] == reference[0][0]
    assert results[2][0] == reference[1][0]
    assert results[0][3] == reference[0][3]  # the inputs' JSON text, for the log and the cases


def test_over_http_such_a_request_gets_400_in_the_native_shape(
    served: Server, rows: list[dict[str, Any]]
) -> None:
    url = f"{served.url}/api/v1/predict/credit-default"
    body = orjson.dumps({"records": rows[:2]}).replace(b'"AGE":', b'"AGE":1e400,"x":', 1)
    response = httpx.post(url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    fine = httpx.post(url, json={"records": rows[:2], "unit_key": "u-1"})
    assert fine.status_code == 200
    assert len(fine.json()["predictions"]) == 2
