"""The serving runtime: loaded models, their micro-batchers, routing and hot reload.

A replica loads the latest deployment revision of each use case it serves, and polls the store
every ``reload_seconds`` for a newer one. A new revision's models are loaded in a thread while
the old ones keep answering; then the routing table is swapped in one assignment, and the old
batchers are drained and stopped after a grace period. No request fails during a swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from loopline._ids import dashed_all, uuid7_hex
from loopline._workspace import Workspace
from loopline.errors import ServingError
from loopline.registry import load_model
from loopline.review import EscalationPolicy, current_policy, escalate_overdue
from loopline.serving._answers import (
    MAX_ROWS,
    _cases,
    _logged,
    _recommendations,
    _Request,
    _score_batch,
)
from loopline.serving._batcher import MicroBatcher
from loopline.serving._canary import CanaryWatch
from loopline.serving._case_queue import CaseQueue, CaseWriter
from loopline.serving._deployments import current_deployment
from loopline.serving._inputs import check_row_count
from loopline.serving._log import PredictionLog
from loopline.serving._model_process import ModelProcess, ModelProcessError
from loopline.serving._raw_records import RawRecords
from loopline.serving._recent import RecentPredictions
from loopline.serving._router import choose_arm
from loopline.serving._scoring import Scorer
from loopline.spec import ProjectSpec
from loopline.store import ModelVersion
from loopline.training import TrainedModel

__all__ = ["Answer", "Runtime", "ServedModel"]

_RECENT = 200_000
_SLA_SWEEP_SECONDS = 30.0
_LOG = logging.getLogger("loopline.serving")


@dataclass
class ServedModel:
    """One loaded model version and its batcher."""

    name: str
    version: int
    model: TrainedModel
    batcher: MicroBatcher


@dataclass
class _UseCase:
    spec: ProjectSpec
    revision: int
    salt: str
    arms: list[dict[str, Any]]
    models: dict[int, ServedModel]
    #: Per served model version: the escalation policy its answers are decided by (one audit
    #: sampler per arm, so two arms never draw the same stream).
    policies: dict[int, EscalationPolicy]
    policy_id: int | None = None


@dataclass
class Answer:
    """The answers to one request."""

    request_id: str
    arm: dict[str, Any]
    predictions: list[dict[str, Any]]
    latency_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


class Runtime:
    """Everything a replica needs to answer predictions for the project's use case."""

    def __init__(
        self,
        ws: Workspace,
        *,
        reload_seconds: float = 2.0,
        max_batch_rows: int = 256,
        max_wait_ms: float = 0.0,
        seed: int | None = None,
        retire_seconds: float = 30.0,
    ) -> None:
        self.ws = ws
        #: How long a model a reload replaced keeps its batcher (and model process) for the
        #: requests already routed to it.
        self.retire_seconds = retire_seconds
        #: Seeds the audit sampler (``None``: unpredictable; the demo seeds it).
        self.seed = seed
        self.reload_seconds = reload_seconds
        self.max_batch_rows = max_batch_rows
        self.max_wait_ms = max_wait_ms
        self.use_cases: dict[str, _UseCase] = {}
        self.log = PredictionLog(ws.settings.home / "predictions")
        self.cases = CaseQueue(CaseWriter(ws.store))
        self.ready = False
        self.reloads = 0
        self._task: asyncio.Task[None] | None = None
        self._retired: list[MicroBatcher] = []
        self._retiring: set[asyncio.Task[None]] = set()
        self.canary = CanaryWatch()
        self._background: set[asyncio.Task[None]] = set()
        self._reloading = asyncio.Lock()
        # recent answers' ids, for feedback posted before a log flush
        self.recent = RecentPredictions(_RECENT)

    async def start(self) -> None:
        """Load the current deployment and start the log writer and the reload loop."""
        self.log.start()
        await self.reload()
        # what is loaded now (modules, models) lives as long as the server: the garbage
        # collector's full passes skip it instead of walking it every few hundred requests
        # (collected first, so no garbage of the start-up is frozen with it)
        gc.collect()
        gc.freeze()
        self.ready = True
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling, answer queued requests, flush the prediction log."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for use_case in self.use_cases.values():
            for served in use_case.models.values():
                await served.batcher.stop()
        for task in list(self._retiring):
            task.cancel()  # what they would stop is stopped here
        for batcher in list(self._retired):
            await batcher.stop()
        await self.cases.stop()
        await self.log.stop()

    async def _poll(self) -> None:
        last_sweep = 0.0
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                await self.reload()
            except Exception:  # a failed reload keeps the current models serving
                _LOG.exception("reloading the deployment failed; the current models keep serving")
            if time.monotonic() - last_sweep >= _SLA_SWEEP_SECONDS:
                last_sweep = time.monotonic()
                try:
                    await asyncio.to_thread(self._sweep_sla)
                except Exception:
                    _LOG.exception("the SLA sweep failed; it runs again shortly")

    def _sweep_sla(self) -> None:
        """Move overdue cases up a tier; each breach is audited and logged as an alert."""
        with self.ws.store.transaction() as session:
            for case in escalate_overdue(session):
                _LOG.warning(
                    "SLA breach: case %s (%s) moved to tier %d", case.uid, case.use_case, case.tier
                )

    @staticmethod
    def _policy(
        spec: ProjectSpec, tuned: dict[str, Any] | None, seed: int | None = None
    ) -> EscalationPolicy:
        return EscalationPolicy(
            spec.serving.escalation,
            spec.objective.costs,
            seed=seed,
            confidence_below=tuned.get("confidence_below") if tuned else None,
            audit_sample_rate=tuned.get("audit_sample_rate") if tuned else None,
        )

    def _policies(
        self, spec: ProjectSpec, tuned: dict[str, Any] | None, arms: list[dict[str, Any]]
    ) -> dict[int, EscalationPolicy]:
        """One policy per arm that decides (the champion's, tuned or not, for every arm). A seeded
        runtime seeds the champion's sampler with its seed and each other arm's with a seed
        derived from it and the arm's model version, so arms do not repeat each other's draws
        (in the model processes, each arm's process holds its own copy)."""
        leader = next((a for a in arms if a["role"] == "champion"), arms[0] if arms else None)
        policies: dict[int, EscalationPolicy] = {}
        for arm in arms:
            key = arm["model_version_id"]
            seed = self.seed
            if seed is not None and arm is not leader:
                seed = seed * 1_000_003 + key
            policies[key] = self._policy(spec, tuned, seed)
        return policies

    async def reload(self) -> bool:
        """Load a newer deployment revision if there is one; returns whether anything changed.

        One reload at a time (the poll and a canary decision may both ask): loading a model
        takes a while, and a reload that read an older revision must not finish after one that
        read a newer revision and put the older one back.
        """
        async with self._reloading:
            return await self._reload()

    async def _reload(self) -> bool:
        spec = self.ws.project.spec
        with self.ws.store.transaction() as session:
            deployment = current_deployment(session, spec.name)
            if deployment is None:
                return False
            current = self.use_cases.get(spec.name)
            leader = next((a for a in deployment.arms if a["role"] == "champion"), None)
            tuned = current_policy(session, leader["model_version_id"]) if leader else None
            if current is not None and current.revision == deployment.revision:
                if current.policy_id == (tuned["id"] if tuned else None):
                    return False
                current.policies = self._policies(spec, tuned, current.arms)  # newly tuned
                current.policy_id = tuned["id"] if tuned else None
                return True
            wanted = {
                arm["model_version_id"]: session.get_one(ModelVersion, arm["model_version_id"])
                for arm in deployment.arms
            }
            found = {
                key: (v.use_case, v.version, v.artifact_prefix, v.manifest_sha256)
                for key, v in wanted.items()
            }
            revision, salt, arms = deployment.revision, deployment.salt, list(deployment.arms)
        models: dict[int, ServedModel] = {}
        for key, (use_case, version, prefix, manifest) in found.items():
            if current is not None and key in current.models:
                models[key] = current.models[key]
                continue
            model = await asyncio.to_thread(load_model, self.ws.objects, prefix, manifest)
            name = f"{use_case}@{version}"
            predict = await self._model_stage(model, name, in_process=spec.serving.model_process)
            batcher = MicroBatcher(
                predict,
                max_batch_rows=spec.serving.max_batch_size,
                max_wait_ms=spec.serving.max_wait_ms,
                build_frame=False,  # _score_batch validates the records and builds the frame
            )
            models[key] = ServedModel(name, version, model, batcher)
        self.use_cases[spec.name] = _UseCase(
            spec,
            revision,
            salt,
            arms,
            models,
            self._policies(spec, tuned, arms),
            tuned["id"] if tuned else None,
        )
        if current is not None:
            retired = [s.batcher for k, s in current.models.items() if k not in models]
            if retired:
                self._retired += retired
                self._spawn(self._stop_retired(retired), self._retiring)
        self.reloads += 1
        return True

    @staticmethod
    async def _model_stage(model: TrainedModel, name: str, *, in_process: bool) -> Any:
        """The batcher's ``predict``: a model process, or the model thread's scorer (also when a
        model process cannot start: the model keeps serving, and the log says why)."""
        if in_process:
            try:
                return await asyncio.to_thread(ModelProcess, model, name)
            except ModelProcessError:
                _LOG.warning(
                    "the model process of %s did not start; scoring it in a thread instead",
                    name,
                    exc_info=True,
                )
        return functools.partial(_score_batch, Scorer(model))

    async def _stop_retired(self, batchers: list[MicroBatcher]) -> None:
        """Stop batchers a reload replaced, once requests routed to them have been answered
        (their model processes exit): a server deployed to many times keeps only what it serves.
        """
        await asyncio.sleep(self.retire_seconds)
        for batcher in batchers:
            try:
                await batcher.stop()
            except Exception:  # a batcher that fails to stop must not stop the others
                _LOG.exception("stopping a replaced model failed")
            if batcher in self._retired:
                self._retired.remove(batcher)

    def use_case(self, name: str) -> _UseCase:
        """The runtime of a use case, or a 404 error naming the ones served."""
        found = self.use_cases.get(name)
        if found is None:
            served = ", ".join(sorted(self.use_cases)) or "none"
            raise ServingError(
                f"No deployed use case {name!r}.",
                status=404,
                hint=f"Use cases served here: {served}. Deploy with `loopline deploy`.",
            )
        return found

    def default_use_case(self) -> str:
        """The one use case this replica serves (for protocols without a use-case path)."""
        if not self.use_cases:
            raise ServingError(
                "Nothing is deployed yet.",
                status=503,
                hint="Deploy a model with `loopline deploy USE_CASE@VERSION`.",
            )
        return next(iter(self.use_cases))

    async def predict(
        self,
        name: str,
        records: list[dict[str, Any]] | RawRecords,
        *,
        unit_key: str | None = None,
        pinned: str | None = None,
    ) -> Answer:
        """Validate, route, score (micro-batched), decide and log one request."""
        started = time.perf_counter()
        use_case = self.use_case(name)
        arm = choose_arm(use_case.arms, salt=use_case.salt, unit_key=unit_key, pinned=pinned)
        served = use_case.models[arm["model_version_id"]]
        check_row_count(records, max_rows=MAX_ROWS)
        try:
            # validation, scores and decisions: in the model thread, once per micro-batch
            result = await served.batcher.submit(
                records,
                _Request(served.model.signature, use_case.policies[arm["model_version_id"]]),
            )
        except Exception as exc:
            self._watch(name, use_case, arm, failed=True, latency_ms=0.0)
            raise ServingError(
                f"{served.name} failed to predict: {type(exc).__name__}.",
                status=500,
                hint="The model raised on valid input; the error is in the server log.",
            ) from exc
        if isinstance(result, ServingError):
            raise result  # this request's rows do not fit the signature (a 422)
        answers, escalations, out_of_range, inputs = result
        count = len(answers)
        escalated = [
            i for i, e in enumerate(escalations) if e.decision == "review" or e.audit_sample
        ]
        # one clock read and one system call for every id of the request: a system call per id
        # releases the GIL, and under load each one waits to get it back
        ids = uuid7_hex(count + len(escalated) + 1)
        request_id = ids[-1]
        opened = dict(zip(escalated, dashed_all(ids[count:-1]), strict=True))
        recommendations = _recommendations(answers, escalated)  # before ids and decisions
        latency_ms = (time.perf_counter() - started) * 1000
        self._watch(name, use_case, arm, failed=False, latency_ms=latency_ms)
        now = datetime.now(timezone.utc)
        model_version, role = served.name, arm["role"]
        for index, (answer, escalation) in enumerate(zip(answers, escalations, strict=True)):
            answer["prediction_id"] = ids[index]
            answer["decision"] = decision = escalation.decision
            answer["reasons"] = escalation.reasons
            answer["model_version"] = model_version
            answer["arm"] = role
            if decision == "review":
                answer["case_id"] = opened[index]
        self.recent.add(request_id, ids[:count])
        logged = _logged(
            name, request_id, unit_key, model_version, role, answers, inputs, latency_ms, now
        )
        cases = _cases(
            name,
            request_id,
            answers,
            inputs,
            out_of_range,
            escalations,
            opened,
            recommendations,
            use_case.spec,
        )
        if cases:  # durable before the caller is told a person will decide (group commit)
            await self.cases.open(cases)
        await self.log.put(logged)
        for shadow in (a for a in use_case.arms if a["role"] == "shadow"):
            # the rows as validated for the arm that answered, as the shadow always got them
            job = _Request(served.model.signature, None)
            self._spawn(self._shadow(name, use_case, shadow, job, records, request_id, unit_key))
        return Answer(request_id, arm, answers, latency_ms)

    def _spawn(self, work: Any, tasks: set[asyncio.Task[None]] | None = None) -> None:
        """Run ``work`` in the background, kept in ``tasks`` (the background set) until done."""
        held = self._background if tasks is None else tasks
        task = asyncio.get_running_loop().create_task(work)
        held.add(task)
        task.add_done_callback(held.discard)

    def _watch(
        self, name: str, use_case: _UseCase, arm: dict[str, Any], *, failed: bool, latency_ms: float
    ) -> None:
        if arm["role"] != "canary":
            return
        self.canary.record(name, use_case.revision, failed=failed, latency_ms=latency_ms)
        rollout = use_case.spec.serving.rollout
        if self.canary.due(name, use_case.revision, rollout):
            self._spawn(self._decide_canary(name, use_case.revision, rollout))

    async def _decide_canary(self, name: str, revision: int, rollout: Any) -> None:
        try:
            await asyncio.to_thread(self.canary.decide, self.ws, name, revision, rollout)
            await self.reload()
        except Exception:  # the next reload or request tries again
            _LOG.exception("the canary decision failed")

    async def _shadow(
        self,
        name: str,
        use_case: _UseCase,
        arm: dict[str, Any],
        job: _Request,
        records: list[dict[str, Any]] | RawRecords,
        request_id: str,
        unit_key: str | None,
    ) -> None:
        served = use_case.models.get(arm["model_version_id"])
        if served is None:
            return
        started = time.perf_counter()
        try:
            result = await served.batcher.submit(records, job)
        except Exception:  # a failing shadow never affects callers
            return
        if isinstance(result, ServingError):
            return
        answers, inputs = result[0], result[3]
        latency_ms = (time.perf_counter() - started) * 1000
        ids = uuid7_hex(len(answers))
        for index, answer in enumerate(answers):
            answer.update(
                prediction_id=ids[index],
                decision="shadow",
                reasons=[],
                model_version=served.name,
                arm="shadow",
            )
        logged = _logged(
            name,
            request_id,
            unit_key,
            served.name,
            "shadow",
            answers,
            inputs,
            latency_ms,
            datetime.now(timezone.utc),
            shadow=True,
        )
        await self.log.put(logged)
