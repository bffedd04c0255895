"""Model cards: what a model version is for, what it was trained on, how good it is, its limits."""

from __future__ import annotations

from typing import Any

from loopline.spec import ProjectSpec

__all__ = ["build_card", "render_card"]


def build_card(
    *,
    spec: ProjectSpec,
    version: str,
    dataset: str,
    split_sizes: dict[str, int],
    metrics: dict[str, Any],
    evaluation: dict[str, Any],
    gates: list[dict[str, Any]],
    estimator: str,
    params: dict[str, Any],
    calibration: dict[str, Any],
) -> dict[str, Any]:
    """The model card as data (stored as JSON, rendered as Markdown)."""
    objective = spec.objective
    escalation = spec.serving.escalation
    limits = [
        "Evaluated on a held-out split of the same dataset version; performance on later data "
        "is watched by monitoring, not guaranteed here.",
        f"Trained on {dataset}; inputs outside the contract's ranges and sets are "
        "out of distribution and should go to a person.",
    ]
    gaps = evaluation.get("slice_gaps", {})
    for column, by_metric in gaps.items():
        recall_gap = by_metric.get("recall")
        if recall_gap is not None and recall_gap > 0.05:
            limits.append(f"Recall differs by {recall_gap:.3f} between {column} groups.")
    if metrics.get("ece") is not None and metrics["ece"] > 0.05:
        limits.append(f"Probabilities are imperfectly calibrated (ECE {metrics['ece']:.3f}).")
    return {
        "model": f"{spec.name}@{version}",
        "intended_use": spec.description or f"Predict {objective.target} for {spec.name}.",
        "objective": {
            "task": objective.task.value,
            "target": objective.target,
            "positive_class": objective.positive_class,
            "costs": objective.costs.model_dump(),
            "success": [m.text for m in objective.success],
        },
        "training": {
            "estimator": estimator,
            "params": params,
            "dataset": dataset,
            "split": split_sizes,
        },
        "metrics": metrics,
        "costs": evaluation.get("costs"),
        "slices": evaluation.get("slices", {}),
        "slice_gaps": gaps,
        "calibration": calibration,
        "conformal": evaluation.get("conformal"),
        "decision": {
            "threshold": metrics.get("threshold"),
            "escalation": escalation.model_dump(),
        },
        "gates": gates,
        "limits": limits,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def render_card(card: dict[str, Any]) -> str:
    """The model card as Markdown."""
    objective = card["objective"]
    lines = [
        f"# Model card: {card['model']}",
        "",
        "## Intended use",
        card["intended_use"],
        "",
        f"Task: {objective['task']}; target `{objective['target']}`"
        + (
            f" (positive class `{objective['positive_class']}`)."
            if objective["positive_class"] is not None
            else "."
        ),
        "",
        "Declared costs: "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in objective["costs"].items() if v is not None)
        + ".",
        "",
        "Success criteria: " + "; ".join(f"`{s}`" for s in objective["success"]) + ".",
        "",
        "## Data",
        f"Dataset version `{card['training']['dataset']}`; split "
        + ", ".join(f"{k} {v}" for k, v in card["training"]["split"].items())
        + f". Estimator `{card['training']['estimator']}`.",
        "",
        "## Metrics (held-out test rows)",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in card["metrics"].items()]
    costs = card.get("costs")
    if costs:
        lines += [
            "",
            f"## Cost per 1,000 decisions ({costs.get('currency')})",
            "| policy | cost |",
            "|---|---|",
            f"| this model at its threshold | {_fmt(costs.get('model'))} |",
            f"| everything to a person | {_fmt(costs.get('all_review'))} |",
            f"| always the majority class | {_fmt(costs.get('majority_class'))} |",
        ]
    for column, per_slice in card.get("slices", {}).items():
        lines += [
            "",
            f"## Slices by {column}",
            "| value | n | recall | precision | roc_auc |",
            "|---|---|---|---|---|",
        ]
        for value, stats in per_slice.items():
            lines.append(
                f"| {value} | {stats.get('n')} | {_fmt(stats.get('recall'))} | "
                f"{_fmt(stats.get('precision'))} | {_fmt(stats.get('roc_auc'))} |"
            )
    calibration = card.get("calibration") or {}
    lines += [
        "",
        "## Calibration",
        f"Method: {calibration.get('method', 'none')}; ECE (positive class, 15 equal-width "
        f"bins) before {_fmt(calibration.get('ece_before'))}, after "
        f"{_fmt(calibration.get('ece_after'))} on held-out calibration rows.",
    ]
    conformal = card.get("conformal") or {}
    if conformal:
        lines += [
            "",
            "## Conformal prediction",
            ", ".join(f"{k} {_fmt(v)}" for k, v in conformal.items()) + ".",
        ]
    decision = card["decision"]
    lines += [
        "",
        "## Decision and escalation",
        f"Threshold {_fmt(decision.get('threshold'))} (minimises the declared cost on "
        "calibration rows). Escalation: "
        + ", ".join(
            f"{k} {_fmt(v)}"
            for k, v in decision["escalation"].items()
            if v not in (None, (), [], False)
        )
        + ".",
    ]
    lines += ["", "## Gates", "| gate | verdict | measured | bound |", "|---|---|---|---|"]
    lines += [
        f"| `{g['gate']}` | {g['verdict']} | {_fmt(g['measured'])} | {_fmt(g['bound'])} |"
        for g in card["gates"]
    ]
    lines += ["", "## Known limits"] + [f"- {limit}" for limit in card["limits"]]
    return "\n".join(lines) + "\n"
