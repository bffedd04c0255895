"""The model stage in a process of its own answers exactly as the model thread does.

Results against ``_score_batch`` in this process (answers, escalations with their audit draws,
out-of-range fields, inputs as JSON, an invalid request's error), with two batches in flight;
the audit sampler's stream continuing across batches; a child that dies failing only its
batch; ``close`` stopping it; a model a reload replaced stopping its process.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loopline import _api, _api_models, _api_serving
from loopline.errors import ServingError
from loopline.review import Escalation, EscalationPolicy
from loopline.serving._answers import _Request, _score_batch
from loopline.serving._batcher import BatchJob, MicroBatcher
from loopline.serving._model_process import ModelProcess, ModelProcessError
from loopline.serving._runtime import Runtime
from loopline.serving._scoring import Scorer
from loopline.spec import Costs, EscalationSpec
from loopline.training import TrainedModel
from tests.serving.conftest import deployed_project

COSTS = Costs(false_positive=50, false_negative=500, review=8)
# half the automatic answers are audit-sampled: every batch draws from the sampler
SPEC = EscalationSpec(confidence_below=0.7, audit_sample_rate=0.5)


def _jobs(parts: list[Any], request: _Request) -> list[BatchJob]:
    jobs, start = [], 0
    for part in parts:
        jobs.append(BatchJob(start, start + len(part), request))
        start += len(part)
    return jobs


@pytest.fixture(scope="module")
def process(trained: tuple[TrainedModel, pd.DataFrame]) -> Any:
    child = ModelProcess(trained[0], "credit-default@1")
    yield child
    child.close()


def test_the_child_answers_as_the_model_thread_does(
    trained: tuple[TrainedModel, pd.DataFrame], process: ModelProcess
) -> None:
    model, frame = trained
    records = frame.head(300).to_dict("records")
    bad = [dict(row) for row in records[100:103]]
    bad[2]["AGE"] = "old"
    parts = [records[:100], bad, records[103:300]]
    here = _Request(model.signature, EscalationPolicy(SPEC, COSTS, seed=7))
    there = _Request(model.signature, EscalationPolicy(SPEC, COSTS, seed=7))
    # two batches in flight at once: the child scores them in the order they were sent, and
    # the second continues the audit sampler's stream, as the model thread's does
    pending = [process.submit(parts, _jobs(parts, there)) for _ in range(2)]
    for future in pending:
        expected = _score_batch(Scorer(model), parts, _jobs(parts, here))
        got = future.result(timeout=60)
        assert isinstance(got[1], ServingError)
        assert got[1].status == 422
        assert [p.loc for p in got[1].problems] == [("records", 2, "AGE")]
        for k in (0, 2):
            assert got[k] == expected[k]
            assert all(type(e) is Escalation for e in got[k][1])
        audited = [e.audit_sample for e in got[0][1] + got[2][1]]
        assert 0 < sum(audited) < len(audited)  # the draws were made, and compared
    shadow = process([records[:5]], _jobs([records[:5]], _Request(model.signature, None)))
    assert shadow[0][1] is None  # a shadow's copy is not decided
    assert shadow[0][0] == expected[0][0][:5]


def test_unseeded_policies_draw_their_own_stream_in_each_child(
    trained: tuple[TrainedModel, pd.DataFrame], process: ModelProcess
) -> None:
    model, frame = trained
    records = frame.to_dict("records")
    policy = EscalationPolicy(SPEC, COSTS)  # unpredictable, as a production server's
    other = ModelProcess(model, "credit-default@1")
    try:
        draws = [
            [
                e.audit_sample
                for e in child([records], _jobs([records], _Request(model.signature, policy)))[0][1]
            ]
            for child in (process, other)
        ]
    finally:
        other.close()
    assert draws[0] != draws[1]  # 600 rows, half of them audit draws: equal by chance ~2^-150


class _ExitOnArrival:
    """Kills the child that unpickles it (as a crash in compiled code would)."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (os._exit, (3,))


def test_a_dead_child_fails_its_batch_and_the_next_one_starts_a_new_child(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    model, frame = trained
    records = frame.head(3).to_dict("records")
    jobs = _jobs([records], _Request(model.signature, None))
    child = ModelProcess(model, "credit-default@1")
    try:
        first = child.pid
        assert first is not None
        with pytest.raises(ModelProcessError, match="died"):
            child([records], _jobs([records], _Request(_ExitOnArrival(), None)))  # type: ignore[arg-type]
        answers = child([records], jobs)[0][0]
        second = child.pid
        assert second not in (None, first)
        assert answers == Scorer(model)(frame.head(3)).answers()
    finally:
        child.close()
    assert child.pid is None
    for pid in (first, second):
        with pytest.raises(ProcessLookupError):  # stopped and reaped
            os.kill(pid, 0)


class _Held:
    """A ``predict`` with ``submit``: each batch's future is resolved by the test."""

    def __init__(self) -> None:
        self.batches: list[tuple[Future[list[Any]], list[Any]]] = []

    def submit(self, parts: list[Any], jobs: list[BatchJob]) -> Future[list[Any]]:
        future: Future[list[Any]] = Future()
        self.batches.append((future, parts))
        return future

    def __call__(self, parts: list[Any], jobs: list[BatchJob]) -> list[Any]:
        raise AssertionError("a predict with submit is never called")

    def answer(self, index: int) -> None:
        future, parts = self.batches[index]
        future.set_result([part[0] * 10 for part in parts])


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_the_batcher_keeps_two_batches_in_flight_and_answers_each_caller() -> None:
    held = _Held()

    async def run() -> None:
        batcher = MicroBatcher(held, build_frame=False)
        first = asyncio.ensure_future(batcher.submit([1]))
        await _until(lambda: len(held.batches) == 1)
        second = [asyncio.ensure_future(batcher.submit([n])) for n in (2, 3)]
        await _until(lambda: len(held.batches) == 2)  # sent while the first is computed
        third = asyncio.ensure_future(batcher.submit([4]))
        await asyncio.sleep(0.2)
        assert len(held.batches) == 2  # two in flight at most: the third waits
        held.answer(1)  # the second batch's results come first: each caller gets its own
        assert await asyncio.gather(*second) == [20, 30]
        await _until(lambda: len(held.batches) == 3)
        assert not first.done()
        held.answer(0)
        held.answer(2)
        assert [await first, await third] == [10, 40]
        await batcher.stop()

    asyncio.run(run())


def test_a_model_a_reload_replaced_stops_its_process(tmp_path: Path) -> None:
    ws = deployed_project(tmp_path, auth=False)  # credit-default@1, deployed
    project = ws.settings.project_dir
    try:
        _api_models.train_model(ws)  # credit-default@2
        frame = _api.load("credit", project=project).head(3)
        records = frame.drop("ID", "default_payment_next_month").to_dicts()

        async def run() -> None:
            runtime = Runtime(ws, reload_seconds=3600, retire_seconds=0.2)
            await runtime.start()
            try:
                (old,) = runtime.use_case("credit-default").models.values()
                pid = old.batcher.predict.pid
                assert pid is not None
                _api_serving.deploy_model(ws, "credit-default@2", strategy="direct", reason="next")
                assert await runtime.reload()
                answer = await runtime.predict("credit-default", records)
                assert {p["model_version"] for p in answer.predictions} == {"credit-default@2"}
                await _until(lambda: not runtime._retired)  # stopped after the grace period
                assert old.batcher.predict.pid is None
                with pytest.raises(ProcessLookupError):  # exited and reaped
                    os.kill(pid, 0)
            finally:
                await runtime.stop()

        asyncio.run(run())
    finally:
        ws.close()


def test_a_model_process_that_cannot_start_leaves_the_model_serving_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from loopline.serving import _runtime

    def refuse(model: TrainedModel, name: str) -> ModelProcess:
        raise ModelProcessError(f"the model process of {name} did not start")

    monkeypatch.setattr(_runtime, "ModelProcess", refuse)
    ws = deployed_project(tmp_path, auth=False)
    try:
        frame = _api.load("credit", project=ws.settings.project_dir).head(3)
        records = frame.drop("ID", "default_payment_next_month").to_dicts()

        async def run() -> list[dict[str, Any]]:
            runtime = Runtime(ws, reload_seconds=3600)
            await runtime.start()
            try:
                (served,) = runtime.use_case("credit-default").models.values()
                assert not isinstance(served.batcher.predict, ModelProcess)
                return (await runtime.predict("credit-default", records)).predictions
            finally:
                await runtime.stop()

        predictions = asyncio.run(run())
        assert [p["model_version"] for p in predictions] == ["credit-default@1"] * 3
        assert "scoring it in a thread instead" in caplog.text
    finally:
        ws.close()


def test_a_seeded_runtime_gives_each_arm_its_own_audit_stream(
    trained: tuple[TrainedModel, pd.DataFrame], process: ModelProcess
) -> None:
    from types import SimpleNamespace

    from loopline.spec import load_project
    from tests.conftest import EXAMPLE

    model, frame = trained
    spec = load_project(EXAMPLE).spec
    arms = [
        {"role": "challenger", "model_version_id": 12},
        {"role": "champion", "model_version_id": 11},
        {"role": "shadow", "model_version_id": 13},
    ]
    runtime = SimpleNamespace(seed=7, _policy=Runtime._policy)
    policies = Runtime._policies(runtime, spec, None, arms)  # type: ignore[arg-type]
    # the champion keeps the runtime's seed (a one-arm deployment draws as before)
    assert policies[11].seed == 7
    assert len({p.seed for p in policies.values()}) == 3
    again = Runtime._policies(runtime, spec, None, arms)  # type: ignore[arg-type]
    assert {k: p.seed for k, p in again.items()} == {k: p.seed for k, p in policies.items()}
    records = frame.to_dict("records")
    other = ModelProcess(model, "credit-default@2")
    try:
        draws = [
            [
                e.audit_sample
                for e in child(
                    [records], _jobs([records], _Request(model.signature, policies[key]))
                )[0][1]
            ]
            for child, key in ((process, 11), (other, 12))
        ]
    finally:
        other.close()
    assert any(draws[0])
    assert any(draws[1])
    assert draws[0] != draws[1]  # each arm's process draws its own stream
