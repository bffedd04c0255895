"""The prediction log keeps every record through a graceful shutdown."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from loopline.serving import PredictionLog, read_predictions
from loopline.serving._log import LoggedRequest, json_texts


def _record(i: int) -> dict[str, object]:
    return {
        "prediction_id": f"p{i}",
        "request_id": f"r{i}",
        "use_case": "u",
        "model_version": "u@1",
        "arm": "champion",
        "unit_key": None,
        "decision": "auto",
        "reasons": [],
        "prediction": 1,
        "probability": 0.9,
        "confidence": 0.9,
        "latency_ms": 1.0,
        "shadow": False,
        "at": datetime.now(timezone.utc),
        "inputs": {"x": i},
    }


def _request(numbers: range) -> LoggedRequest:
    """One request's records, numbered as ``_record`` numbers them."""
    return LoggedRequest(
        request_id=f"r{numbers[0]}",
        use_case="u",
        model_version="u@1",
        arm="champion",
        unit_key=None,
        latency_ms=1.0,
        shadow=False,
        at=datetime.now(timezone.utc),
        prediction_ids=[f"p{i}" for i in numbers],
        decisions=["auto"] * len(numbers),
        reasons=[[] for _ in numbers],
        predictions=[1] * len(numbers),
        probabilities=[0.9] * len(numbers),
        confidences=[0.9] * len(numbers),
        inputs=json_texts([{"x": i} for i in numbers]),
    )


def test_stop_writes_every_record_even_mid_batch(tmp_path: Path) -> None:
    async def run() -> None:
        log = PredictionLog(tmp_path, flush_rows=1000, flush_seconds=30.0)
        log.start()
        await log.put(_request(range(100)))
        await asyncio.sleep(0.05)  # the writer is now gathering a batch
        await log.stop()

    asyncio.run(run())
    frame = read_predictions(tmp_path, "u")
    assert sorted(frame["prediction_id"].to_list()) == sorted(f"p{i}" for i in range(100))


def test_records_read_back_as_written(tmp_path: Path) -> None:
    from datetime import timedelta

    from loopline.serving._log import write_records

    start = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=timezone.utc)
    records = []
    for i in range(7):
        record = _record(i)
        record["at"] = start + timedelta(seconds=i // 3)  # requests share one time object
        record["reasons"] = [[], ["low_confidence"], ["rule:LIMIT_BAL > 5", "novelty"]][i % 3]
        record["inputs"] = {"x": i, "name": "Zoë", "missing": None}
        records.append(record)
    shared = records[0]["at"]
    records[1]["at"] = records[2]["at"] = shared
    write_records(tmp_path, LoggedRequest.from_rows(records))
    frame = read_predictions(tmp_path, "u").sort("prediction_id")
    assert frame["reasons"].to_list() == [r["reasons"] for r in records]
    assert frame["at"].to_list() == [r["at"] for r in records]
    assert frame["inputs"].to_list() == [
        f'{{"x":{i},"name":"Zoë","missing":null}}' for i in range(7)
    ]


def test_a_full_queue_makes_callers_wait_and_loses_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        log = PredictionLog(tmp_path, max_queue=30, flush_rows=10, flush_seconds=0.01)
        await log.put(_request(range(20)))
        await log.put(_request(range(20, 40)))  # over the bound only after this
        assert log.depth == 40
        third = asyncio.ensure_future(log.put(_request(range(40, 60))))
        await asyncio.sleep(0.05)
        assert not third.done()  # the queue is full and no writer runs: the caller waits
        log.start()
        await asyncio.wait_for(third, timeout=5)
        await log.stop()
        assert log.depth == 0
        assert log.written == 60

    asyncio.run(run())
    frame = read_predictions(tmp_path, "u")
    assert sorted(frame["prediction_id"].to_list()) == sorted(f"p{i}" for i in range(60))
