"""leaderboards/index.html: the leaderboard tables as a page people read at 1400 px.

Takes the rows `vidbench.leaderboard` builds (the CSV columns) and shows per system: rank, model
name linking to its page, whether the row is reported (the paper's number), reproduced (a vidbench
run) or submitted, each split's rate with its 95% interval as "±" in one cell, a significance
mark with a legend, the Average and pooled rates, cost and date, and a link to the run's viewer
when one was written. Columns sort on click (a few lines of inline JS); a chart draws the Average
of every system with its interval. No network: CSS, JS and the SVG chart are inline.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SPLITS = (("Easy", "easy"), ("Med", "med"), ("Hard", "hard"))
SOURCES = {
    "reported": "published in the paper",
    "reproduced": "a vidbench run",
    "submitted": "submitted with `vidbench submit`",
    "external": "an extra result file",
}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _half_width(ci: Any) -> float | None:
    """'lo-hi' (percent) -> half its width."""
    if not ci or "-" not in str(ci):
        return None
    lo, _, hi = str(ci).partition("-")
    a, b = _number(lo), _number(hi)
    return None if a is None or b is None else (b - a) / 2


def average_half_width(row: Mapping[str, Any]) -> float | None:
    """95% half-width of the mean of the three split rates, treating items as independent (the
    rows carry split rates and counts; the run viewer shows the bootstrap over pairs)."""
    var = 0.0
    for col, short in SPLITS:
        p, n = _number(row.get(col)), _number(row.get(f"n-{short}"))
        if p is None or not n:
            return None
        p /= 100
        var += p * (1 - p) / n
    return 100 * 1.959963984540054 * math.sqrt(var) / len(SPLITS)


def _web_link(link: Any) -> str | None:
    """Only http(s) links become anchors (a row's link is data, not markup)."""
    text = str(link or "")
    return text if text.startswith(("https://", "http://")) else None


def _viewer_link(run: str, out_dir: Path) -> str | None:
    if not run:
        return None
    index = Path(run) / "view" / "index.html"
    if not index.is_file():
        return None
    return os.path.relpath(index.resolve(), out_dir.resolve())


def page_rows(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> list[dict[str, Any]]:
    out = []
    for rank, row in enumerate(rows, 1):
        cells = []
        for col, short in SPLITS:
            value = _number(row.get(col))
            cells.append(
                {
                    "value": value,
                    "pm": _half_width(row.get(f"ci95-{short}")),
                    "n": row.get(f"n-{short}"),
                    "significant": str(row.get(f"statsig-{short}")) == "True",
                }
            )
        source = str(row.get("source") or "")
        out.append(
            {
                "rank": rank,
                "name": row.get("model_name"),
                "link": _web_link(row.get("model_link")),
                "source": source,
                "oracle": str(row.get("oracle")) == "True",
                "splits": cells,
                "average": _number(row.get("Average")),
                "average_pm": average_half_width(row),
                "average_significant": str(row.get("statsig-avg")) == "True",
                "pooled": _number(row.get("Pooled")),
                "cost": row.get("cost_usd") or "",
                "date": row.get("date") or "",
                "viewer": _viewer_link(str(row.get("run") or ""), out_dir)
                if source != "reported"
                else None,
                "reference": row.get("run") if source == "reported" else None,
            }
        )
    return out


def average_chart(title: str, rows: list[dict[str, Any]], rate: str) -> str:
    from vidbench.view.charts import bar_chart_svg

    shown = [r for r in rows if r["average"] is not None]
    names = [f"{r['name']} ({r['source']})" for r in shown]
    values = [r["average"] / 100 for r in shown]
    intervals = [
        [(r["average"] - r["average_pm"]) / 100, (r["average"] + r["average_pm"]) / 100]
        if r["average_pm"] is not None
        else None
        for r in shown
    ]
    return bar_chart_svg(
        names,
        [("Average", values, intervals)],
        ylabel=f"Average {rate} %",
        title=f"{title}: Average with 95% interval",
        chance=0.5 if rate == "accuracy" else None,
        horizontal=True,
    )


def render_page(
    tables: Sequence[tuple[str, str, Sequence[Mapping[str, Any]]]],
    out_dir: Path,
    notes: str,
    plain_tables: Sequence[tuple[str, Sequence[str], Sequence[Mapping[str, Any]]]] = (),
) -> str:
    """`tables`: (title, mode, rows) per leaderboard, rows as the CSV builds them;
    `plain_tables`: (title, columns, rows) shown as they are (the localisation table)."""
    from vidbench.view import environment

    shown = []
    for title, mode, rows in tables:
        rate = "accuracy" if mode == "closed" else "recall"
        prepared = page_rows(rows, out_dir)
        shown.append(
            {
                "title": title,
                "mode": mode,
                "rate": rate,
                "rows": prepared,
                "chart": average_chart(title, prepared, rate) if prepared else "",
            }
        )
    return (
        environment()
        .get_template("leaderboard.html.jinja")
        .render(
            tables=shown,
            plain_tables=[
                {"title": t, "columns": list(c), "rows": [[r.get(k, "") for k in c] for r in rows]}
                for t, c, rows in plain_tables
            ],
            notes=notes,
            sources=SOURCES,
        )
    )
