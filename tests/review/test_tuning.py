"""Threshold tuning: the coverage-risk curve, the chooser, and a policy that keeps its promise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from sqlalchemy import select

from loopline import _api, _api_models
from loopline._workspace import Workspace
from loopline.cli import (
    _policy,  # noqa: F401  (registers `loopline policy`)
    main,
)
from loopline.errors import ReviewError
from loopline.review import (
    choose_threshold,
    coverage_risk,
    current_policy,
    parse_target,
    tune_holdout,
    tune_policy,
)
from loopline.settings import load_settings
from loopline.spec import Costs, SuccessMetric
from loopline.store import AuditEvent, DecisionPolicyRecord
from tests.conftest import EXAMPLE

COSTS = Costs(false_positive=50, false_negative=500, review=8)
CREDIT = EXAMPLE / "data" / "credit_default.csv.gz"


def _binary(n: int, seed: int = 0) -> dict[str, Any]:
    """Calibrated synthetic answers: y ~ Bernoulli(p), decided positive when p >= 0.3."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(2, 3, n), 2)  # rounding makes ties in confidence
    y = (rng.random(n) < p).astype(np.int64)
    positive = p >= 0.3
    return {
        "y": y,
        "prediction_correct": positive == (y == 1),
        "confidence": np.maximum(p, 1 - p),
        "decided_positive": positive,
    }


def _brute(arrays: dict[str, Any], t: float) -> dict[str, Any]:
    auto = arrays["confidence"] >= t
    y, positive = arrays["y"] == 1, arrays["decided_positive"]
    fp = int((auto & positive & ~y).sum())
    fn = int((auto & ~positive & y).sum())
    chosen = auto & positive
    return {
        "automation_rate": auto.mean(),
        "precision_auto": y[chosen].mean() if chosen.any() else None,
        "accuracy_auto": arrays["prediction_correct"][auto].mean() if auto.any() else None,
        "cost_per_1000": 1000 * (50 * fp + 500 * fn + 8 * (~auto).sum()) / len(y),
    }


def _frame(arrays: dict[str, Any]) -> pl.DataFrame:
    y, positive = arrays["y"], arrays["decided_positive"]
    return pl.DataFrame(
        {
            "label": [str(v) for v in y],
            "prediction": ["1" if d else "0" for d in positive],
            "confidence": arrays["confidence"],
            "set_size": np.ones(len(y), dtype=np.int64),
            "y": y,
            "probability": np.where(positive, arrays["confidence"], 1 - arrays["confidence"]),
        }
    )


def test_curve_matches_brute_force_at_every_threshold() -> None:
    arrays = _binary(500)
    curve = coverage_risk(**arrays, costs=COSTS)
    for index, threshold in enumerate(curve["threshold"]):
        for metric, value in _brute(arrays, threshold).items():
            expected = None if value is None else pytest.approx(value)
            assert curve[metric][index] == expected, (metric, threshold)


def test_candidates_are_every_distinct_confidence_and_the_ends() -> None:
    arrays = _binary(300)
    curve = coverage_risk(**arrays, costs=COSTS)
    assert curve["threshold"] == sorted({0.0, 1.0, *arrays["confidence"].tolist()})
    assert curve["automation_rate"][0] == 1.0
    assert curve["cost_per_1000"][-1] == pytest.approx(8000.0)  # nothing above confidence 1


def test_multiclass_errors_cost_the_mean_of_both_error_costs() -> None:
    curve = coverage_risk(
        None, [True, False, False, True], [0.9, 0.8, 0.6, 0.5], None, costs=COSTS, thresholds=[0.7]
    )
    assert curve["automation_rate"] == [0.5]
    assert curve["accuracy_auto"] == [0.5]
    assert curve["precision_auto"] == [None]
    assert curve["cost_per_1000"] == [pytest.approx(1000 * (275 + 2 * 8) / 4)]


CURVE = {
    "threshold": [0.0, 0.5, 0.6, 0.7, 0.8, 1.0],
    "automation_rate": [1.0, 1.0, 0.8, 0.7, 0.4, 0.0],
    "precision_auto": [0.5, 0.5, 0.7, 0.65, 0.9, None],
    "accuracy_auto": [0.6, 0.6, 0.7, 0.8, 0.9, None],
}


def test_automation_target_takes_the_highest_threshold_that_meets_it() -> None:
    assert choose_threshold(CURVE, "automation_rate", 0.70) == 0.7
    assert choose_threshold(CURVE, "automation_rate", 0.75) == 0.6


def test_precision_target_takes_the_lowest_threshold_that_meets_it() -> None:
    assert choose_threshold(CURVE, "precision_auto", 0.66) == 0.6
    assert choose_threshold(CURVE, "accuracy_auto", 0.8) == 0.7


def test_unreachable_target_is_refused_with_the_best_value() -> None:
    with pytest.raises(ReviewError, match=r"precision_auto >= 0\.95.*best is 0\.9000") as caught:
        choose_threshold(CURVE, "precision_auto", 0.95)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("automation_rate=0.70", ("automation_rate", 0.7)),
        ("precision_auto>=0.9", ("precision_auto", 0.9)),
    ],
)
def test_target_reads_metric_and_value(text: str, expected: tuple[str, float]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["recall_auto=0.5", "automation_rate=1.5", "automation_rate"])
def test_bad_target_is_refused(text: str) -> None:
    with pytest.raises(ReviewError, match="not a tuning target"):
        parse_target(text)


def test_tuned_threshold_is_verified_on_the_other_half() -> None:
    success = [
        SuccessMetric.from_text(t) for t in ("automation_rate >= 0.6", "review_sla_hours <= 24")
    ]
    tuned = tune_holdout(
        _frame(_binary(4000, seed=1)),
        target=("automation_rate", 0.7),
        costs=COSTS,
        success=success,
        seed=3,
    )
    assert tuned.split == {"seed": 3, "tuning_rows": 2000, "verification_rows": 2000}
    assert tuned.promised["automation_rate"] >= 0.7
    assert tuned.delivered["automation_rate"]
    assert tuned.costs["all_manual"] == 8000.0
    assert [(s["metric"], s["met"]) for s in tuned.success] == [
        ("automation_rate", True),
        ("review_sla_hours", None),
    ]
    assert any(row["chosen"] and row["threshold"] == tuned.threshold for row in tuned.nearby)


def test_regression_and_multiclass_precision_are_refused() -> None:
    regression = pl.DataFrame({"y": [1.0] * 30, "prediction": [1.0] * 30})
    with pytest.raises(ReviewError, match="regression"):
        tune_holdout(regression, target=("automation_rate", 0.7), costs=COSTS)
    multiclass = _frame(_binary(40)).drop("y", "probability")
    with pytest.raises(ReviewError, match="binary classifiers only"):
        tune_holdout(multiclass, target=("precision_auto", 0.7), costs=COSTS)


def _edit(ws: Workspace) -> None:
    """A fast estimator for the example (as in tests/runs/test_train.py)."""
    path = ws.settings.project_dir / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["training"]["params"] = {"max_iter": 40}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws.__dict__.pop("project", None)


def test_policy_tuned_on_credit_delivers_its_promise_and_is_stored(workspace: Workspace) -> None:
    _api.ingest_path(workspace, CREDIT)
    _edit(workspace)
    _api_models.train_model(workspace)
    tuned = tune_policy(workspace, target="automation_rate=0.70", reason="first policy")
    for metric in ("automation_rate", "precision_auto"):
        low, high = tuned.verified[f"{metric}_interval"]
        assert low <= tuned.promised[metric] <= high, metric
    assert {s["metric"]: s["met"] for s in tuned.success} == {
        "automation_rate": tuned.verified["automation_rate"] >= 0.70,
        "precision_auto": tuned.verified["precision_auto"] >= 0.60,
        "review_sla_hours": None,
    }
    with workspace.store.transaction() as session:
        [record] = session.scalars(select(DecisionPolicyRecord)).all()
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "policy.tune"))
        stored = current_policy(session, tuned.model_version_id)
    assert audit is not None
    assert (audit.target, audit.reason) == ("credit-default@1", "first policy")
    assert stored is not None
    assert (stored["id"], stored["confidence_below"]) == (record.id, tuned.threshold)
    assert tuned.chart == f"policies/credit-default/1/{record.id}.svg"
    assert workspace.objects.get_bytes(tuned.chart).startswith(b"<svg")


def test_cli_tune_prints_the_policy_as_json(
    example_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_ACTOR", "tester")
    ws = Workspace(load_settings({"LOOPLINE_ACTOR": "tester"}, project_dir=example_project))
    _api.ingest_path(ws, CREDIT)
    _edit(ws)
    _api_models.train_model(ws)
    ws.close()
    args = ["--project", str(example_project), "policy", "tune"]
    code = main([*args, "--target", "automation_rate=0.70", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["model"] == "credit-default@1"
    for key in ("threshold", "promised", "verified", "costs", "success", "delivered", "chart"):
        assert key in out
    assert main([*args, "--target", "automation_rate=1.5", "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "review-refused"
