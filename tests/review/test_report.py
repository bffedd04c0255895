"""The people-in-the-loop report: rates, audited precision, kappa, success verdicts."""

from __future__ import annotations

import polars as pl
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from loopline.review import claim_case, decide_case, open_case
from loopline.review._report import review_report, wilson_interval
from loopline.spec import load_project
from loopline.store import Store
from tests.conftest import EXAMPLE


def test_wilson_interval_matches_statsmodels() -> None:
    for successes, n in [(0, 10), (7, 10), (93, 100), (500, 1000)]:
        low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
        assert wilson_interval(successes, n) == (pytest_approx(low), pytest_approx(high))


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, abs=1e-9)


def _case(session, i: int, *, audit: bool = False, double: bool = False, prediction: int = 1):  # type: ignore[no-untyped-def]
    return open_case(
        session,
        use_case="credit-default",
        prediction_id=f"p{i}",
        request_id=f"r{i}",
        model_version="credit-default@1",
        inputs={},
        reasons=[],
        out_of_range=[],
        recommendation={"prediction": prediction, "probability": 0.9},
        priority=1.0,
        sla_hours=24,
        audit_sample=audit,
        sampling_probability=0.1 if audit else None,
        double_review=double,
    )


def test_report_against_hand_counts(store: Store) -> None:
    spec = load_project(EXAMPLE).spec
    with store.transaction() as session:
        uids = [(_case(session, i, audit=i < 4).uid, i) for i in range(6)]
        doubles = [_case(session, 10 + i, double=True).uid for i in range(4)]
    labels = {0: 1, 1: 1, 2: 0, 3: 1, 4: 0, 5: 1}  # audited 0-3: 3 of 4 right
    with store.transaction() as session:
        for uid, i in uids:
            claim_case(session, uid, actor="ana")
            action = "accept" if labels[i] == 1 else "override"
            decide_case(session, uid, actor="ana", action=action, label=labels[i], classes=[0, 1])
        first, second = [1, 1, 0, 0], [1, 0, 0, 0]
        for uid, a, b in zip(doubles, first, second, strict=True):
            for who, label in (("ana", a), ("bob", b)):
                claim_case(session, uid, actor=who)
                decide_case(session, uid, actor=who, action="override", label=label, classes=[0, 1])
    predictions = pl.DataFrame({"decision": ["auto"] * 8 + ["review"] * 2, "shadow": [False] * 10})
    with store.transaction() as session:
        report = review_report(session, spec, predictions)
    assert report["automation_rate"] == 0.8
    assert report["audited"]["cases"] == 4
    assert report["audited"]["precision_auto"] == 3 / 4
    assert report["agreement_kappa"] == cohen_kappa_score(
        ["1", "1", "0", "0"], ["1", "0", "0", "0"]
    )
    assert report["backlog"] == 0
    verdicts = {s["metric"]: s["met"] for s in report["success"]}
    assert verdicts["automation_rate >= 0.70"] is True
    assert verdicts["precision_auto >= 0.60"] is True
    assert report["cost_all_manual_per_1000"] == 8000
    assert report["sla_compliance"] == 1.0
