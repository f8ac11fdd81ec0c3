"""Human-readable views of metrics: the table `eval`/`score` print and a run's report.md."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from vidbench.contracts import (
    SPLITS,
    ClosedMetrics,
    ClosedRate,
    GroupRate,
    LocalizationMetrics,
    Manifest,
    MethodInfo,
    Metrics,
    OpenMetrics,
    OpenRate,
    Usage,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}"


def _interval(interval: Sequence[float] | None) -> str:
    if not interval:
        return "-"
    return f"[{_pct(interval[0])}, {_pct(interval[1])}]"


def _p(value: float | None) -> str:
    return "-" if value is None else (f"{value:.3g}" if value >= 1e-3 else f"{value:.1e}")


def _headline(metrics: Metrics) -> str:
    return "accuracy" if metrics.mode == "closed" else "recall"


def split_rows(metrics: Metrics) -> list[dict[str, str]]:
    """One row per split. The tests against 0.5 and the majority class are closed-set columns:
    recall has no chance level of 0.5 and no majority class, so the open-set table omits them."""
    headline = _headline(metrics)
    splits: Mapping[str, ClosedRate | OpenRate] = metrics.splits
    rows = []
    for name in [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]:
        fig = splits[name]
        row = {
            "split": name,
            "n": str(fig.n),
            f"{headline} %": _pct(fig.rate),
            "wilson 95%": _interval(fig.wilson),
            "bootstrap 95%": _interval(fig.bootstrap),
        }
        if metrics.mode == "closed":
            row["p vs 0.5"] = _p(fig.p_vs_chance)
            row["majority %"] = _pct(fig.majority_rate)
            row["p vs majority"] = _p(fig.p_vs_majority)
        rows.append(row)
    return rows


def method_label(method: MethodInfo) -> str:
    """The method as runs are told apart: its name, and the model it ran when the name does not
    already say it (`lmm (gpt-4o-2024-08-06)`)."""
    model = method.config.get("model")
    return f"{method.name} ({model})" if model and str(model) != method.name else method.name


def title_line(manifest: Manifest, metrics: Metrics) -> str:
    ds = manifest.dataset
    return f"{method_label(manifest.method)} - {metrics.mode} set on {ds.repo_id} @ {ds.revision}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def text_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Aligned plain-text columns (the terminal's tables), header from the first row's keys."""
    if not rows:
        return "(none)"
    cols = list(rows[0])
    widths = {c: max(len(str(c)), *(len(_cell(r.get(c))) for r in rows)) for c in cols}
    lines = [
        "  ".join(str(c).ljust(widths[c]) for c in cols),
        "  ".join("-" * widths[c] for c in cols),
    ]
    lines += ["  ".join(_cell(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def md_text(value: Any) -> str:
    """Text from a run (method, model, dataset names) made inert for markdown: one line (\\r and
    \\n would start a heading or break a table), HTML escaped, pipes and backslashes escaped."""
    text = _CONTROL.sub(" ", str(value))
    text = html.escape(text, quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str] | None = None) -> str:
    """A markdown table; cell text is escaped so a '|' in a name cannot break the layout."""
    cols = list(cols if cols is not None else (rows[0] if rows else []))
    lines = ["| " + " | ".join(md_text(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(md_text(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _cost(usage: Usage) -> str:
    return "unknown" if usage.cost_usd is None else f"${usage.cost_usd:.4f}"


def summary_lines(metrics: Metrics) -> list[str]:
    lines = [
        f"average over splits (paper's Average): {_pct(metrics.average)}%   "
        f"pooled over items: {_pct(metrics.pooled)}%"
    ]
    if isinstance(metrics, OpenMetrics):
        lines.append(
            f"precision: {_pct(metrics.precision)}%   f1: {_pct(metrics.f1)}%   "
            f"unmatched_rate: {_pct(metrics.unmatched_rate)}%   "
            f"wrong_direction_rate: {_pct(metrics.wrong_direction_rate)}%"
        )
        if metrics.mean_predictions is not None:
            lines.append(f"mean predictions per sample: {metrics.mean_predictions:.2f}")
        lines.append(f"judge failures (counted unmatched): {metrics.judge_failures}")
    cov = metrics.coverage
    lines.append(
        f"coverage: {cov.ok}/{cov.samples} samples ok "
        f"{cov.failures or ''} (failures count as wrong)"
    )
    if isinstance(metrics, ClosedMetrics) and metrics.order is not None:
        order = metrics.order
        lines.append(
            f"both orders: consistency {_pct(order.consistency)}%, accuracy "
            f"counting only answers right in both orders {_pct(order.accuracy_both_orders)}%"
        )
    usage = metrics.usage
    if usage.calls:
        lines.append(
            f"LLM calls: {usage.calls} ({usage.cached_calls} cached), cost: {_cost(usage)}"
        )
    if isinstance(metrics, OpenMetrics) and metrics.judge_usage.calls:
        judge = metrics.judge_usage
        lines.append(
            f"judge calls: {judge.calls} ({judge.cached_calls} cached), cost: {_cost(judge)}"
        )
    return lines


def render_metrics(metrics: Metrics, manifest: Manifest | None = None) -> str:
    """The terminal's table and summary; with the manifest, headed by what was run on what."""
    head = f"{title_line(manifest, metrics)}\n\n" if manifest is not None else ""
    return head + text_table(split_rows(metrics)) + "\n\n" + "\n".join(summary_lines(metrics))


def localization_rows(loc: LocalizationMetrics) -> list[dict[str, str]]:
    """Distance from the chosen frames to the ground-truth key frame, per split and video."""
    rows = []
    for split, per_video in [*loc.splits.items(), ("overall", loc.overall)]:
        for video in ("a", "b", "both"):
            d = per_video.get(video)
            if d is None or not d.n:
                continue
            rows.append(
                {
                    "split": split,
                    "video": video,
                    "n": str(d.n),
                    "mean |s|": _seconds(d.mean_abs_s),
                    "median |s|": _seconds(d.median_abs_s),
                    "within 0.5 s %": _pct(d.within_half_s),
                    "within 1 s %": _pct(d.within_1s),
                    "frames shown": _seconds(d.mean_predicted_frames),
                }
            )
    return rows


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _breakdown(metrics: Metrics, table: Mapping[str, GroupRate], title: str) -> str:
    headline = _headline(metrics)
    rows = [
        {title: name, "n": str(fig.n), f"{headline} %": _pct(fig.rate)}
        for name, fig in sorted(table.items())
    ]
    return markdown_table(rows) if rows else ""


def render_report(manifest: Manifest, metrics: Metrics) -> str:
    """report.md: what was run on what, the split table, the summary and the breakdowns."""
    ds = manifest.dataset
    m = md_text
    parts = [
        f"# {m(method_label(manifest.method))} - {m(metrics.mode)} set",
        "",
        f"- dataset: {m(ds.repo_id)} @ {m(ds.revision)} (split {m(ds.split)}, "
        f"{ds.n_samples} pairs)",
        f"- vidbench {m(manifest.vidbench_version)} (commit {m(manifest.git_commit)}), "
        f"created {m(manifest.created)}",
    ]
    if manifest.judge:
        parts.append(f"- judge: {m(manifest.judge)}")
    if manifest.method.uses_ground_truth:
        parts.append("- **oracle: this run used ground-truth localisation frames**")
    oracle = getattr(metrics, "oracle", None)
    if oracle is not None:
        parts.append(
            f"- oracle: {oracle.items_without_ground_truth} of {oracle.items} differences "
            f"had no ground-truth frames in at least one video "
            f"({oracle.videos_without_ground_truth} videos): {oracle.fallback}"
        )
    parts += ["", markdown_table(split_rows(metrics)), ""]
    parts += [f"- {line}" for line in summary_lines(metrics)]
    for title, table in (("domain", metrics.by_domain), ("action", metrics.by_action)):
        rendered = _breakdown(metrics, table, title)
        if rendered:
            parts += ["", f"## {title.capitalize()}", "", rendered]
    if metrics.localization is not None:
        rows = localization_rows(metrics.localization)
        if rows:
            parts += ["", "## Localisation", "", f"Rule: {metrics.localization.rule}.", ""]
            parts.append(markdown_table(rows))
    return "\n".join(parts) + "\n"
