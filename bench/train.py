"""The platform's own overhead in ``loopline train`` against a bare script doing the same fit.

Overhead = loopline's wall time minus the time spent fitting and predicting: inside the
scikit-learn pipeline's ``fit`` and the model's ``predict``/``predict_proba`` (the pipeline plus
calibration; measured by wrapping them, nested calls counted once). The bare script reads the
same data, splits it, fits the same pipeline (contract-derived preprocessing + the estimator from
``loopline.yaml``), predicts the test rows and computes the same headline metrics.

    python -m bench.train --runs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sklearn.pipeline import Pipeline

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "credit-default"


class _Clock:
    """Accumulates the time spent fitting and predicting.

    Wraps the scikit-learn pipeline's ``fit`` and loopline's ``TrainedModel.predict_proba`` and
    ``predict`` (the model's own prediction: pipeline, then calibration), and the novelty
    detector's ``IsolationForest.fit`` and ``score_samples`` (a second model, fitted on the
    training rows' features for the escalation policy). Nested calls count once.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.depth = 0
        self.originals: list[tuple[type, str, Callable[..., Any]]] = []

    def __enter__(self) -> _Clock:
        from sklearn.ensemble import IsolationForest

        from loopline.training import TrainedModel

        targets: list[tuple[type, str]] = [
            (IsolationForest, "fit"),
            (IsolationForest, "score_samples"),
            (Pipeline, "fit"),
            (Pipeline, "predict"),
            (Pipeline, "predict_proba"),
            (TrainedModel, "predict_proba"),
            (TrainedModel, "predict"),
        ]
        for owner, name in targets:
            original = getattr(owner, name)
            self.originals.append((owner, name, original))

            def timed(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                self.depth += 1
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.depth -= 1
                    if self.depth == 0:
                        self.seconds += time.perf_counter() - start

            setattr(owner, name, timed)
        return self

    def __exit__(self, *_: object) -> None:
        for owner, name, original in self.originals:
            setattr(owner, name, original)


def _project(root: Path) -> Path:
    project = root / "project"
    shutil.copytree(EXAMPLE, project)
    return project


def loopline_run(root: Path) -> dict[str, float]:
    """One ``loopline train`` in-process on a freshly ingested example."""
    from loopline._api import ingest_path
    from loopline._api_models import train_model
    from loopline._workspace import Workspace
    from loopline.settings import load_settings

    project = _project(root)
    ws = Workspace(load_settings({"LOOPLINE_ACTOR": "bench"}, project_dir=project))
    ingest_path(ws, project / "data" / "credit_default.csv.gz")
    with _Clock() as clock:
        start = time.perf_counter()
        train_model(ws)
        total = time.perf_counter() - start
    ws.close()
    return {"total": total, "estimator": clock.seconds, "overhead": total - clock.seconds}


def bare_run(root: Path) -> dict[str, float]:
    """The same data, split, pipeline and headline metrics, written by hand."""
    import polars as pl
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        roc_auc_score,
    )
    from sklearn.model_selection import train_test_split

    from loopline.data import load_contract
    from loopline.spec import load_project
    from loopline.training import signature_from_contract
    from loopline.training._pipeline import build_pipeline

    project = load_project(EXAMPLE)
    spec, training = project.spec, project.spec.training
    assert training is not None
    contract = load_contract(project.resolve(spec.data.contract))
    signature = signature_from_contract(
        contract, task="binary_classification", target=spec.objective.target, drop=training.drop
    )
    start = time.perf_counter()
    frame = pl.read_csv(EXAMPLE / "data" / "credit_default.csv.gz").to_pandas()
    y = frame[spec.objective.target]
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=y)
    pipeline = build_pipeline(signature, training.estimator, dict(training.params))
    pipeline.fit(train[signature.names], train[spec.objective.target])
    proba = pipeline.predict_proba(test[signature.names])[:, 1]
    truth = test[spec.objective.target]
    decided = proba >= 0.5
    [f(truth, proba) for f in (roc_auc_score, average_precision_score, log_loss, brier_score_loss)]
    [f(truth, decided) for f in (accuracy_score, f1_score)]
    return {"total": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    """Run both and write bench/results/train.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/train.json"))
    args = parser.parse_args(argv)
    console = Console(width=120)
    runs: dict[str, list[dict[str, float]]] = {"loopline": [], "bare": []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="loopline-bench-train-") as root:
            runs["bare"].append(bare_run(Path(root)))
            runs["loopline"].append(loopline_run(Path(root)))
        console.print(f"run {run + 1}: {runs['loopline'][-1]} vs bare {runs['bare'][-1]}")
    median = {
        tool: {key: statistics.median(r[key] for r in values) for key in values[0]}
        for tool, values in runs.items()
    }
    ratio = median["loopline"]["overhead"] / median["bare"]["total"]
    table = Table(title="loopline train on the bundled credit example (median)")
    for column in ("", "total s", "in estimator s", "overhead s"):
        table.add_column(column)
    loop = median["loopline"]
    table.add_row(
        "loopline train",
        f"{loop['total']:.2f}",
        f"{loop['estimator']:.2f}",
        f"{loop['overhead']:.2f}",
    )
    table.add_row("bare script", f"{median['bare']['total']:.2f}", "", "")
    console.print(table)
    console.print(f"overhead / bare script = {ratio:.2f} (target < 0.20)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"runs": runs, "median": median, "ratio": ratio}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
