"""The prediction log keeps every record through a graceful shutdown."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from loopline.serving import PredictionLog, read_predictions


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


def test_stop_writes_every_record_even_mid_batch(tmp_path: Path) -> None:
    async def run() -> None:
        log = PredictionLog(tmp_path, flush_rows=1000, flush_seconds=30.0)
        log.start()
        await log.put([_record(i) for i in range(100)])
        await asyncio.sleep(0.05)  # the writer is now gathering a batch
        await log.stop()

    asyncio.run(run())
    frame = read_predictions(tmp_path, "u")
    assert sorted(frame["prediction_id"].to_list()) == sorted(f"p{i}" for i in range(100))
