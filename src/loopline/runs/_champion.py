"""The champion on the candidate's test rows: its metrics and paired-bootstrap differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline._workspace import Workspace
from loopline.registry._artifacts import load_model
from loopline.registry._registry import current_alias
from loopline.training._bootstrap import paired_bootstrap
from loopline.training._evaluate import binary_outcome
from loopline.training._metrics import binary_metrics, regression_metrics, roc_auc
from loopline.training._model import TrainedModel

__all__ = ["compare_with_champion"]


def compare_with_champion(
    ws: Workspace,
    use_case: str,
    model: TrainedModel,
    test: pd.DataFrame,
    labels: pd.Series,
    gates: tuple[str, ...],
    seed: int,
) -> tuple[dict[str, Any] | None, dict[str, dict[str, float]]]:
    """The champion's metrics on the same test rows, and paired-bootstrap differences."""
    with ws.store.transaction() as session:
        champion = current_alias(session, use_case, "champion")
        found = (champion.artifact_prefix, champion.manifest_sha256) if champion else None
    if found is None:
        return None, {}
    old = load_model(ws.objects, *found)
    if set(old.signature.names) - set(test.columns):
        return None, {}
    if model.task == "regression":
        y = labels.to_numpy(dtype=np.float64)
        return regression_metrics(y, old.predict(test)), {}
    if model.task != "binary_classification":
        return None, {}
    y = binary_outcome(model, labels)
    new_p, old_p = model.positive_proba(test), old.positive_proba(test)
    champion_metrics = binary_metrics(y, old_p, threshold=old.threshold)
    from loopline.training._metrics import expected_calibration_error

    champion_metrics["ece"] = expected_calibration_error(y, old_p)
    comparisons: dict[str, dict[str, float]] = {}
    used = {g.split("champion.")[1].split()[0].rstrip(")") for g in gates if "champion." in g}
    for metric in sorted(used):
        if metric == "roc_auc":
            interval = paired_bootstrap(y, old_p, new_p, roc_auc, seed=seed)
            comparisons[metric] = {
                "difference": float(interval["difference"]),
                "low": float(interval["low"]),
                "high": float(interval["high"]),
            }
    return champion_metrics, comparisons
