"""The experiments pages' data: the list of A/B experiments and one experiment in full.

The list is one paginated query; an experiment's page reads its stored record only (the last
analysis and the looks kept in its state), never the prediction log: "Analyse now" is the
action that reads traffic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from loopline._workspace import Workspace
from loopline.charts import Series, interval_chart, line_chart
from loopline.experiments import experiment_dict, get_experiment
from loopline.store import Experiment

__all__ = [
    "PAGE_SIZE",
    "arms_chart",
    "difference_chart",
    "experiment_context",
    "experiments_context",
    "looks_charts",
]

#: Experiments per page of the list.
PAGE_SIZE = 50

#: What each decision means, for people.
DECISIONS = {
    "continue": "keep running",
    "promote": "promote the challenger",
    "stop_harm": "stop: the challenger harms",
    "stop_no_difference": "stop: no difference worth the change",
}


def _label(at: str | None) -> str:
    return datetime.fromisoformat(at).strftime("%m-%d %H:%M") if at else ""


def experiments_context(ws: Workspace, *, page: int = 1) -> dict[str, Any]:
    """One page of the project's experiments, newest first, with their status and decision."""
    use_case = ws.project.spec.name
    page = max(1, page)
    with ws.store.transaction() as session:
        total = session.scalar(
            select(func.count()).select_from(Experiment).where(Experiment.use_case == use_case)
        )
        rows = session.scalars(
            select(Experiment)
            .where(Experiment.use_case == use_case)
            .order_by(Experiment.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        ).all()
        experiments = [experiment_dict(row, analysis=False) for row in rows]
    return {
        "experiments": experiments,
        "total": int(total or 0),
        "page": page,
        "pages": max(1, -(-int(total or 0) // PAGE_SIZE)),
        "decisions": DECISIONS,
    }


def arms_chart(analysis: dict[str, Any]) -> str | None:
    """Each arm's primary metric with its 95% interval."""
    arms = analysis.get("arms") or {}
    if not arms:
        return None
    roles = [role for role in ("champion", "challenger") if role in arms]
    return interval_chart(
        [f"{role} {arms[role]['model']}" for role in roles],
        [arms[role]["estimate"] for role in roles],
        [arms[role]["ci_low"] for role in roles],
        [arms[role]["ci_high"] for role in roles],
        title=f"{analysis.get('metric', 'metric')} by arm, 95% intervals",
        x_label=str(analysis.get("metric", "")),
    )


def difference_chart(analysis: dict[str, Any]) -> str | None:
    """The difference (challenger - champion): fixed-horizon CI and confidence sequence."""
    comparison = analysis.get("comparison")
    sequential = analysis.get("sequential") or {}
    if not comparison:
        return None
    difference = comparison["difference"]
    return interval_chart(
        ["fixed-horizon CI", "confidence sequence"],
        [difference, difference],
        [comparison["ci_low"], sequential.get("ci_low")],
        [comparison["ci_high"], sequential.get("ci_high")],
        title="Difference, challenger - champion",
        x_label=f"difference in {comparison['metric']}",
        reference=0.0,
    )


def looks_charts(looks: list[dict[str, Any]], alpha: float) -> dict[str, str | None]:
    """Over the looks: the sequential p-value against alpha; the difference in its sequence."""
    measured = [look for look in looks if look.get("sequential_p") is not None]
    if not measured:
        return {"p_chart": None, "cs_chart": None}
    xs = list(range(len(measured)))
    labels = [_label(look.get("at")) for look in measured]
    p_chart = line_chart(
        [Series("always-valid p-value", xs, [look["sequential_p"] for look in measured])],
        title="Sequential p-value over the looks",
        x_label="look (UTC)",
        y_label="p",
        y_range=(0.0, 1.0),
        target=alpha,
        x_labels=labels,
        width=560,
        height=260,
    )
    cs_chart = line_chart(
        [
            Series(
                "difference, confidence sequence",
                xs,
                [look["difference"] for look in measured],
                low=[look["ci_low"] for look in measured],
                high=[look["ci_high"] for look in measured],
            )
        ],
        title="Difference with its confidence sequence",
        x_label="look (UTC)",
        y_label="challenger - champion",
        target=0.0,
        x_labels=labels,
        width=560,
        height=260,
    )
    return {"p_chart": p_chart, "cs_chart": cs_chart}


def experiment_context(ws: Workspace, experiment: int | str) -> dict[str, Any]:
    """One experiment: plan, per-arm estimates, comparison, sequential test, SRM, guardrails,
    decision, action taken, and the charts.

    Raises:
        ExperimentError: No such experiment (404 on the page).
    """
    with ws.store.transaction() as session:
        record = experiment_dict(get_experiment(session, experiment))
    analysis = record.get("analysis") or {}
    config = record["config"]
    return {
        "experiment": record,
        "analysis": analysis,
        "config": config,
        "decisions": DECISIONS,
        "arms_chart": arms_chart(analysis),
        "difference_chart": difference_chart(analysis),
        **looks_charts(record.get("series") or [], float(config.get("alpha", 0.05))),
        "labelled": min(
            (arm.get("labelled") or 0 for arm in (analysis.get("arms") or {}).values()),
            default=0,
        ),
    }
