"""One micro-batch's answers: scores, decisions, review cases and log records, built in the
model thread; and the request and prediction ids."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from loopline.errors import ServingError
from loopline.review import EscalationPolicy
from loopline.serving._batcher import BatchJob, batch_columns
from loopline.serving._inputs import validate_columns
from loopline.serving._log import LoggedRequest, json_texts
from loopline.serving._raw_records import RawRecords
from loopline.serving._scoring import Scorer, Scores
from loopline.spec import ProjectSpec
from loopline.store import RawJson
from loopline.training import Signature

__all__ = ["MAX_ROWS"]

#: The most rows one request may carry.
MAX_ROWS = 10_000


@dataclass(frozen=True)
class _Request:
    """What a request hands the model thread: the signature its rows are validated against,
    and the policy that decides them (``None`` for a shadow's copy: no decisions)."""

    signature: Signature
    policy: EscalationPolicy | None


def _score_batch(scorer: Scorer, parts: list[Any], jobs: list[BatchJob]) -> list[Any]:
    """In the model thread: validate, score and decide a micro-batch, each once.

    ``parts`` are the jobs' records (lists, or :class:`RawRecords` parsed here). Returns per
    job either its answers (without decisions), its escalations (``None`` without a policy),
    its rows' out-of-range fields and its rows' inputs as JSON text (for the log and the review
    cases), or the :class:`ServingError` its body got from parsing or its rows from validation
    (only that request fails). Jobs are decided in their order, so the audit sampler draws in
    the order the requests arrived.
    """
    results: list[Any] = [None] * len(jobs)
    parts = list(parts)
    for k, part in enumerate(parts):
        if isinstance(part, RawRecords):  # a native request's rows, parsed here, not in the server
            try:
                parts[k] = part.parse()
            except ServingError as error:
                results[k] = error
    valid: list[int] = []
    columns: list[dict[str, Any]] = []
    out_of_range: dict[int, list[list[str]]] = {}
    first = 0
    while first < len(jobs):
        if results[first] is not None:  # its body failed to parse
            first += 1
            continue
        signature = jobs[first].context.signature
        last = first
        while (
            last + 1 < len(jobs)
            and results[last + 1] is None
            and jobs[last + 1].context.signature is signature
        ):
            last += 1
        group = range(first, last + 1)
        records = parts[first] if first == last else [r for k in group for r in parts[k]]
        try:  # the whole group at once: the common case, every row valid
            arrays, flags = validate_columns(records, signature, max_rows=len(records))
        except ServingError:  # someone's rows are invalid: each request on its own
            for k in group:
                try:
                    arrays, flags = validate_columns(parts[k], signature, max_rows=MAX_ROWS)
                except ServingError as error:
                    results[k] = error
                    continue
                columns.append(arrays)
                out_of_range[k] = flags
                valid.append(k)
        else:
            columns.append(arrays)
            start = 0
            for k in group:
                out_of_range[k] = flags[start : start + len(parts[k])]
                start += len(parts[k])
                valid.append(k)
        first = last + 1
    if not valid:
        return results
    # the rows as columns: the model stage builds a pandas frame only if it needs one
    batch = batch_columns(columns)
    scores = scorer(batch)
    spans: list[tuple[int, int, int]] = []
    start = 0
    for k in valid:
        spans.append((k, start, start + len(parts[k])))
        start += len(parts[k])
    decided: dict[int, list[Any]] = {}
    index = 0
    while index < len(spans):
        policy = jobs[spans[index][0]].context.policy
        if policy is None:
            index += 1
            continue
        group_end = index
        while group_end + 1 < len(spans) and jobs[spans[group_end + 1][0]].context.policy is policy:
            group_end += 1
        begin, end = spans[index][1], spans[group_end][2]
        flags = [f for k, _, _ in spans[index : group_end + 1] for f in out_of_range[k]]
        escalations = _decide(policy, scores, batch, begin, end, flags)
        for k, job_start, job_end in spans[index : group_end + 1]:
            decided[k] = escalations[job_start - begin : job_end - begin]
        index = group_end + 1
    for k, job_start, job_end in spans:
        answers = scores.answers(job_start, job_end)
        results[k] = (answers, decided.get(k), out_of_range[k], json_texts(parts[k]))
    return results


def _decide(
    policy: EscalationPolicy,
    scores: Scores,
    batch: dict[str, Any],
    start: int,
    end: int,
    out_of_range: list[list[str]],
) -> list[Any]:
    inputs = batch if start == 0 and end == len(scores) else _rows(batch, start, end)
    if scores.task == "regression":
        return policy.decide_batch(None, None, None, inputs, out_of_range, scores.novel[start:end])
    assert scores.confidence is not None
    assert scores.sets is not None
    return policy.decide_batch(
        scores.probability[start:end],
        scores.confidence[start:end],
        [len(s) for s in scores.sets[start:end]],
        inputs,
        out_of_range,
        scores.novel[start:end],
    )


def _rows(batch: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """Rows ``start:end`` of a batch given as columns."""
    return {name: values[start:end] for name, values in batch.items()}


def _recommendations(answers: list[dict[str, Any]], rows: list[int]) -> list[dict[str, Any]]:
    """The model's recommendation for each of ``rows``: a copy of its answer as the model stage
    made it (before ids and decisions are added), without a regression's ``score`` (the
    prediction itself). A copy costs a tenth of building the dictionary again."""
    chosen = [answers[index].copy() for index in rows]
    if chosen and "score" in chosen[0]:
        for recommendation in chosen:
            del recommendation["score"]
    return chosen


def _cases(
    use_case: str,
    request_id: str,
    answers: list[dict[str, Any]],
    inputs: list[str],
    out_of_range: list[list[str]],
    escalations: list[Any],
    opened: dict[int, str],
    recommendations: list[dict[str, Any]],
    spec: ProjectSpec,
) -> dict[str, list[Any]]:
    """The review cases of one request, as columns for ``open_case_columns`` (empty when none
    is opened): ``opened`` maps answer positions to case ids, in order, and ``recommendations``
    holds their :func:`_recommendations`.

    Double review is drawn for escalated (not audit-sampled) cases, in row order.
    """
    if not opened:
        return {}
    escalation_spec = spec.serving.escalation
    sla_hours, rate = escalation_spec.sla_hours, escalation_spec.double_review_rate
    rows = list(opened)
    count = len(rows)
    chosen = [answers[index] for index in rows]
    decided = [escalations[index] for index in rows]
    draw = random.random
    return {
        "uid": list(opened.values()),
        "use_case": [use_case] * count,
        "prediction_id": list(map(itemgetter("prediction_id"), chosen)),
        "request_id": [request_id] * count,
        "model_version": list(map(itemgetter("model_version"), chosen)),
        "inputs": [RawJson(inputs[index]) for index in rows],
        "recommendation": recommendations,
        "reasons": [escalation.reasons for escalation in decided],
        "out_of_range": [out_of_range[index] for index in rows],
        "priority": [escalation.expected_cost_auto for escalation in decided],
        "sla_hours": [sla_hours] * count,
        "audit_sample": [escalation.audit_sample for escalation in decided],
        "sampling_probability": [escalation.sampling_probability for escalation in decided],
        "double_review": [
            escalation.decision == "review" and draw() < rate for escalation in decided
        ],
    }


def _logged(
    use_case: str,
    request_id: str,
    unit_key: str | None,
    model_version: str,
    arm: str,
    answers: list[dict[str, Any]],
    inputs: list[str],
    latency_ms: float,
    at: datetime,
    *,
    shadow: bool = False,
) -> LoggedRequest:
    """A request's log records, from its answers (which carry their ids and decisions) and its
    rows' inputs as JSON text."""
    return LoggedRequest(
        request_id=request_id,
        use_case=use_case,
        model_version=model_version,
        arm=arm,
        unit_key=unit_key,
        latency_ms=latency_ms,
        shadow=shadow,
        at=at,
        prediction_ids=list(map(itemgetter("prediction_id"), answers)),
        decisions=list(map(itemgetter("decision"), answers)),
        reasons=list(map(itemgetter("reasons"), answers)),
        predictions=list(map(itemgetter("prediction"), answers)),
        probabilities=[answer.get("probability", answer.get("score")) for answer in answers],
        confidences=[answer.get("confidence") for answer in answers],
        inputs=inputs,
    )
