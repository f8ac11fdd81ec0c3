"""Leaderboards from run folders plus the paper's published rows.

`build_leaderboards` reads each run's manifest.json and metrics.json (as the typed Manifest and
ClosedMetrics / OpenMetrics, so a column can only show what runs write) and writes, into `out_dir`:
closed.csv and open.csv (the reference leaderboard's columns first, then ours), localization.csv
when any run has localisation metrics, README.md (markdown tables) and index.html (static,
every value escaped). Output is deterministic: same inputs, same bytes (no "generated at" stamp).

Which runs are ranked is vidbench.admission's rule: full-coverage runs of the leaderboard's
dataset and revision, no subset filters, not the demo; the newest run of each method
configuration. `include_partial` shows the others below, marked, without a rank.

Significance is recomputed here, never copied, for the number it sits next to: each split's
exact one-sided binomial test vs 0.5 at p < 0.05 (for published rows from the published accuracy
and the published number of scored items per split); the Average's flag tests the mean of the
split rates (stats.mean_of_rates_p_greater); the pooled rate has its own exact binomial test.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.admission import Admission, LeaderboardDataset, admit, configuration_key
from vidbench.contracts import (
    ClosedRate,
    LocalizationMetrics,
    Manifest,
    MethodInfo,
    Metrics,
    OpenMetrics,
    OpenRate,
)
from vidbench.dataset import DEFAULT_REPO_ID
from vidbench.errors import UserError
from vidbench.report import markdown_table, method_label
from vidbench.reported import PAPER_LINK, ReportedRow, reported_rows
from vidbench.stats import binomial_p_greater, mean_of_rates_p_greater, wilson_interval
from vidbench.untrusted import capped, json_kind, load_json

SPLIT_COLUMNS = {"easy": "Easy", "medium": "Med", "hard": "Hard"}
SHORT = {"easy": "easy", "medium": "med", "hard": "hard"}
REFERENCE_COLUMNS = ["model_name", "model_link", "Easy", "Med", "Hard", "Average"]
STATSIG_COLUMNS = [
    "statsig-easy",
    "statsig-med",
    "statsig-hard",
    "statsig-avg",
    "statsig-pooled",
]
ADDED_COLUMNS = ["n-easy", "n-med", "n-hard", "ci95-easy", "ci95-med", "ci95-hard", "Pooled"]
PROVENANCE_COLUMNS = [
    "rank",
    "status",
    "judge",
    "dataset",
    "dataset_revision",
    "coverage",
    "vidbench_version",
    "cost_usd",
    "acc_per_usd",
    "date",
    "source",
    "oracle",
    "run",
    "report",
]
OPEN_EXTRA_COLUMNS = ["precision", "unmatched", "wrong_direction", "judge_failures"]
LOCALIZATION_COLUMNS = [
    "model_name",
    "split",
    "video",
    "n",
    "mean_abs_s",
    "median_abs_s",
    "within_0.5s",
    "within_1s",
    "mean_predicted_frames",
    "source",
    "run",
]
ALPHA = 0.05


def columns(mode: str) -> list[str]:
    """The CSV columns of one mode's leaderboard, reference columns first."""
    if mode == "closed":
        return REFERENCE_COLUMNS + STATSIG_COLUMNS + ADDED_COLUMNS + PROVENANCE_COLUMNS
    return REFERENCE_COLUMNS + ADDED_COLUMNS + OPEN_EXTRA_COLUMNS + PROVENANCE_COLUMNS


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _ci(interval: Sequence[float] | None) -> str:
    return "" if not interval else f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}"


def _statsig(k: int | None, n: int | None) -> str:
    p = binomial_p_greater(k, n) if k is not None and n else None
    return "" if p is None else str(p < ALPHA)


def _statsig_average(rates: Sequence[tuple[float, int]]) -> str:
    """The flag for the Average: a test of the mean of the split rates, not of the pooled rate."""
    p = mean_of_rates_p_greater(rates)
    return "" if p is None else str(p < ALPHA)


def _reported_row(row: ReportedRow) -> dict[str, Any]:
    counts = row.counts()
    out: dict[str, Any] = {
        "model_name": row.model_name,
        "model_link": row.model_link,
        "Average": f"{row.average:.1f}",
        "_sort": row.average / 100,
    }
    for split, col in SPLIT_COLUMNS.items():
        k, n = counts[split]
        out[col] = f"{row.split_percent()[split]:.1f}"
        out[f"n-{SHORT[split]}"] = n
        out[f"ci95-{SHORT[split]}"] = _ci(wilson_interval(k, n))
        out[f"statsig-{SHORT[split]}"] = _statsig(k, n)
    k_all, n_all = sum(k for k, _ in counts.values()), sum(n for _, n in counts.values())
    out["statsig-avg"] = _statsig_average(
        [(row.split_percent()[s] / 100, n) for s, (_, n) in counts.items()]
    )
    out["statsig-pooled"] = _statsig(k_all, n_all)
    out["Pooled"] = _pct(k_all / n_all)
    out.update(
        {
            "judge": "",
            "dataset": "",
            "dataset_revision": "",
            "coverage": "",
            "vidbench_version": "",
            "cost_usd": "",
            "date": "",
            "source": row.source,
            "oracle": "False",
            "run": row.reference,
            "status": "published",
            "_full": True,
        }
    )
    return out


def _model_name(method: MethodInfo) -> str:
    name = method_label(method)
    if method.uses_ground_truth:
        name += " [oracle: uses ground truth]"
    return name


def _cost(metrics: Metrics) -> str:
    cost = metrics.cost_usd()
    return "unknown" if cost is None else f"{cost:.4f}"


def _per_dollar(metrics: Metrics) -> str:
    """Average (percentage points) per USD of real usage; blank when the cost is unknown or 0."""
    cost = metrics.cost_usd()
    if metrics.average is None or not cost:
        return ""
    return f"{100 * metrics.average / cost:.1f}"


def _report_link(run_dir: Path, out_dir: Path) -> str:
    """The run's report.md relative to the leaderboard folder ("./..." so that it never reads as
    a URL scheme); blank when the run has none."""
    report = run_dir / runs.REPORT
    if not report.is_file():
        return ""
    rel = os.path.relpath(report.resolve(), Path(out_dir).resolve())
    return rel if rel.startswith("..") else f"./{rel}"


def _run_row(
    run_dir: Path, manifest: Manifest, metrics: Metrics, admission: Admission, out_dir: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_name": _model_name(manifest.method),
        "model_link": manifest.method.link,
        "Average": _pct(metrics.average),
        "_sort": metrics.average,
    }
    splits: Mapping[str, ClosedRate | OpenRate] = metrics.splits
    for split, col in SPLIT_COLUMNS.items():
        block = splits.get(split)
        out[col] = _pct(block.rate) if block else ""
        out[f"n-{SHORT[split]}"] = block.n if block else ""
        out[f"ci95-{SHORT[split]}"] = _ci(block.wilson) if block else ""
        out[f"statsig-{SHORT[split]}"] = _statsig(block.n_correct, block.n) if block else ""
    rates = [(b.rate, b.n) for b in splits.values() if b.rate is not None]
    out["statsig-avg"] = _statsig_average(rates) if metrics.average is not None else ""
    out["statsig-pooled"] = _statsig(metrics.pooled_stats.n_correct, metrics.pooled_stats.n)
    out["Pooled"] = _pct(metrics.pooled)
    if isinstance(metrics, OpenMetrics):
        out["precision"] = _pct(metrics.precision)
        out["unmatched"] = _pct(metrics.unmatched_rate)
        out["wrong_direction"] = _pct(metrics.wrong_direction_rate)
        out["judge_failures"] = metrics.judge_failures
    dataset = manifest.dataset
    out.update(
        {
            "judge": manifest.judge or "",
            "dataset": dataset.repo_id or dataset.kind,
            "dataset_revision": dataset.revision or "",
            "coverage": admission.coverage,
            "status": admission.status,
            "vidbench_version": manifest.vidbench_version,
            "cost_usd": _cost(metrics),
            "acc_per_usd": _per_dollar(metrics),
            "date": manifest.created[:10],
            "source": "reproduced" if manifest.source == "run" else "submitted",
            "oracle": str(manifest.method.uses_ground_truth),
            "run": str(run_dir),
            "report": _report_link(run_dir, out_dir),
            "_full": admission.full,
            "_created": manifest.created,
            "_config": configuration_key(manifest),
        }
    )
    return out


def _localization_rows(name: str, run: str, loc: LocalizationMetrics) -> list[dict[str, Any]]:
    rows = []
    blocks = {**loc.splits, "overall": loc.overall}
    for split, per_video in blocks.items():
        for video in ("a", "b", "both"):
            b = per_video.get(video)
            if b is None or not b.n:
                continue
            rows.append(
                {
                    "model_name": name,
                    "split": split,
                    "video": video,
                    "n": b.n,
                    "mean_abs_s": f"{b.mean_abs_s or 0:.2f}",
                    "median_abs_s": f"{b.median_abs_s or 0:.2f}",
                    "within_0.5s": _pct(b.within_half_s),
                    "within_1s": _pct(b.within_1s),
                    "mean_predicted_frames": f"{b.mean_predicted_frames or 0:.1f}",
                    "source": "reproduced",
                    "run": run,
                }
            )
    return rows


_TEXT_FIELDS = ("mode", "model_name", "model_link", "source", "reference")
_PERCENT_FIELDS = ("easy", "medium", "hard", "average")


def _row_problem(item: Any) -> str | None:
    """Why one entry of an extra-results file is not a result row, or None."""
    if not isinstance(item, dict):
        return f"is {json_kind(item)}, not an object"
    known = {f.name for f in dataclasses.fields(ReportedRow)}
    unknown = sorted(k for k in item if k not in known)
    if unknown:
        return f"unknown field(s) {', '.join(repr(k)[:40] for k in unknown[:5])}"
    required = [f.name for f in dataclasses.fields(ReportedRow) if f.default is dataclasses.MISSING]
    missing = [k for k in required if k not in item]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    for key in _TEXT_FIELDS:
        if key in item and not isinstance(item[key], str):
            return f"{key} is {json_kind(item[key])}, not a string"
    for key in _PERCENT_FIELDS:
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            return f"{key} is {str(value)[:40]!r}, not a percentage from 0 to 100"
    return None


def _extra_rows(path: Path) -> list[ReportedRow]:
    """Extra published/external rows: a JSON object or list of objects with the fields of
    ReportedRow (mode, model_name, model_link, easy, medium, hard, average in percent; source
    defaults to "external"). The file is untrusted: every bad row is listed (up to a cap)."""
    data = load_json(path, "extra results file", expect=object)
    rows, problems = [], []
    for i, item in enumerate(data if isinstance(data, list) else [data]):
        problem = _row_problem(item)
        if problem:
            problems.append(f"row {i} {problem}")
            continue
        rows.append(ReportedRow(**{"source": "external", "reference": str(path), **item}))
    if problems:
        raise UserError(
            f"{len(problems)} entry(ies) of {path} are not result rows",
            where="\n    ".join(capped(problems, 20)),
            fix="give mode, model_name, model_link, easy, medium, hard, average (percent)",
        )
    return rows


def _newest_per_configuration(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, options, dataset revision) and standing: the newest run's."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        if "_config" not in r:  # published and external rows
            kept[(id(r),)] = r
            continue
        key = (r["_config"], r["_full"])
        if key not in kept or (r["_created"], r["run"]) > (kept[key]["_created"], kept[key]["run"]):
            kept[key] = r
    return list(kept.values())


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Full rows first, best Average first; partial rows after them, never ranked; ties and rows
    without an Average in a fixed, content-based order. Oracle rows are shown but not ranked."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        avg = r.get("_sort")
        return (not r["_full"], avg is None, -(avg or 0.0), r["model_name"], r["source"], r["run"])

    ordered = sorted(rows, key=key)
    rank = 0
    for r in ordered:
        if r["_full"] and r.get("_sort") is not None and r.get("oracle") != "True":
            rank += 1
            r["rank"] = rank
    return ordered


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run: text starting like a formula (= + - @ tab CR) gets a
    leading quote (OWASP's CSV-injection advice); plain numbers such as -1.5 stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _csv_text(cols: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: csv_cell(r.get(c, "")) for c in cols})
    return buf.getvalue()


NOTES = (
    "Percentages, 1 decimal. Average = unweighted mean of the Easy/Med/Hard rates (the "
    "paper's Average); Pooled = rate over all scored a/b items. statsig-easy/med/hard and "
    "statsig-pooled = exact one-sided binomial test vs 0.5, p < 0.05, recomputed here (for "
    "reported rows from the published accuracy and scored-item counts easy 357, medium 1227, "
    "hard 871); statsig-avg = one-sided test of the mean of the split rates vs 0.5 (normal, "
    "variance 0.25/n per split under chance). ci95-* = Wilson 95% intervals. source: reported "
    f"= published in {PAPER_LINK}; reproduced = a vidbench run. rank: only full rows (every "
    "sample of the split(s) answered, the leaderboard's dataset and revision, no subset "
    "filter, not the demo; the newest run per method configuration); status says why a row "
    "is partial. acc_per_usd = Average points per USD of the run's real usage. oracle = True "
    "marks runs that were given ground-truth information (ablations, not ranked)."
)


def pin_revision(
    board: LeaderboardDataset, runs_read: Sequence[tuple[Manifest, Metrics]]
) -> LeaderboardDataset:
    """A leaderboard ranks one dataset revision: the one asked for, else that of its newest full
    run (runs of other revisions are then partial, so two revisions are never ranked together)."""
    if board.revision is not None:
        return board
    full = [(m.created, m.dataset.revision) for m, x in runs_read if admit(m, x, board).full]
    return LeaderboardDataset(board.name, max(full)[1]) if full else board


def build_leaderboards(
    run_dirs: Sequence[Path],
    out_dir: Path,
    extra_results: Sequence[Path] = (),
    *,
    board: LeaderboardDataset | None = None,
    include_partial: bool = False,
    left_out: list[str] | None = None,
) -> dict[str, Path]:
    """Write the leaderboards into `out_dir`; returns name -> written path. `board` is the
    dataset (and revision) the leaderboard is about (default: the official repo, at the revision
    of its newest full run);
    runs that are not full on it are left out (each listed in `left_out` with its reasons) unless
    `include_partial`."""
    board = board or LeaderboardDataset(DEFAULT_REPO_ID)
    rows: dict[str, list[dict[str, Any]]] = {"closed": [], "open": []}
    loc_rows: list[dict[str, Any]] = []
    for mode in rows:
        rows[mode] += [_reported_row(r) for r in reported_rows(mode)]
    for path in extra_results:
        for r in _extra_rows(Path(path)):
            if r.mode not in rows:
                raise UserError(
                    f"unknown mode {r.mode!r} in extra results",
                    where=str(path),
                    fix='use "closed" or "open"',
                )
            rows[r.mode].append(_reported_row(r))
    from vidbench.submit import SUBMISSIONS, submission_rows

    for name, manifest, metrics in submission_rows(Path(out_dir)):  # `vidbench submit`'s
        # `vidbench submit` admits only whole, complete runs of this leaderboard's pinned dataset.
        coverage = f"{metrics.coverage.ok}/{manifest.dataset.split_samples}"
        admission = Admission(True, [], coverage)
        rows[metrics.mode].append(
            _run_row(
                Path(SUBMISSIONS) / f"{name}.json", manifest, metrics, admission, Path(out_dir)
            )
        )
    loaded = []
    for run_dir in sorted(Path(p) for p in run_dirs):
        manifest = runs.read_model(run_dir / runs.MANIFEST, Manifest)
        if not (run_dir / runs.METRICS).is_file():
            raise UserError(
                f"{run_dir} has no {runs.METRICS}",
                where=str(run_dir / runs.METRICS),
                fix=f"run `vidbench score {run_dir}` first: it writes metrics.json into the run",
            )
        loaded.append((run_dir, manifest))
    loaded_metrics = {run_dir: runs.read_metrics(run_dir / runs.METRICS) for run_dir, _ in loaded}
    board = pin_revision(board, [(m, loaded_metrics[d]) for d, m in loaded])
    for run_dir, manifest in loaded:
        metrics = loaded_metrics[run_dir]
        admission = admit(manifest, metrics, board)
        if not admission.full and not include_partial:
            if left_out is not None:
                left_out.append(f"{run_dir}: {admission.status}")
            continue
        row = _run_row(run_dir, manifest, metrics, admission, Path(out_dir))
        rows[metrics.mode].append(row)
        if metrics.localization is not None:
            loc_rows += _localization_rows(row["model_name"], str(run_dir), metrics.localization)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    tables: list[tuple[str, list[str], list[dict[str, Any]]]] = []
    for mode, title in (("closed", "Closed set: accuracy (%)"), ("open", "Open set: recall@N (%)")):
        ordered = _sorted(_newest_per_configuration(rows[mode]))
        cols = columns(mode)
        written[mode] = out_dir / f"{mode}.csv"
        written[mode].write_text(_csv_text(cols, ordered), encoding="utf-8")
        tables.append((title, cols, ordered))
    if loc_rows:
        loc_rows.sort(key=lambda r: (r["model_name"], r["run"], r["split"], r["video"]))
        written["localization"] = out_dir / "localization.csv"
        written["localization"].write_text(
            _csv_text(LOCALIZATION_COLUMNS, loc_rows), encoding="utf-8"
        )
        tables.append(
            ("Localisation: distance to the ground-truth key frame", LOCALIZATION_COLUMNS, loc_rows)
        )

    md = ["# VidDiffBench leaderboards", "", NOTES, ""]
    for title, cols, table_rows in tables:
        md += [f"## {title}", "", markdown_table(table_rows, cols), ""]
    written["readme"] = out_dir / "README.md"
    written["readme"].write_text("\n".join(md), encoding="utf-8")

    from vidbench.view.leaderboard import render_page

    page = render_page(
        [(title, mode, table) for (title, _, table), mode in zip(tables, ("closed", "open"))],
        out_dir,
        NOTES,
        plain_tables=tables[2:],  # localisation: as the CSV has it
    )
    written["html"] = out_dir / "index.html"
    written["html"].write_text(page, encoding="utf-8")
    return written
