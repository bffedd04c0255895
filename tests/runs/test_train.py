"""Training runs end to end: a gated, calibrated, registered model version with its card."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from loopline import _api, _api_models
from loopline._workspace import Workspace
from loopline.data._datasets import load_version
from loopline.errors import (
    GateFailedError,
    IntegrityError,
    RegistryError,
    TrainingError,
    UserCodeError,
)
from loopline.registry import alias_at
from loopline.store import ModelVersion, Run, utcnow
from tests.conftest import EXAMPLE

CREDIT = EXAMPLE / "data" / "credit_default.csv.gz"


def _edit(ws: Workspace, change: dict) -> None:  # type: ignore[type-arg]
    """Change loopline.yaml (top-level keys merged one level deep) and reload the project."""
    path = ws.settings.project_dir / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key].update(value)
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ws.__dict__.pop("project", None)


@pytest.fixture
def trained(workspace: Workspace) -> Workspace:
    """The example with its data ingested and a fast estimator."""
    _api.ingest_path(workspace, CREDIT)
    _edit(workspace, {"training": {"params": {"max_iter": 40, "learning_rate": 0.1}}})
    return workspace


def _versions(ws: Workspace) -> int:
    with ws.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(ModelVersion)) or 0)


def test_train_registers_a_gated_version_with_evaluation(trained: Workspace) -> None:
    result = _api_models.train_model(trained)
    assert (result.use_case, result.version, result.dataset) == ("credit-default", 1, "credit@1")
    assert result.state == "candidate"
    for metric in (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "f1",
        "cost_per_1000",
        "conformal_coverage",
        "latency_p99_ms",
    ):
        assert metric in result.metrics
    assert 0.7 < result.metrics["roc_auc"] < 0.9
    verdicts = {g["gate"]: g["verdict"] for g in result.gates}
    assert verdicts["roc_auc >= champion.roc_auc - 0.005"] == "skipped"
    assert verdicts["roc_auc >= 0.75"] == "passed"
    shown = _api_models.show_model(trained, "credit-default@1")
    assert shown["evaluation"]["costs"]["all_review"] == 8 * 1000
    assert set(shown["evaluation"]["slices"]) == {"SEX", "EDUCATION"}
    assert [f["name"] for f in shown["signature"]["inputs"]][:2] == ["LIMIT_BAL", "SEX"]


def test_model_card_renders_from_verified_artifact(trained: Workspace) -> None:
    _api_models.train_model(trained)
    card = _api_models.model_card(trained, "credit-default@1")
    assert card.startswith("# Model card: credit-default@1")
    for section in (
        "## Intended use",
        "## Metrics",
        "## Slices by SEX",
        "## Calibration",
        "## Gates",
        "## Known limits",
    ):
        assert section in card


def test_lineage_runs_from_dataset_to_model(trained: Workspace) -> None:
    result = _api_models.train_model(trained)
    tree = _api.lineage(trained, "model_version:credit-default@1", up=True)
    assert f"run:{result.run}" in tree.names()
    assert "dataset_version:credit@1" in tree.names()
    assert any(name.startswith("source_file:") for name in tree.names())


def test_failing_gate_rejects_and_blocks_promotion(trained: Workspace) -> None:
    _edit(trained, {"gates": ["roc_auc >= 0.99", "ece <= 0.05"]})
    result = _api_models.train_model(trained)
    assert result.state == "rejected"
    with pytest.raises(RegistryError, match="rejected"):
        _api_models.promote_model(trained, "credit-default@1", to="champion", reason="try")


def test_promotion_names_failing_gate_value_and_bound(trained: Workspace) -> None:
    _edit(trained, {"gates": ["approvals >= 1"]})
    _api_models.train_model(trained)
    with pytest.raises(GateFailedError) as caught:
        _api_models.promote_model(trained, "credit-default@1", to="champion", reason="ship it")
    [problem] = caught.value.problems
    assert "approvals >= 1: pending" in problem.msg
    assert "bound 1.0" in problem.msg
    _api_models.approve_model(trained, "credit-default@1", reason="reviewed the card")
    promoted = _api_models.promote_model(
        trained, "credit-default@1", to="champion", reason="ship it"
    )
    assert promoted["aliases"] == ["champion"]


def test_champion_gate_compares_on_the_same_rows_and_rollback(trained: Workspace) -> None:
    _api_models.train_model(trained)
    _api_models.promote_model(trained, "credit-default@1", to="champion", reason="first")
    before_second = utcnow()
    second = _api_models.train_model(trained)
    gate = next(g for g in second.gates if "champion" in g["gate"])
    assert gate["verdict"] in ("passed", "failed")
    comparison = gate["detail"]["comparison"]["roc_auc"]
    assert comparison["low"] <= comparison["difference"] <= comparison["high"]
    if second.state == "candidate":
        _api_models.promote_model(trained, "credit-default@2", to="champion", reason="better")
        back = _api_models.rollback_champion(trained, "credit-default", reason="bad canary")
        assert (back["from"], back["to"]) == (2, 1)
    with trained.store.transaction() as session:
        then = alias_at(session, "credit-default", "champion", before_second)
        assert then is not None
        assert then.version == 1
        assert (
            alias_at(session, "credit-default", "champion", before_second - timedelta(days=1))
            is None
        )
    actions = [e["action"] for e in _api.audit(trained, action="model")]
    assert {"model.promote", "model.register"} <= set(actions)


def test_tampered_artifact_refuses_to_load(trained: Workspace) -> None:
    _api_models.train_model(trained)
    model = _api_models.load_trained_model(trained, "credit-default@1")
    rows = load_version(trained, "credit@1").head(3)
    assert model.positive_proba(rows).shape == (3,)
    shown = _api_models.show_model(trained, "credit-default@1")
    pickle_path = (
        Path(trained.settings.object_store_url) / shown["artifact"]["prefix"] / "model.pkl"
    )
    pickle_path.write_bytes(pickle_path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match="modified after it was written"):
        _api_models.load_trained_model(trained, "credit-default@1")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"training": {"estimator": "sklearn.nope.Model"}},
            TrainingError,
            "Cannot import the estimator",
        ),
        (
            {"training": {"estimator": "sklearn.ensemble.NoSuchModel"}},
            TrainingError,
            "has no class",
        ),
        (
            {"training": {"params": {"max_iter": -5}}},
            UserCodeError,
            "HistGradientBoostingClassifier",
        ),
        ({"training": {"slices": ["SEXX"]}}, TrainingError, "SEXX"),
        ({"gates": ["roc_aux >= 0.7"]}, TrainingError, "unknown metric 'roc_aux'"),
    ],
)
def test_bad_configuration_fails_clearly_and_registers_nothing(
    trained: Workspace,
    change: dict,
    error: type[Exception],
    message: str,  # type: ignore[type-arg]
) -> None:
    _edit(trained, change)
    with pytest.raises(error, match=message):
        _api_models.train_model(trained)
    assert _versions(trained) == 0


def test_one_class_target_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    import polars as pl

    only_ones = pl.read_csv(CREDIT).filter(pl.col("default_payment_next_month") == 1).head(500)
    only_ones.write_csv(tmp_path / "ones.csv")
    _api.ingest_path(workspace, tmp_path / "ones.csv")
    with pytest.raises(TrainingError, match="one class only"):
        _api_models.train_model(workspace)
    assert _versions(workspace) == 0


def test_failed_fit_is_recorded_on_the_run(trained: Workspace) -> None:
    _edit(trained, {"training": {"params": {"max_iter": -5}}})
    with pytest.raises(UserCodeError):
        _api_models.train_model(trained)
    with trained.store.transaction() as session:
        [run] = session.scalars(select(Run)).all()
        assert run.status == "failed"
        assert "max_iter" in (run.error or "")


def test_adult_example_trains(tmp_path: Path, database_url: str) -> None:
    import shutil

    from loopline.settings import load_settings

    project = tmp_path / "adult"
    shutil.copytree(EXAMPLE.parent / "adult-income", project)
    ws = Workspace(load_settings({"LOOPLINE_DATABASE_URL": database_url}, project_dir=project))
    try:
        ingest = _api.ingest_path(ws, project / "data" / "adult.csv.gz")
        assert ingest.status == "accepted"
        _edit(ws, {"training": {"params": {"max_iter": 60}}})
        result = _api_models.train_model(ws)
        assert result.metrics["roc_auc"] > 0.88
        assert result.state == "candidate"
        card = json.loads(json.dumps(_api_models.show_model(ws, "adult-income@1")["card"]))
        assert card["objective"]["positive_class"] == ">50K"
    finally:
        ws.close()


def test_optuna_tuning_searches_the_declared_space(trained: Workspace) -> None:
    _edit(
        trained,
        {
            "training": {
                "tuning": {
                    "trials": 3,
                    "metric": "roc_auc",
                    "space": {
                        "learning_rate": {"low": 0.05, "high": 0.3, "log": True},
                        "max_leaf_nodes": {"low": 8, "high": 31},
                    },
                }
            }
        },
    )
    result = _api_models.train_model(trained)
    assert "tuning_s" in result.timings
    with trained.store.transaction() as session:
        [run] = session.scalars(select(Run)).all()
        assert run.params["tuning"]["trials"] == 3
        tuned = run.params["tuned_params"]
        assert 0.05 <= tuned["learning_rate"] <= 0.3
        assert 8 <= tuned["max_leaf_nodes"] <= 31
        assert tuned["max_iter"] == 40  # the fixed params are kept


def test_novelty_detector_flags_the_declared_share_and_extreme_rows(trained: Workspace) -> None:
    _api_models.train_model(trained)
    model = _api_models.load_trained_model(trained, "credit-default@1")
    rows = load_version(trained, "credit@1").to_pandas()
    flagged = model.is_novel(rows).mean()
    assert 0.0 < flagged < 0.05  # novelty_rate is 0.01 of the training rows
    extreme = rows.head(1).copy()
    for column in (
        "LIMIT_BAL",
        *(f"BILL_AMT{i}" for i in range(1, 7)),
        *(f"PAY_AMT{i}" for i in range(1, 7)),
    ):
        extreme[column] = rows[column].max() * 20  # far outside every training value
    for column in ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"):
        extreme[column] = 8
    assert model.is_novel(extreme).tolist() == [True]
