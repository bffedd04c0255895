"""A deployment says what its decision policy will do, on the version's held-out rows, in the
project's business terms: automation, precision, cost and each declared success metric.

The numbers are checked against the held-out answers read back from the registry and counted
by hand; the threshold is the one serving applies (the champion's tuned policy, else the
project file's).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest

from loopline import _api_serving
from loopline._workspace import Workspace
from loopline.cli import main
from loopline.registry import get_version, read_file
from loopline.review import tune_policy
from loopline.review._tuning import _HOLDOUT
from tests.serving.conftest import deployed_project

MODEL = "credit-default@1"


@pytest.fixture
def ws(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    monkeypatch.setenv("LOOPLINE_AUTH", "off")
    monkeypatch.setenv("LOOPLINE_ACTOR", "tester")
    workspace = deployed_project(tmp_path_factory.mktemp("outlook"), auth=False)
    yield workspace
    workspace.close()


def _holdout(ws: Workspace) -> pl.DataFrame:
    with ws.store.transaction() as session:
        version = get_version(session, MODEL)
        prefix, manifest = version.artifact_prefix, version.manifest_sha256
    return pl.read_parquet(io.BytesIO(read_file(ws.objects, prefix, manifest, _HOLDOUT)))


def _by_hand(holdout: pl.DataFrame, threshold: float) -> tuple[float, float | None]:
    """Automation and precision of automatic positives at ``threshold``, counted row by row."""
    confidence = holdout["confidence"].to_numpy()
    automatic = confidence >= threshold
    decided_positive = holdout["prediction"].to_numpy()[automatic] == "1"
    true_positive = decided_positive & (holdout["y"].to_numpy()[automatic] == 1)
    precision = true_positive.sum() / decided_positive.sum() if decided_positive.any() else None
    return float(automatic.mean()), None if precision is None else float(precision)


def test_deploy_reports_the_project_file_threshold_on_held_out_rows(ws: Workspace) -> None:
    info = _api_serving.deploy_model(ws, MODEL, strategy="direct", reason="test")

    policy = info["policy"]
    declared = ws.project.spec.serving.escalation.confidence_below
    assert policy["source"] == "project file"
    assert policy["confidence_below"] == declared
    holdout = _holdout(ws)
    automation, precision = _by_hand(holdout, declared)
    assert policy["rows"] == holdout.height
    assert policy["automation_rate"] == pytest.approx(automation)
    assert policy["precision_auto"] == pytest.approx(precision)
    success = {s["metric"]: s for s in policy["success"]}
    assert success["automation_rate"]["value"] == pytest.approx(automation)
    assert success["automation_rate"]["met"] is (automation >= 0.70)
    assert success["review_sla_hours"]["met"] is None  # not a property of held-out rows


def test_a_tuned_policy_is_the_one_reported(ws: Workspace) -> None:
    tuned = tune_policy(ws, model_ref=MODEL, target="automation_rate=0.70")

    policy = _api_serving.deploy_model(ws, MODEL, strategy="direct", reason="test")["policy"]

    assert policy["source"] == f"tuned policy {tuned.policy_id}"
    assert policy["confidence_below"] == tuned.threshold
    automation, _ = _by_hand(_holdout(ws), tuned.threshold)
    assert policy["automation_rate"] == pytest.approx(automation)
    # tuned for 70 % on one half and verified on the other: the whole holdout is close
    assert abs(automation - 0.70) < 0.03
    low, high = policy["automation_rate_interval"]
    assert low <= automation <= high


def test_the_cli_prints_what_is_missed_and_how_to_tune_it(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    project = str(ws.settings.project_dir)
    assert main(["--project", project, "deploy", MODEL, "--reason", "t", "--json"]) == 0
    policy = json.loads(capsys.readouterr().out)["policy"]
    assert main(["--project", project, "deploy", MODEL, "--reason", "t"]) == 0
    printed = " ".join(capsys.readouterr().out.split())

    assert f"{policy['automation_rate']:.1%} automatic" in printed
    automation = next(s for s in policy["success"] if s["metric"] == "automation_rate")
    assert automation["met"] is False  # the example's untuned 0.80 threshold escalates most rows
    assert f"automation_rate >= 0.70: {automation['value']:.3f}" in printed
    assert f"loopline policy tune --model {MODEL} --target automation_rate=0.70" in printed
    assert np.isfinite(policy["cost_per_1000"])


def test_a_version_without_held_out_answers_deploys_without_an_outlook(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # versions registered before loopline kept held-out answers have no holdout.parquet
    from loopline.review import _tuning_store

    real = _tuning_store.read_optional_file
    monkeypatch.setattr(
        _tuning_store,
        "read_optional_file",
        lambda *args: None if args[-1] == _HOLDOUT else real(*args),
    )

    info = _api_serving.deploy_model(ws, MODEL, strategy="direct", reason="test")

    assert info["policy"] is None
    assert info["arms"][0]["model"] == MODEL
