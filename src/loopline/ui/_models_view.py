"""The models pages' data: a page of versions, one version in full, two side by side.

The list reads one page of versions with their headline metrics straight from the registry
table (two more queries find the aliases), so a project with hundreds of versions renders in
the same time as one with two. A version's plots are the SVGs stored with its artifact at
training, read back through the manifest (a tampered file refuses to load).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopline._api_models import (
    approve_model,
    archive_model,
    compare_models,
    model_card,
    show_model,
)
from loopline._api_serving import deploy_model
from loopline._workspace import Workspace
from loopline.errors import LooplineError, RegistryError
from loopline.registry import ALIASES, current_alias, read_file
from loopline.store import Approval, ModelVersion
from loopline.ui._deployments_view import acting_as

__all__ = [
    "HEADLINE",
    "MODEL_ACTIONS",
    "PAGE_SIZE",
    "act_on_model",
    "compare_view",
    "markdown_html",
    "model_detail",
    "model_page",
    "page_number",
]

PAGE_SIZE = 50

#: The metrics the list shows, in order, as ``(key, label)``.
HEADLINE = (
    ("roc_auc", "ROC AUC"),
    ("ece", "ECE"),
    ("cost_per_1000", "Cost / 1,000"),
    ("threshold", "Threshold"),
)

#: The stored plots a version page shows, as ``(artifact file, caption)``.
PLOTS = (
    ("reliability.svg", "Reliability: predicted probability against observed rate"),
    ("threshold_cost.svg", "Cost per 1,000 decisions against the threshold"),
)

#: Metrics where a smaller value is the better one (the compare page colours deltas by it).
LOWER_IS_BETTER = frozenset(
    {
        "ece",
        "ece_uncalibrated",
        "brier",
        "log_loss",
        "cost_per_1000",
        "latency_p50_ms",
        "latency_p99_ms",
        "rmse",
        "mae",
    }
)


#: Metrics that describe the data or a setting rather than quality: their deltas are not coloured.
NEUTRAL = frozenset({"n", "prevalence", "threshold"})


def page_number(text: str | None) -> int:
    """A 1-based page number from a query parameter (anything else is page 1)."""
    return max(int(text), 1) if text and text.isdigit() else 1


def _alias_ids(session: Session, use_case: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for alias in ALIASES:
        version = current_alias(session, use_case, alias)
        if version is not None:
            found.setdefault(version.id, []).append(alias)
    return found


def model_page(
    session: Session, use_case: str, *, page: int = 1, size: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page of ``use_case``'s versions, newest first, with states, aliases and metrics.

    Returns:
        ``{"rows", "total", "page", "pages", "size"}``; a page past the end is the last page.
    """
    total = int(
        session.scalar(
            select(func.count()).select_from(ModelVersion).where(ModelVersion.use_case == use_case)
        )
        or 0
    )
    pages = max((total + size - 1) // size, 1)
    page = min(max(page, 1), pages)
    aliases = _alias_ids(session, use_case)
    query = (
        select(
            ModelVersion.id,
            ModelVersion.version,
            ModelVersion.state,
            ModelVersion.metrics,
            ModelVersion.created_at,
            ModelVersion.created_by,
        )
        .where(ModelVersion.use_case == use_case)
        .order_by(ModelVersion.version.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    rows = [
        {
            "ref": f"{use_case}@{row.version}",
            "version": row.version,
            "state": row.state,
            "aliases": aliases.get(row.id, []),
            "metrics": {key: (row.metrics or {}).get(key) for key, _ in HEADLINE},
            "created_at": row.created_at,
            "created_by": row.created_by,
        }
        for row in session.execute(query)
    ]
    return {"rows": rows, "total": total, "page": page, "pages": pages, "size": size}


def _plot(ws: Workspace, prefix: str, manifest: str, name: str) -> Markup | None:
    """A stored SVG plot, verified against the artifact's manifest (``None`` if absent)."""
    try:
        data = read_file(ws.objects, prefix, manifest, name)
    except LooplineError:
        return None
    text = data.decode()
    # written by loopline's own chart code at training and checked against its SHA-256 above
    return Markup(text[text.index("<svg") :]) if "<svg" in text else None  # noqa: S704


def _slices(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    tables = []
    for column, per_slice in (evaluation.get("slices") or {}).items():
        tables.append(
            {
                "column": column,
                "rows": [{"value": value, **stats} for value, stats in per_slice.items()],
                "gaps": (evaluation.get("slice_gaps") or {}).get(column, {}),
            }
        )
    return tables


def model_detail(ws: Workspace, ref: str) -> dict[str, Any]:
    """A version's metrics, slices, plots, gates, model card and approvals.

    Raises:
        RegistryError: No such version.
    """
    info = show_model(ws, ref)
    prefix, manifest = info["artifact"]["prefix"], info["artifact"]["manifest_sha256"]
    try:
        card = model_card(ws, ref)
    except LooplineError:
        card = ""
    with ws.store.transaction() as session:
        version_id = session.scalar(
            select(ModelVersion.id).where(
                ModelVersion.use_case == info["use_case"], ModelVersion.version == info["version"]
            )
        )
        approvals = [
            {"actor": a.actor, "reason": a.reason, "at": a.created_at}
            for a in session.scalars(
                select(Approval)
                .where(Approval.model_version_id == version_id)
                .order_by(Approval.id)
            )
        ]
    plots = [
        {"name": name, "caption": caption, "svg": svg}
        for name, caption in PLOTS
        if (svg := _plot(ws, prefix, manifest, name)) is not None
    ]
    return {
        **info,
        "slices": _slices(info["evaluation"] or {}),
        "plots": plots,
        "card_html": markdown_html(card),
        "approvals": approvals,
        "lineage_url": f"/ui/lineage?node=model_version:{info['model']}",
    }


def _delta(metric: str, left: Any, right: Any) -> dict[str, Any]:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    difference = right - left if numbers else None
    better = None
    if difference and metric not in NEUTRAL:
        better = (difference < 0) if metric in LOWER_IS_BETTER else (difference > 0)
    return {
        "metric": metric,
        "left": left,
        "right": right,
        "difference": difference,
        "better": better,
    }


def compare_view(ws: Workspace, left: str, right: str) -> dict[str, Any]:
    """Two versions side by side: metrics with deltas (right - left), gates, slice gaps.

    Raises:
        RegistryError: Either version does not exist.
    """
    compared = compare_models(ws, left, right)
    a, b = show_model(ws, left), show_model(ws, right)
    gates_a = {g["gate"]: g for g in a["gates"]}
    gates_b = {g["gate"]: g for g in b["gates"]}
    gates = [
        {"gate": name, "left": gates_a.get(name), "right": gates_b.get(name)}
        for name in [*gates_a, *(g for g in gates_b if g not in gates_a)]
    ]
    gaps_a = (a["evaluation"] or {}).get("slice_gaps") or {}
    gaps_b = (b["evaluation"] or {}).get("slice_gaps") or {}
    gaps = [
        {"column": column, **_delta(metric, gaps_a[column].get(metric), value)}
        for column in gaps_a
        if column in gaps_b
        for metric, value in gaps_b[column].items()
    ]
    for row in gaps:  # a smaller gap between slices is the better one
        if row["difference"]:
            row["better"] = row["difference"] < 0
    return {
        "left": a,
        "right": b,
        "metrics": [_delta(r["metric"], r["left"], r["right"]) for r in compared["metrics"]],
        "gates": gates,
        "gaps": gaps,
    }


#: What the version page's buttons do, as ``action: notice shown afterwards``.
MODEL_ACTIONS = {
    "promote": "Promoted: this version is the champion and serves all traffic.",
    "archive": "Archived: this version can no longer be deployed.",
    "approve": "Approved: your approval is recorded; approval gates it meets now pass.",
}


def act_on_model(
    ws: Workspace, ref: str, action: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """Promote ``ref`` to champion, archive or approve it, audited with ``actor``.

    Promoting deploys the version directly (its gates are checked again), so the champion
    alias and what serves stay the same thing; it ends any canary, A/B test or shadow.

    Raises:
        RegistryError: Unknown action, or the version cannot move as asked.
        GateFailedError: Its gates do not allow the promotion.
    """
    acting = acting_as(ws, actor)
    if action == "promote":
        return deploy_model(acting, ref, strategy="direct", reason=reason)
    if action == "archive":
        return archive_model(acting, ref, reason=reason)
    if action == "approve":
        return approve_model(acting, ref, reason=reason)
    raise RegistryError(
        f"Unknown model action {action!r}.", hint=f"Use one of: {', '.join(MODEL_ACTIONS)}."
    )


# -- a small, safe Markdown renderer for model cards -------------------------------------------


def _inline(text: str) -> str:
    """Escape ``text``, then turn ``code`` spans into ``<code>`` (nothing else is markup)."""
    parts = str(escape(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_html(text: str) -> Markup:
    """The subset of Markdown model cards use (headings, lists, tables, code spans, paragraphs)
    as HTML; every piece of text is escaped first, so a card cannot inject markup."""
    html: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].rstrip()
        if not line.strip():
            index += 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)  # the page owns <h1>
            html.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            index += 1
        elif line.lstrip().startswith("|"):
            block = []
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                block.append(lines[index])
                index += 1
            body = [row for row in block[1:] if not set(row.replace("|", "").strip()) <= set("-: ")]
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(block[0]))
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(row)) + "</tr>"
                for row in body
            )
            html.append(
                f'<table class="table card-table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>"
            )
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while index < len(lines) and lines[index].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[index].lstrip()[2:])}</li>")
                index += 1
            html.append(f"<ul>{''.join(items)}</ul>")
        else:
            paragraph = []
            while (
                index < len(lines)
                and lines[index].strip()
                and lines[index].lstrip()[:1] not in ("#", "|", "-", "*")
            ):
                paragraph.append(lines[index].strip())
                index += 1
            if not paragraph:  # a line starting with '-' or '*' that is not a list item
                paragraph.append(lines[index].strip())
                index += 1
            html.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return Markup("\n".join(html))  # noqa: S704  (built from escaped text only)
