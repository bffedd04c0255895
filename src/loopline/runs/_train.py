"""A training run: data version → split → fit → calibrate → evaluate → gates → registered version.

Nothing is registered unless every step succeeds: artifacts are written under the run's own
prefix first, then the model version, its gate results, lineage edges and audit event are
recorded in one transaction. A run that fails is recorded as ``failed`` with its error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from threadpoolctl import threadpool_limits

from loopline._workspace import Workspace
from loopline.data import Contract, load_contract
from loopline.data._datasets import DatasetRef, get_version, load_version, parse_ref
from loopline.errors import LooplineError, TrainingError, UserCodeError
from loopline.lineage import add_edge, add_node
from loopline.registry._artifacts import save_artifacts
from loopline.registry._card import build_card, render_card
from loopline.registry._gates import GateOutcome, check_gate_names, evaluate_gates
from loopline.runs._champion import compare_with_champion
from loopline.runs._context import check_target, environment, git_sha
from loopline.runs._decision import calibrate, fit_novelty, holdout_parquet, tune
from loopline.spec import Project
from loopline.store import GateResult, ModelVersion, Run, record_audit, utcnow
from loopline.training._evaluate import evaluate_model, measure_latency
from loopline.training._model import TrainedModel
from loopline.training._pipeline import build_pipeline
from loopline.training._signature import Signature, signature_from_contract
from loopline.training._split import Split, split_rows

__all__ = ["TrainResult", "train"]

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    """What a run produced."""

    run: str
    use_case: str
    version: int
    state: str
    dataset: str
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    duration_s: float
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__)


def train(
    ws: Workspace,
    *,
    dataset: str | None = None,
    progress: Progress | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainResult:
    """Train, evaluate, gate and register a model version for the workspace's use case.

    ``tags`` are kept with the run (``params["tags"]``): the retraining job tags its run with
    its own id, so a retried job finds the model it already registered instead of training twice.

    Raises:
        TrainingError: The project, data or gates do not allow training; nothing is registered.
        UserCodeError: The estimator raised; nothing is registered.
    """
    say = progress or (lambda _step: None)
    project = ws.project
    spec = project.spec
    if spec.training is None:
        raise TrainingError(
            "loopline.yaml has no training section.",
            hint="Add training: {estimator: ..., params: ...}; see `loopline init`.",
        )
    training = spec.training
    task = spec.objective.task.value
    check_gate_names(
        spec.gates,
        task=task,
        slice_columns=training.slices,
        lines=[project.line_of(("gates", i)) for i in range(len(spec.gates))],
    )
    contract = load_contract(project.resolve(spec.data.contract))
    ref = parse_ref(dataset) if dataset else DatasetRef(spec.data.dataset)
    with ws.store.transaction() as session:
        version_row = get_version(session, ref)
        ref = DatasetRef(ref.name, version_row.version)
        dataset_version_id = version_row.id
    say(f"loading {ref}")
    frame = load_version(ws, ref)
    classes = check_target(frame, project, training)
    signature = signature_from_contract(
        contract,
        task=task,
        target=spec.objective.target,
        drop=training.drop,
        classes=classes,
        positive_class=spec.objective.positive_class,
    )
    split_spec = training.split
    if task == "regression" and split_spec.method == "stratified":
        split_spec = split_spec.model_copy(update={"method": "random"})  # nothing to stratify on
    split = split_rows(frame, split_spec, target=spec.objective.target, seed=training.seed)
    run_uid = str(uuid.uuid4())
    started = time.perf_counter()
    with ws.store.transaction() as session:
        run = Run(
            uid=run_uid,
            use_case=spec.name,
            dataset_version_id=dataset_version_id,
            status="running",
            params={
                "estimator": training.estimator,
                **training.params,
                "seed": training.seed,
                "split": training.split.model_dump(),
                **({"tags": dict(tags)} if tags else {}),
            },
            metrics={},
            environment=environment(),
            code_version=git_sha(project),
            created_by=ws.actor,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    try:
        result = _fit_and_register(
            ws, project, contract, signature, frame, split, ref, run_id, run_uid, say, started
        )
    except BaseException as exc:
        with ws.store.transaction() as session:
            failed = session.get_one(Run, run_id)
            failed.status = "failed"
            failed.error = (
                str(exc) if isinstance(exc, LooplineError) else f"{type(exc).__name__}: {exc}"
            )
            failed.finished_at = utcnow()
            failed.duration_s = time.perf_counter() - started
        raise
    return result


def _fit_and_register(
    ws: Workspace,
    project: Project,
    contract: Contract,
    signature: Signature,
    frame: pl.DataFrame,
    split: Split,
    ref: DatasetRef,
    run_id: int,
    run_uid: str,
    say: Progress,
    started: float,
) -> TrainResult:
    spec = project.spec
    training = spec.training
    assert training is not None  # checked by train()
    timings: dict[str, float] = {}
    target = spec.objective.target
    data = frame.to_pandas()
    labels = data[target]
    parts = {name: data.iloc[getattr(split, name)] for name in ("train", "calibration", "test")}
    params = dict(training.params)
    if training.tuning is not None:
        tick = time.perf_counter()
        params, tuned = tune(signature, training, parts, labels, split, say)
        timings["tuning_s"] = time.perf_counter() - tick
        with ws.store.transaction() as session:
            run = session.get_one(Run, run_id)
            run.params = {
                **run.params,
                "tuning": _jsonable(tuned),
                "tuned_params": _jsonable(params),
            }
    pipeline = build_pipeline(signature, training.estimator, params, seed=training.seed)
    say(f"fitting {training.estimator} on {len(parts['train'])} rows")
    tick = time.perf_counter()
    try:
        pipeline.fit(parts["train"][signature.names], labels.iloc[split.train])
    except Exception as exc:
        raise UserCodeError(training.estimator, "fit", exc) from exc
    timings["fit_s"] = time.perf_counter() - tick
    # Prediction on small batches is dominated by thread start-up (44 ms vs 3 ms per row for
    # HistGradientBoosting on 2 cores): everything after the fit runs single-threaded.
    with threadpool_limits(limits=1):
        return _evaluate_and_register(
            ws,
            project,
            pipeline,
            signature,
            labels,
            parts,
            split,
            ref,
            run_id,
            run_uid,
            say,
            started,
            timings,
        )


def reference_profile(train: pd.DataFrame, signature: Signature) -> bytes:
    """The training rows' reference profile (``reference.parquet``): what monitoring compares
    served inputs with, so it never re-reads the training data."""
    from loopline.monitoring import build_reference  # monitoring reads the registry: import late

    return build_reference(
        train, categorical=signature.categorical, columns=signature.names
    ).to_bytes()


def _evaluate_and_register(
    ws: Workspace,
    project: Project,
    pipeline: Any,
    signature: Signature,
    labels: pd.Series,
    parts: dict[str, pd.DataFrame],
    split: Split,
    ref: DatasetRef,
    run_id: int,
    run_uid: str,
    say: Progress,
    started: float,
    timings: dict[str, float],
) -> TrainResult:
    spec = project.spec
    training = spec.training
    assert training is not None  # checked by train()
    say("calibrating")
    model, model_calibration = calibrate(
        pipeline,
        signature,
        parts["calibration"],
        labels.iloc[split.calibration],
        training,
        spec.objective.costs,
    )
    if spec.serving.escalation.out_of_distribution:
        say("fitting the novelty detector")
        fit_novelty(model, parts["train"], spec.serving.escalation.novelty_rate, training.seed)
    say("evaluating on held-out rows")
    tick = time.perf_counter()
    metrics, evaluation, plots = evaluate_model(
        model,
        parts["test"],
        labels.iloc[split.test],
        costs=spec.objective.costs,
        slices=training.slices,
        seed=training.seed,
    )
    timings["evaluate_s"] = time.perf_counter() - tick
    metrics.update(measure_latency(model, parts["test"]))
    artifacts: dict[str, str | bytes] = dict(plots)
    artifacts["holdout.parquet"] = holdout_parquet(model, parts["test"], labels.iloc[split.test])
    say("profiling the training data for monitoring")
    artifacts["reference.parquet"] = reference_profile(parts["train"], signature)
    evaluation["calibration"] = model_calibration
    champion_metrics, comparisons = compare_with_champion(
        ws, spec.name, model, parts["test"], labels.iloc[split.test], spec.gates, training.seed
    )
    gaps = {
        (metric, column): value
        for column, by_metric in evaluation.get("slice_gaps", {}).items()
        for metric, value in by_metric.items()
    }
    outcomes = evaluate_gates(
        spec.gates,
        metrics=metrics,
        slice_gaps=gaps,
        champion=champion_metrics,
        comparisons=comparisons,
    )
    state = "rejected" if any(o.verdict == "failed" for o in outcomes) else "candidate"
    return _register(
        ws,
        project,
        model,
        metrics,
        evaluation,
        artifacts,
        outcomes,
        state,
        ref,
        split,
        run_id,
        run_uid,
        model_calibration,
        timings,
        started,
    )


def _register(
    ws: Workspace,
    project: Project,
    model: TrainedModel,
    metrics: dict[str, Any],
    evaluation: dict[str, Any],
    plots: dict[str, str | bytes],
    outcomes: list[GateOutcome],
    state: str,
    ref: DatasetRef,
    split: Split,
    run_id: int,
    run_uid: str,
    calibration: dict[str, Any],
    timings: dict[str, float],
    started: float,
) -> TrainResult:
    spec = project.spec
    training = spec.training
    assert training is not None
    gates = [o.to_dict() for o in outcomes]
    with ws.store.transaction() as session:
        latest = session.query(ModelVersion.version).filter(ModelVersion.use_case == spec.name)
        next_version = max((v for (v,) in latest), default=0) + 1
    card = build_card(
        spec=spec,
        version=str(next_version),
        dataset=str(ref),
        split_sizes=split.sizes(),
        metrics=metrics,
        evaluation=evaluation,
        gates=gates,
        estimator=training.estimator,
        params=dict(training.params),
        calibration=calibration,
    )
    prefix = f"models/{spec.name}/{run_uid}"
    files = {name: data.encode() if isinstance(data, str) else data for name, data in plots.items()}
    files["metrics.json"] = json.dumps(_jsonable(metrics), indent=2).encode()
    files["evaluation.json"] = json.dumps(_jsonable(evaluation), indent=2).encode()
    files["card.json"] = json.dumps(_jsonable(card), indent=2).encode()
    files["card.md"] = render_card(card).encode()
    files["signature.json"] = json.dumps(model.signature.to_dict(), indent=2, default=str).encode()
    manifest = save_artifacts(ws.objects, prefix, model, files)
    duration = time.perf_counter() - started
    with ws.store.transaction() as session:
        row = ModelVersion(
            use_case=spec.name,
            version=next_version,
            run_id=run_id,
            state=state,
            artifact_prefix=prefix,
            manifest_sha256=manifest,
            signature=model.signature.to_dict(),
            metrics=_jsonable(metrics),
            evaluation=_jsonable(evaluation),
            card=_jsonable(card),
            created_by=ws.actor,
        )
        session.add(row)
        session.flush()
        for outcome in outcomes:
            session.add(
                GateResult(
                    model_version_id=row.id,
                    gate=outcome.gate,
                    measured=outcome.measured,
                    bound=outcome.bound,
                    verdict=outcome.verdict,
                    detail=_jsonable(outcome.detail),
                    context="training",
                )
            )
        run = session.get_one(Run, run_id)
        run.status, run.metrics, run.finished_at, run.duration_s = (
            "completed",
            _jsonable(metrics),
            utcnow(),
            duration,
        )
        key = f"{spec.name}@{next_version}"
        run_node = add_node(
            session, "run", run_uid, label=f"train {spec.name}", estimator=training.estimator
        )
        add_edge(session, add_node(session, "dataset_version", str(ref)), run_node, "trained_on")
        add_edge(
            session,
            run_node,
            add_node(session, "model_version", key, label=key, state=state),
            "produced",
        )
        record_audit(
            session,
            actor=ws.actor,
            action="model.register",
            target_type="model_version",
            target=key,
            use_case=spec.name,
            after={"state": state, "run": run_uid},
            reason="gates failed: " + "; ".join(o.gate for o in outcomes if o.verdict == "failed")
            if state == "rejected"
            else None,
        )
    return TrainResult(
        run=run_uid,
        use_case=spec.name,
        version=next_version,
        state=state,
        dataset=str(ref),
        metrics=metrics,
        gates=gates,
        duration_s=duration,
        timings=timings,
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON data: numpy scalars unwrapped, NaN and infinities as null (JSONB refuses them)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
