"""Training measures single-row latency within a time budget, on at least a minimum of rows."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline.training import _evaluate


class _Model:
    """Stands in for a trained model: counts single-row calls, each taking ``seconds``."""

    task = "binary"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.single_calls = 0

    def inputs(self, rows: pd.DataFrame) -> pd.DataFrame:
        return rows

    def predict_proba(self, rows: pd.DataFrame) -> Any:
        if len(rows) == 1:
            self.single_calls += 1
            time.sleep(self.seconds)
        return np.zeros((len(rows), 2))


def _rows() -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(500)})


def test_a_fast_model_is_timed_on_200_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_evaluate, "_LATENCY_BUDGET_S", 60.0)
    model = _Model(0.0)
    measured = _evaluate.measure_latency(model, _rows())  # type: ignore[arg-type]
    assert model.single_calls == 200
    assert 0 <= measured["latency_p50_ms"] <= measured["latency_p99_ms"]
    assert measured["batch_rows_per_s"] > 0


def test_a_slow_model_stops_at_the_budget_but_not_before_the_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_evaluate, "_LATENCY_BUDGET_S", 0.0)
    model = _Model(0.002)
    measured = _evaluate.measure_latency(model, _rows())  # type: ignore[arg-type]
    assert model.single_calls == _evaluate._LATENCY_MIN_ROWS
    assert measured["latency_p50_ms"] >= 2.0  # each call slept 2 ms
