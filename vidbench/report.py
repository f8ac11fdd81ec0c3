"""Human-readable views of metrics: the table `eval`/`score` print and a run's report.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vidbench.contracts import SPLITS


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}"


def _interval(fig: dict[str, Any], name: str) -> str:
    iv = fig.get(name)
    if not iv or iv[0] is None:
        return "-"
    return f"[{_pct(iv[0])}, {_pct(iv[1])}]"


def _p(value: Any) -> str:
    return "-" if value is None else (f"{value:.3g}" if value >= 1e-3 else f"{value:.1e}")


def split_rows(metrics: dict[str, Any]) -> list[dict[str, str]]:
    headline = "accuracy" if metrics.get("mode") == "closed" else "recall"
    splits = metrics.get("splits", {})
    rows = []
    for name in [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]:
        fig = splits[name]
        rows.append(
            {
                "split": name,
                "n": str(fig.get("n", "-")),
                f"{headline} %": _pct(fig.get(headline)),
                "wilson 95%": _interval(fig, "wilson"),
                "bootstrap 95%": _interval(fig, "bootstrap"),
                "p vs 0.5": _p(fig.get("p_vs_chance")),
                "majority %": _pct(fig.get("majority_rate")),
                "p vs majority": _p(fig.get("p_vs_majority")),
            }
        )
    return rows


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


def _md_cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str] | None = None) -> str:
    """A markdown table; cell text is escaped so a '|' in a name cannot break the layout."""
    cols = list(cols if cols is not None else (rows[0] if rows else []))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    lines = [
        f"average over splits (paper's Average): {_pct(metrics.get('average'))}%   "
        f"pooled over items: {_pct(metrics.get('pooled'))}%"
    ]
    if metrics.get("mode") == "open":
        extra = {
            k: metrics.get(k)
            for k in ("precision", "f1", "unmatched_rate", "wrong_direction_rate")
            if k in metrics
        }
        if extra:
            lines.append("   ".join(f"{k}: {_pct(v)}%" for k, v in extra.items()))
        if "mean_predictions" in metrics:
            lines.append(f"mean predictions per sample: {metrics['mean_predictions']:.2f}")
        if "judge_failures" in metrics:
            lines.append(f"judge failures (counted unmatched): {metrics['judge_failures']}")
    cov = metrics.get("coverage")
    if cov:
        lines.append(
            f"coverage: {cov.get('ok')}/{cov.get('samples')} samples ok "
            f"{cov.get('failures') or ''} (failures count as wrong)"
        )
    order = metrics.get("order")
    if order:
        lines.append(
            f"both orders: consistency {_pct(order.get('consistency'))}%, accuracy "
            f"counting only answers right in both orders {_pct(order.get('accuracy_both_orders'))}%"
        )
    usage = metrics.get("usage")
    if usage and usage.get("calls"):
        cost = usage.get("cost_usd")
        lines.append(
            f"LLM calls: {usage['calls']} ({usage.get('cached_calls', 0)} cached), "
            f"cost: {'unknown' if cost is None else f'${cost:.4f}'}"
        )
    return lines


def render_metrics(metrics: dict[str, Any]) -> str:
    return text_table(split_rows(metrics)) + "\n\n" + "\n".join(summary_lines(metrics))


def _breakdown(metrics: dict[str, Any], key: str) -> str:
    table = metrics.get(key) or {}
    headline = "accuracy" if metrics.get("mode") == "closed" else "recall"
    rows = [
        {
            key.removeprefix("by_"): name,
            "n": str(fig.get("n", "-")),
            f"{headline} %": _pct(fig.get(headline)),
        }
        for name, fig in sorted(table.items())
    ]
    return markdown_table(rows) if rows else ""


def render_report(manifest: dict[str, Any], metrics: dict[str, Any]) -> str:
    method = manifest.get("method", {})
    ds = manifest.get("dataset", {})
    parts = [
        f"# {method.get('registry_name') or method.get('name')} - {metrics.get('mode')} set",
        "",
        f"- dataset: {ds.get('repo_id')} @ {ds.get('revision')} (split {ds.get('split')}, "
        f"{ds.get('n_samples')} pairs)",
        f"- vidbench {manifest.get('vidbench_version')} (commit {manifest.get('git_commit')}), "
        f"created {manifest.get('created')}",
    ]
    if manifest.get("judge"):
        parts.append(f"- judge: {manifest['judge']}")
    if method.get("uses_ground_truth"):
        parts.append("- **oracle: this run used ground-truth localisation frames**")
    oracle = metrics.get("oracle")
    if oracle:
        parts.append(
            f"- oracle: {oracle['items_without_ground_truth']} of {oracle['items']} differences "
            f"had no ground-truth frames in at least one video "
            f"({oracle['videos_without_ground_truth']} videos): {oracle['fallback']}"
        )
    parts += ["", markdown_table(split_rows(metrics)), ""]
    parts += [f"- {line}" for line in summary_lines(metrics)]
    for key in ("by_domain", "by_action"):
        table = _breakdown(metrics, key)
        if table:
            parts += ["", f"## {key.removeprefix('by_').capitalize()}", "", table]
    return "\n".join(parts) + "\n"
