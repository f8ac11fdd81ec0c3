"""Bar charts with 95% intervals as inline SVG (matplotlib, no pyplot state, no network).

One chart per breakdown (split, domain, action); several runs are grouped bars, one colour each.
Text stays text in the SVG (svg.fonttype none), so pages are small and searchable.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def _printable(text: str) -> str:
    """Control characters (a hostile method name's carriage return) have no glyph: show a space."""
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in str(text))


def bar_chart_svg(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], Sequence[Any]]],
    *,
    ylabel: str,
    title: str,
    chance: float | None = None,
    horizontal: bool = False,
) -> str:
    """`series`: (label, values in [0, 1] or None, intervals [lo, hi] or None) per run. A
    percentile bootstrap interval need not contain its estimate: the bar's side beyond the
    interval is drawn as zero length."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    groups = [_printable(g) for g in groups]
    series = [(_printable(label), values, intervals) for label, values, intervals in series]
    title, ylabel = _printable(title), _printable(ylabel)
    n_groups, n_series = len(groups), max(len(series), 1)
    long_side = max(4.0, 0.35 * n_groups * n_series + 1.5)
    size = (7.5, min(long_side, 40.0)) if horizontal else (min(long_side, 13.0), 3.6)
    # A fixed hash salt makes the SVG ids, hence the page, the same bytes for the same data.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "vidbench", "font.size": 9}):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        width = 0.8 / n_series
        for s, (label, values, intervals) in enumerate(series):
            pos = [g + (s - (n_series - 1) / 2) * width for g in range(n_groups)]
            vals = [100 * v if v is not None else 0.0 for v in values]
            err = [
                [
                    max(0.0, 100 * (v - iv[0])) if v is not None and iv else 0.0
                    for v, iv in zip(values, intervals)
                ],
                [
                    max(0.0, 100 * (iv[1] - v)) if v is not None and iv else 0.0
                    for v, iv in zip(values, intervals)
                ],
            ]
            style: dict[str, Any] = {
                "label": label,
                "color": COLOURS[s % len(COLOURS)],
                "capsize": 2,
                "error_kw": {"elinewidth": 0.8, "ecolor": "#333"},
            }
            if horizontal:
                ax.barh(pos, vals, width, xerr=err, **style)
            else:
                ax.bar(pos, vals, width, yerr=err, **style)
        ticks = list(range(n_groups))
        if horizontal:
            ax.set_yticks(ticks, list(groups))
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(ylabel)
            if chance is not None:
                ax.axvline(100 * chance, color="#999", linestyle="--", linewidth=0.8)
        else:
            ax.set_xticks(
                ticks,
                list(groups),
                rotation=30 if n_groups > 6 else 0,
                ha="right" if n_groups > 6 else "center",
            )
            ax.set_ylim(0, 100)
            ax.set_ylabel(ylabel)
            if chance is not None:
                ax.axhline(100 * chance, color="#999", linestyle="--", linewidth=0.8)
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
        if len(series) > 1:
            ax.legend(frameon=False, fontsize=8)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inlined in HTML
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
