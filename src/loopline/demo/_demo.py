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
import yaml

from loopline import _api
from loopline._api_models import train_model
from loopline._api_serving import deploy_model
from loopline._check import check_project
from loopline._workspace import Workspace
from loopline.auth import add_user, create_token
from loopline.demo._loop import LoopSettings, run_loop
from loopline.errors import LooplineError, ProjectError
from loopline.review import tune_policy
from loopline.settings import Settings

__all__ = ["DEMO_OVERRIDES", "DemoSummary", "bundled_example", "create_demo_project", "run_demo"]


def _rounded(value: Any, name: str) -> Any:
    """Three decimals; review hours, measured on the wall clock of a compressed simulation
    (seconds), to one — so the same seed prints the same summary."""
    if not isinstance(value, float):
        return value
    return round(value, 1 if "review_sla_hours" in name else 3)


def _champion(ws: Workspace) -> str | None:
    from loopline.registry import current_alias

    with ws.store.transaction() as session:
        row = current_alias(session, ws.project.spec.name, "champion")
        return f"{row.use_case}@{row.version}" if row is not None else None


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


#: What the demo changes in its copy of the example, so that days of traffic fit in minutes:
#: six-hour monitoring windows, and A/B tests sized for a few thousand labelled answers.
DEMO_OVERRIDES: dict[str, Any] = {
    "monitoring": {"every": "6h", "window": "6h"},
    "retraining": {"then": {"strategy": "ab", "min_samples": 600, "mde": 0.05}},
}


def _apply_overrides(project: Path) -> None:
    path = project / "loopline.yaml"
    doc = yaml.safe_load(path.read_text())
    for section, values in DEMO_OVERRIDES.items():
        target = doc.setdefault(section, {})
        for key, value in values.items():
            if isinstance(value, dict):
                target.setdefault(key, {}).update(value)
            else:
                target[key] = value
    path.write_text(
        "# The bundled example, with the demo's shorter windows (see loopline.demo).\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )


def run_demo(
    settings: Settings,
    *,
    seed: int = 42,
    say: Callable[[str], None] | None = None,
    loop: LoopSettings | None = None,
) -> DemoSummary:
    """Run the loop on the demo project in ``settings.project_dir`` and summarise each step.

    After ingest, training and deployment, the decision threshold is tuned for the declared
    automation target and the closed loop runs on simulated traffic (see
    :func:`~loopline.demo._loop.run_loop`); ``loop=LoopSettings(windows=0)`` skips it.
    """
    say = say or (lambda _message: None)
    project = settings.project_dir
    summary = DemoSummary(project)
    _apply_overrides(project)
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
            target = next(
                (m for m in ws.project.spec.objective.success if m.metric == "automation_rate"),
                None,
            )
            if target is not None:
                say(f"tuning the decision threshold for {target.text}")
                tuned = tune_policy(ws, target=f"automation_rate={target.value}", reason="demo")
                summary.add(
                    "policy",
                    target=target.text,
                    confidence_below=tuned.threshold,
                    verified=tuned.verified,
                )
            settings_loop = loop or LoopSettings()
            if settings_loop.windows:
                say("running the loop on simulated traffic")
                looped = run_loop(ws, seed=seed, settings=settings_loop, say=say)
                summary.add("loop", windows=looped["windows"], events=looped["events"])
                final = looped["final"]
                summary.add(
                    "outcome",
                    champion=_champion(ws),
                    success=[
                        {**entry, "value": _rounded(entry["value"], entry["metric"])}
                        for entry in final["business"].get("success", [])
                    ],
                    metrics={
                        k: _rounded(final["metrics"].get(k), k)
                        for k in (
                            "automation_rate",
                            "precision_auto",
                            "cost_per_1000",
                            "review_sla_hours",
                            "performance.roc_auc",
                            "estimated.roc_auc",
                        )
                    },
                )
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
