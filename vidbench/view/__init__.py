"""`vidbench view RUN [RUN...]`: a self-contained static site of one or several runs.

Written into the (first) run folder as view/: index.html (metrics with intervals, bar charts per
split, domain and action, a filterable sample list) and one page per sample (thumbnails of the
frames actually sent with their timestamps, every statement with ground truth, each run's
answer and right/wrong, open-set judge matches, VidDiff timelines, cost). Pages need no server
and no network: CSS, JS and charts (SVG) are inline, thumbnails are JPEG files beside them.
Templates are jinja2 with autoescape on: statements and replies are text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidbench.errors import UserError
from vidbench.view.data import (
    RunData,
    page_name,
    read_run,
    run_summary,
    sample_view,
    timeline,
    unique_labels,
)

VIEW_DIR = "view"


def environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("vidbench.view", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _charts(run_list: list[RunData]) -> list[str]:
    from vidbench.view.charts import bar_chart_svg

    rate = run_list[0].rate_name
    chance = 0.5 if rate == "accuracy" else None
    charts = []
    splits: list[str] = []
    for run in run_list:
        splits += [s for s in run.metrics.get("splits") or {} if s not in splits]
    series = []
    for run in run_list:
        by_split = run.metrics.get("splits") or {}
        values = [(by_split.get(s) or {}).get(rate) for s in splits] + [run.metrics.get("average")]
        intervals = [(by_split.get(s) or {}).get("bootstrap") for s in splits]
        series.append((run.label, values, [*intervals, run.metrics.get("average_bootstrap")]))
    charts.append(
        bar_chart_svg(
            [*splits, "Average"],
            series,
            ylabel=f"{rate} %",
            title=f"{rate} per split and Average (bootstrap 95%)",
            chance=chance,
        )
    )
    for key, what in (("by_domain", "domain"), ("by_action", "action")):
        names: list[str] = []
        for run in run_list:
            names += [n for n in run.metrics.get(key) or {} if n not in names]
        if not names:
            continue
        series = [
            (
                run.label,
                [((run.metrics.get(key) or {}).get(n) or {}).get(rate) for n in names],
                [((run.metrics.get(key) or {}).get(n) or {}).get("wilson") for n in names],
            )
            for run in run_list
        ]
        charts.append(
            bar_chart_svg(
                names,
                series,
                ylabel=f"{rate} %",
                title=f"{rate} per {what} (Wilson 95%)",
                chance=chance,
                horizontal=what == "action" and len(names) > 8,
            )
        )
    return charts


def _thumbnails(
    out: Path, samples: list[Any], run_list: list[RunData], video_root: Path | None
) -> tuple[dict[tuple[str, int, int], Any], dict[tuple[str, int], int], list[str]]:
    """(sample key, run number, video) -> strip layout; (sample, video) -> frame count."""
    from vidbench.view.thumbs import ThumbWriter

    writer = ThumbWriter(out / "thumbs", video_root)
    jobs, where = [], []
    for sample in samples:
        for r, run in enumerate(run_list):
            record = run.records.get(sample.key)
            for v, name in enumerate("ab"):
                sent = (record.frames.get(name) if record else None) or {}
                side = ((record.frames.get("spec") if record else None) or {}).get("max_side")
                if sent.get("indices"):
                    jobs.append((sample, v, list(sent["indices"]), list(sent["timestamps"]), side))
                    where.append((sample.key, r, v))
    layouts = writer.strips_for(jobs)
    return dict(zip(where, layouts)), writer.n_frames, writer.problems


def build_view(
    run_dirs: Sequence[Path], out: Path | None = None, frames: bool = True, progress: bool = False
) -> Path:
    """Write the site; returns the path of its index.html."""
    from vidbench.pipeline import load_split

    if not run_dirs:
        raise UserError("no run folder given", fix="vidbench view RUN_DIR [RUN_DIR...]")
    run_list = [read_run(Path(p)) for p in run_dirs]
    modes = {run.mode for run in run_list}
    if len(modes) > 1:
        raise UserError(
            "the runs mix closed-set and open-set results",
            fix="view closed-set runs together and open-set runs together",
        )
    unique_labels(run_list)
    first = run_list[0].config
    bench = load_split(
        first.model_copy(update={"selection": first.selection.model_copy(update={"split": "all"})})
    )
    samples = [s for s in bench.samples if any(s.key in run.records for run in run_list)]
    out = out or run_list[0].path / VIEW_DIR
    (out / "samples").mkdir(parents=True, exist_ok=True)

    strips: dict[tuple[str, int, int], Any] = {}
    n_frames: dict[tuple[str, int], int] = {}
    problems: list[str] = []
    if frames:
        strips, n_frames, problems = _thumbnails(out, samples, run_list, bench.source.video_root)

    env = environment()
    summaries = [run_summary(run) for run in run_list]
    views = []
    page = env.get_template("sample.html.jinja")
    for n, sample in enumerate(samples):
        view = sample_view(sample, run_list)
        lengths = (n_frames.get((sample.key, 0)), n_frames.get((sample.key, 1)))
        view["strips"] = [
            [strips.get((sample.key, r, v)) for v in range(2)] for r in range(len(run_list))
        ]
        view["timelines"] = [t for run in run_list if (t := timeline(sample, run, lengths))]
        view["prev"] = page_name(samples[n - 1].key) if n > 0 else None
        view["next"] = page_name(samples[n + 1].key) if n + 1 < len(samples) else None
        (out / view["page"]).write_text(
            page.render(sample=view, runs=summaries, root="../"), encoding="utf-8"
        )
        views.append(view)
    index = out / "index.html"
    index.write_text(
        env.get_template("index.html.jinja").render(
            runs=summaries,
            charts=_charts(run_list),
            samples=views,
            problems=problems,
            filters={
                "split": sorted({v["split"] for v in views}),
                "domain": sorted({v["domain"] for v in views}),
                "action": sorted({v["action"] for v in views}),
                "status": sorted({s for v in views for s in v["statuses"]}),
            },
            root="",
        ),
        encoding="utf-8",
    )
    return index
