"""The demo: a fresh project from the bundled example, driven through the loop step by step."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from loopline import _api
from loopline._api_models import train_model
from loopline._api_serving import deploy_model
from loopline._check import check_project
from loopline._workspace import Workspace
from loopline.auth import add_user, create_token
from loopline.errors import LooplineError, ProjectError
from loopline.settings import Settings

__all__ = ["DemoSummary", "bundled_example", "create_demo_project", "run_demo"]

_MARKER = ".loopline-demo"
_DATA = "data/credit_default.csv.gz"


@dataclass
class DemoSummary:
    """What the demo did, step by step, for the closing report."""

    project: Path
    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, step: str, **facts: Any) -> None:
        self.steps.append({"step": step, **facts})

    def to_dict(self) -> dict[str, Any]:
        return {"project": str(self.project), "steps": self.steps}


def bundled_example() -> Path:
    """The folder of the bundled credit-default example (in the wheel, or in a source checkout)."""
    packaged = resources.files("loopline") / "_bundled" / "credit-default"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[3] / "examples" / "credit-default"
    if source.is_dir():
        return source
    raise ProjectError(  # pragma: no cover - a broken installation
        "The bundled example is missing from this installation.",
        hint="Reinstall loopline: pip install --force-reinstall loopline.",
    )


def create_demo_project(target: Path) -> Path:
    """Copy the bundled example into ``target``, replacing an earlier demo there.

    Raises:
        ProjectError: ``target`` exists and is not an earlier demo (nothing is deleted then).
    """
    target = target.resolve()
    if target.exists():
        if not (target / _MARKER).exists():
            raise ProjectError(
                f"{target} exists and is not a loopline demo; refusing to overwrite it.",
                hint="Pass another folder with --dir, or remove that one.",
            )
        shutil.rmtree(target)
    shutil.copytree(bundled_example(), target)
    (target / _MARKER).write_text("created by `loopline demo`; safe to delete\n")
    return target


def _split_batches(project: Path, seed: int) -> tuple[Path, Path, Path]:
    """Two real batches of the credit data and one broken export, as files a bank would send."""
    frame = pl.read_csv(project / _DATA)
    incoming = project / "incoming"
    incoming.mkdir(exist_ok=True)
    first, second = incoming / "applications-2005-04.csv", incoming / "applications-2005-05.csv"
    cut = 20_000
    frame.head(cut).write_csv(first)
    frame.slice(cut).write_csv(second)
    broken = incoming / "applications-broken-export.csv"
    sample = frame.sample(n=500, seed=seed)
    sample.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(pl.lit("n/a"))
        .otherwise(pl.col("LIMIT_BAL").cast(pl.String))
        .alias("LIMIT_BAL")
    ).write_csv(broken)
    return first, second, broken


def run_demo(
    settings: Settings, *, seed: int = 42, say: Callable[[str], None] | None = None
) -> DemoSummary:
    """Run the loop on the demo project in ``settings.project_dir`` and summarise each step."""
    say = say or (lambda _message: None)
    project = settings.project_dir
    summary = DemoSummary(project)
    check = check_project(project)
    if not check.ok:
        raise ProjectError(
            "The demo project does not validate.", problems=[p for _, p in check.problems]
        )
    summary.add("check", files=check.checked)
    ws = Workspace(settings)
    try:
        first, second, broken = _split_batches(project, seed)
        for path in (first, second, broken):
            say(f"ingesting {path.name}")
            result = _api.ingest_path(ws, path, progress=say)
            summary.add(
                "ingest",
                file=path.name,
                status=result.status,
                version=result.version,
                rows_in=result.rows_in,
                rows_versioned=result.rows_versioned,
                rows_quarantined=result.rows_quarantined,
                reasons=result.refusal_reasons,
            )
        say("ingesting the first file again")
        again = _api.ingest_path(ws, first)
        summary.add(
            "ingest",
            file=first.name,
            status=again.status,
            version=again.version,
            rows_in=again.rows_in,
            rows_versioned=0,
            rows_quarantined=0,
            reasons=[],
        )
        dataset = ws.project.spec.data.dataset
        by_check = _api.quarantine_summary(_api.quarantine(ws, dataset))
        summary.add("quarantine", by_check=by_check)
        diff = _api.diff(ws, f"{dataset}@1", f"{dataset}@2")
        summary.add(
            "diff",
            left=diff["left"],
            right=diff["right"],
            added=diff["rows"]["added"],
            removed=diff["rows"]["removed"],
        )
        tree = _api.lineage(ws, f"{dataset}@2", up=True)
        summary.add("lineage", node=tree.name, upstream=sorted(tree.names() - {tree.name}))
        say("training a model on credit@2")
        trained = train_model(ws, progress=say)
        summary.add(
            "train",
            model=f"{trained.use_case}@{trained.version}",
            state=trained.state,
            metrics={
                k: trained.metrics.get(k)
                for k in ("roc_auc", "ece", "cost_per_1000", "threshold", "conformal_coverage")
            },
            gates=[{"gate": g["gate"], "verdict": g["verdict"]} for g in trained.gates],
        )
        if trained.state == "candidate":
            deployed = deploy_model(
                ws,
                f"{trained.use_case}@{trained.version}",
                strategy="direct",
                reason="demo: first model that passed its gates",
            )
            summary.add("deploy", model=deployed["arms"][0]["model"], revision=deployed["revision"])
        password = secrets.token_urlsafe(12)
        with ws.store.transaction() as session:
            add_user(session, "admin", "admin", password=password, actor="demo")
            token = create_token(session, "admin", ["admin"], name="demo", actor="demo")
        summary.add("access", user="admin", password=password, token=token)
        events = settings.openlineage_file
        count = len(events.read_text().splitlines()) if events.exists() else 0
        summary.add("openlineage", file=str(events), events=count)
    except LooplineError:
        raise
    finally:
        ws.close()
    return summary
