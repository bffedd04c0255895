"""Experiments analysed from the prediction log and labels, decided, and acted on.

The numbers in each analysis are recomputed with the statistics module (and statsmodels for the
per-arm Wilson intervals) on the same counts; SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from loopline import _api_models
from loopline._workspace import Workspace
from loopline.experiments import (
    analyze_experiment,
    compare_means,
    compare_proportions,
    get_experiment,
    plan_sample_size,
    sequential_test,
    srm_check,
    standardized_effect,
)
from loopline.registry import current_alias, get_version
from loopline.serving import current_deployment
from loopline.store import GateResult, list_audit
from tests.experiments.conftest import USE_CASE, log_arm, look_time


def _traffic(
    ws: Workspace,
    started: dict[str, Any],
    champion: tuple[int, int, int],
    challenger: tuple[int, int, int],
    **kwargs: Any,
) -> None:
    """(answers, labelled, correct) for each arm."""
    for arm, model, (answers, labelled, correct) in (
        ("champion", started["champion"], champion),
        ("challenger", started["challenger"], challenger),
    ):
        log_arm(
            ws,
            started["created_at"],
            arm=arm,
            model=model,
            answers=answers,
            labelled=labelled,
            correct=correct,
            **kwargs,
        )


def _serving(ws: Workspace) -> list[tuple[str, str]]:
    with ws.store.transaction() as session:
        current = current_deployment(session, USE_CASE)
        assert current is not None
        return [(arm["model"], arm["role"]) for arm in current.arms]


def test_the_plan_is_fixed_from_the_project_file_and_the_champion(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    with deployed.store.transaction() as session:
        row = get_experiment(session, experiment["id"])
        champion = get_version(session, row.champion)
        config = row.config
    baseline = champion.metrics["accuracy"]
    assert config["baseline"] == baseline
    planned = plan_sample_size(baseline, 0.1, alpha=0.05, power=0.8)
    assert config["planned_n"] == max(planned, 250)
    assert config["tau"] == pytest.approx(standardized_effect(baseline, 0.1))
    assert config["weights"] == {"champion": 0.5, "challenger": 0.5}
    assert config["guardrails"] == {"escalation_rate": 0.05, "latency_ms": 50.0}


def test_a_clearly_better_challenger_is_promoted_and_served_alone(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _traffic(deployed, experiment, (300, 300, 180), (300, 300, 270))
    result = analyze_experiment(deployed, now=look_time(experiment), act=True)
    analysis = result["analysis"]
    assert analysis["decision"] == "promote"
    assert analysis["reason"].startswith("treatment is better")
    assert analysis["action"]["taken"] == "promoted"
    assert result["status"] == "decided"
    assert _serving(deployed) == [(experiment["challenger"], "champion")]
    with deployed.store.transaction() as session:
        assert current_alias(session, USE_CASE, "champion").version == int(  # type: ignore[union-attr]
            experiment["challenger"].split("@")[1]
        )
        assert list_audit(session, action="experiment.decide")[0].target == str(experiment["id"])


def test_the_numbers_equal_the_statistics_module_on_the_same_counts(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _traffic(deployed, experiment, (120, 100, 60), (80, 70, 50))
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    expected = compare_proportions(60, 100, 50, 70, metric="accuracy")
    assert analysis["comparison"] == dataclasses.asdict(expected)
    first = sequential_test(60, 100, 50, 70, tau=analysis["sequential"]["tau"])
    assert analysis["sequential"] == dataclasses.asdict(first)
    assert analysis["srm"] == dataclasses.asdict(srm_check([120, 80], [0.5, 0.5]))
    low, high = proportion_confint(50, 70, alpha=0.05, method="wilson")
    arm = analysis["arms"]["challenger"]
    assert (arm["answers"], arm["labelled"], arm["estimate"]) == (80, 70, 50 / 70)
    assert (arm["ci_low"], arm["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    # a second look carries the first forward (running minimum, intersected interval)
    _traffic(deployed, experiment, (10, 10, 10), (10, 10, 0))
    again = analyze_experiment(deployed, now=look_time(experiment))
    second = sequential_test(70, 110, 50, 80, tau=first.tau, previous=first)
    assert again["analysis"]["sequential"] == dataclasses.asdict(second)
    assert again["looks"] == 2
    assert [look["labelled"] for look in again["series"]] == [[100, 70], [110, 80]]


def test_a_clearly_worse_challenger_stops_for_harm_and_is_rolled_back(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _traffic(deployed, experiment, (300, 300, 270), (300, 300, 150))
    result = analyze_experiment(deployed, now=look_time(experiment), act=True)
    assert result["analysis"]["decision"] == "stop_harm"
    assert result["analysis"]["action"]["taken"] == "rolled_back"
    assert (result["status"], result["decision"]) == ("decided", "stop_harm")
    assert _serving(deployed) == [(experiment["champion"], "champion")]


def test_equal_arms_at_the_planned_size_stop_with_no_difference(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    planned = experiment_planned(deployed, experiment)
    _traffic(
        deployed, experiment, (planned, planned, planned // 2), (planned, planned, planned // 2)
    )
    result = analyze_experiment(deployed, now=look_time(experiment), act=True)
    assert result["analysis"]["decision"] == "stop_no_difference"
    assert result["decision"] == "stop_no_difference"
    assert _serving(deployed) == [(experiment["champion"], "champion")]


def experiment_planned(ws: Workspace, started: dict[str, Any]) -> int:
    with ws.store.transaction() as session:
        return int(get_experiment(session, started["id"]).config["planned_n"])


def test_a_sample_ratio_mismatch_continues_and_says_why(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    _traffic(deployed, experiment, (900, 300, 150), (100, 100, 95))
    result = analyze_experiment(deployed, now=look_time(experiment), act=True)
    analysis = result["analysis"]
    assert analysis["decision"] == "continue"
    assert analysis["reason"].startswith("sample ratio mismatch")
    assert analysis["srm"]["mismatch"] is True
    assert result["status"] == "running"
    assert len(_serving(deployed)) == 2


def test_a_challenger_that_escalates_far_more_breaches_its_guardrail(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    for arm, model, reviews in (
        ("champion", experiment["champion"], 20),
        ("challenger", experiment["challenger"], 150),
    ):
        log_arm(
            deployed,
            experiment["created_at"],
            arm=arm,
            model=model,
            answers=400,
            labelled=50,
            correct=25,
            reviews=reviews,
        )
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    assert analysis["decision"] == "stop_harm"
    assert analysis["reason"] == "guardrail breached: escalation_rate"
    rate = next(g for g in analysis["guardrails"] if g["name"] == "escalation_rate")
    bounds = compare_proportions(20, 400, 150, 400)
    assert (rate["control"], rate["treatment"]) == (0.05, 0.375)
    assert rate["ci_low"] == pytest.approx(bounds.ci_low, abs=1e-12)


def test_no_labels_yet_means_waiting(deployed: Workspace, experiment: dict[str, Any]) -> None:
    _traffic(deployed, experiment, (50, 0, 0), (50, 0, 0))
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    assert analysis["decision"] == "continue"
    assert analysis["reason"].startswith("waiting for labels")
    assert analysis["comparison"] is None


def test_answers_before_the_experiment_and_shadow_copies_do_not_count(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    from datetime import timedelta

    before = experiment["created_at"] - timedelta(seconds=5)
    log_arm(deployed, before, arm="champion", model=experiment["champion"], answers=40)
    _traffic(deployed, experiment, (30, 0, 0), (20, 0, 0))
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    assert [analysis["arms"][r]["answers"] for r in ("champion", "challenger")] == [30, 20]


def test_approval_required_waits_for_a_person_then_promotes(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    # the plan is fixed when the experiment starts: make this one approval-gated
    _set_config(deployed, experiment["id"], approval=True)
    _traffic(deployed, experiment, (300, 300, 180), (300, 300, 270))
    waiting = analyze_experiment(deployed, now=look_time(experiment), act=True)
    assert waiting["analysis"]["action"]["taken"] == "awaiting_approval"
    assert "waiting for approval" in waiting["reason"]
    assert waiting["status"] == "running"
    assert len(_serving(deployed)) == 2
    again = analyze_experiment(deployed, now=look_time(experiment), act=True)
    assert again["analysis"]["action"]["taken"] == "awaiting_approval"
    _api_models.approve_model(deployed, experiment["challenger"], reason="looks good")
    done = analyze_experiment(deployed, now=look_time(experiment), act=True)
    assert done["analysis"]["action"]["taken"] == "promoted"
    assert _serving(deployed) == [(experiment["challenger"], "champion")]


def _set_config(ws: Workspace, experiment_id: int, **values: Any) -> None:
    with ws.store.transaction() as session:
        row = get_experiment(session, experiment_id)
        row.config = {**row.config, **values}


def test_a_promotion_refused_by_a_gate_is_reported_and_the_experiment_runs_on(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    with deployed.store.transaction() as session:
        version = get_version(session, experiment["challenger"])
        session.add(
            GateResult(
                model_version_id=version.id,
                gate="approvals >= 1",
                measured=0.0,
                bound=1.0,
                verdict="pending",
                detail={},
                context="approval",
            )
        )
    _traffic(deployed, experiment, (300, 300, 180), (300, 300, 270))
    result = analyze_experiment(deployed, now=look_time(experiment), act=True)
    action = result["analysis"]["action"]
    assert result["analysis"]["decision"] == "promote"
    assert action["taken"] is None
    assert action["error"]["code"] == "gate-failed"
    assert result["status"] == "running"
    assert len(_serving(deployed)) == 2


def test_an_outcome_metric_compares_means_with_welch(
    deployed: Workspace, experiment: dict[str, Any]
) -> None:
    # as if the project had said metric: outcome when the experiment started
    with deployed.store.transaction() as session:
        row = get_experiment(session, experiment["id"])
        row.primary_metric, row.kind = "outcome", "mean"
    rng = np.random.default_rng(7)
    control, treatment = rng.normal(10, 2, 60).round(3), rng.normal(11, 2, 50).round(3)
    for arm, model, values in (
        ("champion", experiment["champion"], control),
        ("challenger", experiment["challenger"], treatment),
    ):
        log_arm(
            deployed,
            experiment["created_at"],
            arm=arm,
            model=model,
            answers=len(values),
            outcome=[float(v) for v in values],
        )
    analysis = analyze_experiment(deployed, now=look_time(experiment))["analysis"]
    expected = compare_means(
        control.mean(),
        control.var(ddof=1),
        60,
        treatment.mean(),
        treatment.var(ddof=1),
        50,
        metric="outcome",
    )
    for key in ("difference", "ci_low", "ci_high", "p_value", "statistic"):
        assert analysis["comparison"][key] == pytest.approx(getattr(expected, key), rel=1e-12)
