"""The batched serving path gives exactly what the row-by-row path gave.

The flat isolation forest against scikit-learn's ``score_samples``; the scorer against the trained
model's own ``predict_proba``, ``is_novel`` and conformal sets; the columnar escalation against
``EscalationPolicy.decide``; micro-batched columns against ``validate_records`` frames; and the
case queue's group commit.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from loopline.review import EscalationPolicy
from loopline.serving._batcher import BatchJob, MicroBatcher
from loopline.serving._case_queue import CaseQueue
from loopline.serving._inputs import validate_columns, validate_records
from loopline.serving._scoring import FlatForest, Scorer
from loopline.spec import Costs, EscalationSpec
from loopline.training import TrainedModel

COSTS = Costs(false_positive=50, false_negative=500, review=8)


@pytest.mark.parametrize(("rows", "max_samples"), [(1, 256), (7, 64), (600, "auto")])
def test_flat_forest_scores_equal_scikit_learn(rows: int, max_samples: Any) -> None:
    rng = np.random.default_rng(4)
    train = np.column_stack([rng.normal(size=2000), rng.integers(0, 2, size=(2000, 5))])
    forest = IsolationForest(n_estimators=50, max_samples=max_samples, random_state=0).fit(train)
    test = np.column_stack([rng.normal(scale=3, size=rows), rng.integers(0, 2, size=(rows, 5))])
    flat = FlatForest(forest)
    np.testing.assert_array_equal(flat.score_samples(test), forest.score_samples(test))


def test_flat_forest_agrees_on_values_at_the_thresholds() -> None:
    # values equal to a threshold, and the float32 neighbours on either side, are where a
    # float32 comparison could differ from scikit-learn's float64 one
    rng = np.random.default_rng(6)
    train = rng.normal(size=(1000, 3)) * [1.0, 1e6, 1e-3]
    forest = IsolationForest(n_estimators=40, random_state=2).fit(train)
    cuts = [
        (tree.tree_.feature[node], tree.tree_.threshold[node])
        for tree in forest.estimators_
        for node in np.flatnonzero(tree.tree_.children_left >= 0)
    ]
    test = np.repeat(rng.normal(size=(1, 3)), 3 * len(cuts), axis=0)
    for k, (feature, threshold) in enumerate(cuts):
        at = np.float32(threshold)
        for step, value in enumerate((np.nextafter(at, -np.inf), at, np.nextafter(at, np.inf))):
            test[3 * k + step, feature] = value
    np.testing.assert_array_equal(
        FlatForest(forest).score_samples(test), forest.score_samples(test)
    )


def test_flat_forest_sends_missing_values_where_scikit_learn_does() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=(500, 3))
    train[rng.random(train.shape) < 0.1] = np.nan
    forest = IsolationForest(n_estimators=30, random_state=1).fit(train)
    test = rng.normal(size=(200, 3))
    test[rng.random(test.shape) < 0.3] = np.nan
    np.testing.assert_array_equal(
        FlatForest(forest).score_samples(test), forest.score_samples(test)
    )


def test_flat_forest_refuses_the_wrong_width() -> None:
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.zeros((20, 3)) + np.eye(20, 3))
    with pytest.raises(ValueError, match="expected 3 features"):
        FlatForest(forest).score_samples(np.zeros((2, 4)))


def test_scorer_matches_the_trained_model(trained: tuple[TrainedModel, pd.DataFrame]) -> None:
    model, frame = trained
    assert model.novelty is not None
    scores = Scorer(model)(frame)
    proba = model.predict_proba(frame)
    positive = proba[:, model.positive_index]
    assert scores.probability == positive.tolist()
    assert scores.predictions == [_plain(v) for v in model.predict(frame)]
    decided = positive >= model.threshold
    assert scores.confidence == np.where(decided, positive, 1 - positive).tolist()
    labels = [_plain(c) for c in model.classes]
    sets = [[labels[i] for i in np.flatnonzero(r)] for r in model.prediction_sets(proba)]
    assert scores.sets == sets
    np.testing.assert_array_equal(scores.novel, model.is_novel(frame))
    assert 0 < scores.novel.sum() < len(frame)  # the comparison covers both outcomes
    # a batch scores each row as it would be scored alone
    alone = Scorer(model)(frame.iloc[[5]].reset_index(drop=True))
    assert alone.answers() == scores.answers(5, 6)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def test_decide_batch_equals_decide_row_by_row() -> None:
    spec = EscalationSpec(
        confidence_below=0.8,
        cost_band=True,
        conformal={"alpha": 0.1},
        out_of_distribution=True,
        rules=("LIMIT_BAL > 500000",),
        audit_sample_rate=0.3,
    )
    rng = random.Random(7)
    n = 300
    probability = [rng.random() for _ in range(n)]
    sets = [[0, 1] if rng.random() < 0.1 else [int(p >= 0.5)] for p in probability]
    inputs = pd.DataFrame({"LIMIT_BAL": [rng.choice([1_000, 900_000]) for _ in range(n)]})
    out_of_range = [["AGE"] if rng.random() < 0.05 else [] for _ in range(n)]
    novelty = np.array([rng.random() < 0.05 for _ in range(n)])
    confidence = [max(p, 1 - p) for p in probability]
    answers = [
        {"prediction": int(p >= 0.5), "probability": p, "confidence": c, "prediction_set": s}
        for p, c, s in zip(probability, confidence, sets, strict=True)
    ]
    for rows in (n, 3):  # the polars path and the row-by-row path of the rules (n > 128)
        expected = EscalationPolicy(spec, COSTS, seed=11).decide(
            answers[:rows], inputs.head(rows), out_of_range[:rows], list(novelty[:rows])
        )
        got = EscalationPolicy(spec, COSTS, seed=11).decide_batch(
            probability[:rows],
            confidence[:rows],
            [len(s) for s in sets[:rows]],
            inputs.head(rows),
            out_of_range[:rows],
            novelty[:rows],
        )
        assert got == expected
        # the serving path hands the policy the rows as columns (names to arrays)
        columns = {"LIMIT_BAL": inputs["LIMIT_BAL"].to_numpy()[:rows]}
        got = EscalationPolicy(spec, COSTS, seed=11).decide_batch(
            probability[:rows],
            confidence[:rows],
            [len(s) for s in sets[:rows]],
            columns,
            out_of_range[:rows],
            novelty[:rows],
        )
        assert got == expected
        if rows == n:  # the comparison covers every outcome
            assert {d.decision for d in expected} == {"auto", "review"}
            assert any(d.audit_sample for d in expected)


def test_decide_batch_without_probabilities_as_in_regression() -> None:
    spec = EscalationSpec(confidence_below=0.8, out_of_distribution=True)
    policy = EscalationPolicy(spec, COSTS, seed=1)
    answers = [{"prediction": 1.0, "score": 1.0, "confidence": None, "interval": [0, 2]}] * 2
    inputs = pd.DataFrame({"x": [1, 2]})
    expected = EscalationPolicy(spec, COSTS, seed=1).decide(answers, inputs, [[], ["x"]])
    assert policy.decide_batch(None, None, None, inputs, [[], ["x"]]) == expected


def test_batched_columns_make_the_frame_validation_makes(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    model, _ = trained
    records: list[dict[str, Any]] = [dict.fromkeys(model.signature.names, 1) for _ in range(3)]
    records[1]["LIMIT_BAL"] = 2.0  # a whole float in an integer column
    seen: list[pd.DataFrame] = []

    def predict(frame: pd.DataFrame, jobs: list[BatchJob]) -> list[Any]:
        seen.append(frame)
        return [(job.start, job.end, job.context) for job in jobs]

    async def run() -> list[Any]:
        batcher = MicroBatcher(predict)
        parts = [validate_columns([r], model.signature, max_rows=10)[0] for r in records]
        try:
            return await asyncio.gather(*(batcher.submit(p, i) for i, p in enumerate(parts)))
        finally:
            await batcher.stop()

    results = asyncio.run(run())
    assert results == [(0, 1, 0), (1, 2, 1), (2, 3, 2)]
    assert len(seen) == 1  # the three requests formed one batch
    expected = pd.concat(
        [validate_records([r], model.signature, max_rows=10)[0] for r in records],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(seen[0], expected)


def test_case_queue_group_commits_and_isolates_a_failing_request() -> None:
    written: list[dict[str, Any]] = []

    def write(cases: dict[str, Any]) -> None:
        if any(cases["bad"]):
            raise ValueError("cannot store this case")
        written.append(cases)

    async def run() -> list[Any]:
        queue = CaseQueue(write)
        requests = [{"uid": [f"{i}-{j}" for j in range(2)], "bad": [i == 3] * 2} for i in range(10)]
        outcome = await asyncio.gather(
            *(queue.open(cases) for cases in requests), return_exceptions=True
        )
        await queue.drain()
        assert queue.written == 18
        return outcome

    outcome = asyncio.run(run())
    assert [type(o).__name__ for o in outcome] == ["NoneType"] * 3 + ["ValueError"] + [
        "NoneType"
    ] * 6
    uids = sorted(uid for group in written for uid in group["uid"])
    assert uids == sorted(f"{i}-{j}" for i in range(10) if i != 3 for j in range(2))
    # the ten requests queued together: their one transaction failed, then each was written
    # on its own and only the bad one failed
    assert len(written) == 9


def test_case_queue_needs_one_commit_for_concurrent_requests() -> None:
    commits: list[int] = []

    def write(cases: dict[str, Any]) -> None:
        commits.append(len(cases["uid"]))

    async def run() -> None:
        queue = CaseQueue(write)
        await asyncio.gather(*(queue.open({"uid": [str(i)]}) for i in range(64)))

    asyncio.run(run())
    assert commits == [64]  # requests that queued together: one transaction


def test_one_invalid_request_in_a_batch_fails_alone(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    from loopline.errors import ServingError
    from loopline.serving._answers import _Request, _score_batch

    model, frame = trained
    records = frame.head(4).to_dict("records")
    bad = [dict(records[2]), dict(records[3])]
    bad[1]["AGE"] = "old"
    policy = EscalationPolicy(EscalationSpec(confidence_below=0.8), COSTS, seed=2)
    parts = [records[:2], bad, records[3:4]]
    jobs, start = [], 0
    for part in parts:
        jobs.append(BatchJob(start, start + len(part), _Request(model.signature, policy)))
        start += len(part)
    results = _score_batch(Scorer(model), parts, jobs)
    assert isinstance(results[1], ServingError)
    assert results[1].status == 422
    assert [p.loc for p in results[1].problems] == [("records", 1, "AGE")]  # its own row
    alone = Scorer(model)(frame.iloc[[0, 1, 3]].reset_index(drop=True))
    assert results[0][0] == alone.answers(0, 2)
    assert results[2][0] == alone.answers(2, 3)
    expected = EscalationPolicy(EscalationSpec(confidence_below=0.8), COSTS, seed=2).decide(
        alone.answers(), frame.iloc[[0, 1, 3]], [[], [], []], list(alone.novel)
    )
    assert results[0][1] + results[2][1] == expected


def test_replayed_preprocessing_equals_scikit_learn(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    from loopline.serving._scoring import FastPreprocess

    model, frame = trained
    steps = model.pipeline[:-1]
    fast = FastPreprocess(steps)
    odd = frame.head(50).astype({"LIMIT_BAL": "float64", "AGE": "float64"})
    odd.loc[[1, 7], "LIMIT_BAL"] = np.nan  # imputed with the training median
    odd.loc[[2, 9], "AGE"] = np.nan
    odd.loc[3, "EDUCATION"] = 99  # a category never seen: all zeros
    for data in (frame, frame.head(1), odd):
        expected = steps.transform(data)
        replayed = fast(data)
        assert replayed.dtype == expected.dtype
        np.testing.assert_array_equal(replayed, expected)
    # the scorer uses the replay once the first batch matched, with identical answers
    scorer = Scorer(model)
    first = scorer(frame)
    assert scorer._checked
    again = scorer(frame)
    assert again.answers() == first.answers()
    np.testing.assert_array_equal(again.novel, first.novel)


def test_the_scorer_reads_columns_as_it_reads_the_frame(
    trained: tuple[TrainedModel, pd.DataFrame],
) -> None:
    # the serving path scores the rows as validation built them, as columns, without a frame
    from loopline.serving._scoring import FastPreprocess

    model, frame = trained
    steps = model.pipeline[:-1]
    odd = frame.head(50).astype({"LIMIT_BAL": "float64", "AGE": "float64"})
    odd.loc[[1, 7], "LIMIT_BAL"] = np.nan
    odd.loc[3, "EDUCATION"] = 99
    for data in (frame, frame.head(1), odd):
        columns = {name: data[name].to_numpy() for name in reversed(data.columns)}
        replayed = FastPreprocess(steps)(columns)
        expected = steps.transform(data)
        assert replayed.dtype == expected.dtype
        np.testing.assert_array_equal(replayed, expected)
        scorer = Scorer(model)
        for _ in range(2):  # the first batch is checked against scikit-learn, the next replayed
            got = scorer(columns)
            assert got.answers() == Scorer(model)(data).answers()
            np.testing.assert_array_equal(got.novel, Scorer(model)(data).novel)
        assert scorer._checked


@pytest.mark.parametrize(
    "dtypes",
    [
        ("int64", "float64"),
        ("int32", "int64"),
        ("uint8", "int64"),
        ("float32", "int64"),
        ("uint64", "int64"),
        ("bool", "bool"),
        ("bool", "int64"),
        ("object", "int64"),
    ],
)
def test_columns_stack_as_pandas_stacks_them(dtypes: tuple[str, str]) -> None:
    from loopline.serving._scoring import _block

    rng = np.random.default_rng(3)
    columns: dict[str, Any] = {
        f"c{i}": (
            np.array([f"v{k}" for k in range(6)], dtype=object)
            if dtype == "object"
            else rng.integers(0, 2, size=6).astype(dtype)
        )
        for i, dtype in enumerate(dtypes)
    }
    names = list(columns)
    expected = pd.DataFrame(columns)[names].to_numpy()
    got = _block(columns, names)
    got = got.to_numpy() if isinstance(got, pd.DataFrame) else got
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_unknown_preprocessing_is_left_to_scikit_learn() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from loopline.serving._scoring import FastPreprocess

    with pytest.raises(ValueError, match="StandardScaler is not replayed"):
        FastPreprocess(make_pipeline(StandardScaler()).fit(np.eye(3)))


def test_label_sets_read_from_the_table_equal_the_per_row_sets() -> None:
    from loopline.serving._scoring import _label_sets

    rng = np.random.default_rng(5)
    for classes in (2, 3, 7, 13):  # 13: over the table's limit, the per-row path
        labels: list[Any] = [f"c{i}" for i in range(classes)] if classes != 2 else [0, 1]
        in_set = rng.random((300, classes)) < 0.4
        expected = [[labels[i] for i in np.flatnonzero(row)] for row in in_set]
        got = _label_sets(in_set, labels)
        assert got == expected
        got[0].append("mutated")  # each row has a list of its own
        assert _label_sets(in_set, labels)[0] == expected[0]
        assert len({id(row) for row in got}) == len(got)
