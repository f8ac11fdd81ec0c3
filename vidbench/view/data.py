"""What the viewer shows, gathered from run folders into plain dicts the templates render.

Nothing here decodes video or draws: `thumbs` and `charts` do. Several runs are shown side by
side on the samples they share; the benchmark is loaded from the first run's config (labels and
ground-truth texts are not in the run folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import (
    Manifest,
    PredictionRecord,
    RunConfig,
    Sample,
    Status,
    latest_records,
    sorted_keys,
)
from vidbench.errors import UserError


@dataclass
class RunData:
    """One run folder, read through the typed models; `manifest` and `metrics` are their JSON
    form (what the templates and charts index)."""

    path: Path
    label: str
    config: RunConfig
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    records: dict[str, PredictionRecord]  # forward-order record per sample
    judgements: dict[str, Any]  # open mode: sample key -> Judgement

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def rate_name(self) -> str:
        return "accuracy" if self.mode == "closed" else "recall"


def read_run(path: Path) -> RunData:
    if not (path / runs.CONFIG).is_file():
        raise UserError(
            f"{path} is not a run folder", fix="pass folders written by `vidbench eval`"
        )
    manifest = runs.read_model(path / runs.MANIFEST, Manifest)
    if not (path / runs.METRICS).is_file():
        raise UserError(f"{path} has no {runs.METRICS}", fix=f"score it: `vidbench score {path}`")
    metrics = runs.read_metrics(path / runs.METRICS)
    judgements: dict[str, Any] = {}
    if (path / runs.JUDGEMENTS).is_file():
        from vidbench.judge import read_judgements

        judgements = dict(read_judgements(path / runs.JUDGEMENTS))
    return RunData(
        path=path,
        label=manifest.method.name,
        config=runs.read_model(path / runs.CONFIG, RunConfig),
        manifest=manifest.model_dump(mode="json", by_alias=True),
        metrics=metrics.model_dump(mode="json", by_alias=True),
        records=latest_records(runs.RecordLog(path / runs.PREDICTIONS).read()),
        judgements=judgements,
    )


def unique_labels(run_list: list[RunData]) -> None:
    """Two runs of one method get their folder names appended, so columns can be told apart."""
    seen: dict[str, int] = {}
    for run in run_list:
        seen[run.label] = seen.get(run.label, 0) + 1
    for run in run_list:
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.path.name})"


def _interval_text(interval: Any) -> str:
    if not interval:
        return ""
    lo, hi = interval
    return f"±{50 * (hi - lo):.1f}"


def pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def metrics_rows(run: RunData) -> list[dict[str, Any]]:
    """One row per split, then Average and pooled: rate, n, both intervals."""
    m, rate = run.metrics, run.rate_name
    rows = []
    for split, fig in (m.get("splits") or {}).items():
        rows.append(
            {
                "name": split,
                "rate": pct(fig.get(rate)),
                "n": fig.get("n"),
                "pm": _interval_text(fig.get("bootstrap")),
                "wilson": fig.get("wilson"),
                "bootstrap": fig.get("bootstrap"),
                "significant": fig.get("significant"),
            }
        )
    rows.append(
        {
            "name": "Average (paper)",
            "rate": pct(m.get("average")),
            "n": sum(r["n"] or 0 for r in rows),
            "pm": _interval_text(m.get("average_bootstrap")),
            "wilson": None,
            "bootstrap": m.get("average_bootstrap"),
            "significant": None,
        }
    )
    pooled = m.get("pooled_stats") or {}
    rows.append(
        {
            "name": "pooled",
            "rate": pct(m.get("pooled")),
            "n": pooled.get("n"),
            "pm": _interval_text(pooled.get("bootstrap")),
            "wilson": pooled.get("wilson"),
            "bootstrap": pooled.get("bootstrap"),
            "significant": pooled.get("significant"),
        }
    )
    return rows


def run_summary(run: RunData) -> dict[str, Any]:
    m = run.metrics
    usage = m.get("usage") or {}
    ds = run.manifest.get("dataset") or {}
    return {
        "label": run.label,
        "path": str(run.path),
        "mode": run.mode,
        "rate_name": run.rate_name,
        "dataset": f"{ds.get('repo_id')} @ {ds.get('revision')}",
        "created": run.manifest.get("created"),
        "judge": run.manifest.get("judge"),
        "oracle": bool((run.manifest.get("method") or {}).get("uses_ground_truth")),
        "rows": metrics_rows(run),
        "coverage": m.get("coverage") or {},
        "cost": usage.get("cost_usd"),
        "calls": usage.get("calls"),
        "judge_cost": (m.get("judge_usage") or {}).get("cost_usd"),
        "localization": m.get("localization"),
    }


def _outcome(sample: Sample, run: RunData) -> dict[str, Any]:
    """Per difference key: what the run answered and whether that was right."""
    record = run.records.get(sample.key)
    labels = sample.scored_labels()
    out: dict[str, Any] = {
        "status": record.status.value if record else "missing",
        "error": record.error if record else "no record in this run",
        "cost": record.usage.cost_usd if record else None,
        "calls": record.usage.calls if record else 0,
        "answers": {},
        "predictions": [],
        "right": 0,
        "scored": len(labels),
        "details": record.details if record else {},
        "judge_replies": [],
        "judge_status": None,
    }
    if record is None or record.status is not Status.OK:
        return out
    if run.mode == "closed":
        for key, pred in record.predictions.items():
            label = labels.get(key)
            out["answers"][key] = {
                "answer": pred.prediction,
                "right": None if label is None else pred.prediction == label,
            }
        out["right"] = sum(1 for a in out["answers"].values() if a["right"])
        return out
    from vidbench.scoring import item_outcomes

    judgement = run.judgements.get(sample.key)
    outcomes = item_outcomes(
        [sample], {sample.key: record.predictions}, {sample.key: judgement} if judgement else {}
    )
    matches = judgement.matches if judgement and judgement.status == "ok" else {}
    for key in labels:
        pkey = matches.get(key)
        matched = record.predictions.get(pkey) if pkey is not None else None
        out["answers"][key] = {
            "answer": matched.prediction if matched else None,
            "matched": matched.description if matched else None,
            "opposite": bool(judgement and judgement.opposite.get(key)),
            "right": outcomes.get((sample.key, key), False),
        }
    out["predictions"] = [
        {"key": k, "description": p.description, "prediction": p.prediction}
        for k, p in record.predictions.items()
    ]
    out["judge_replies"] = judgement.replies if judgement else []
    out["judge_status"] = judgement.status if judgement else "not judged"
    out["right"] = sum(1 for a in out["answers"].values() if a["right"])
    return out


def sample_view(sample: Sample, run_list: list[RunData]) -> dict[str, Any]:
    info = sample.info
    outcomes = [_outcome(sample, run) for run in run_list]
    rows = []
    for key, diff in sample.differences.items():
        if not diff.askable:
            continue
        rows.append(
            {
                "key": key,
                "statement": diff.description,
                "name": diff.name,
                "label": diff.label,
                "scored": diff.scored,
                "runs": [o["answers"].get(key) for o in outcomes],
            }
        )
    return {
        "key": sample.key,
        "page": page_name(sample.key),
        "split": sample.split,
        "domain": sample.domain,
        "action": sample.action,
        "action_name": info.action_name,
        "action_description": info.action_description,
        "n_open": info.max_differences,
        "rows": rows,
        "runs": outcomes,
        "any_wrong": any(o["right"] < o["scored"] for o in outcomes),
        "statuses": sorted({o["status"] for o in outcomes}),
    }


def page_name(sample_key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample_key)
    return f"samples/{safe}.html"


def timeline(sample: Sample, run: RunData, n_frames: tuple[int | None, int | None]) -> Any:
    """VidDiff's localisation of one sample for one run, per video, as fractions of the video:
    the proposed stages' spans, the frames chosen per difference, the ground-truth frames.
    None when the run recorded no localisation."""
    record = run.records.get(sample.key)
    if record is None or not record.localization:
        return None
    details = record.details or {}
    stage_names = [
        s.get("name", f"stage {i}")
        for i, s in enumerate((details.get("transcript") or {}).get("stages") or [])
    ]
    video_stages = (details.get("localizer") or {}).get("videos") or [None, None]
    recorded = record.localization_seconds or {}
    videos = []
    for v in range(2):
        spans = ((video_stages[v] if v < len(video_stages) else None) or {}).get("spans") or []
        chosen = {k: pair[v] for k, pair in record.localization.items()}
        truth = {k: list(f or []) for k, f in sample.retrieval_frames[v].items()}
        known = [i for f in [*chosen.values(), *truth.values()] for i in f] + [
            i for s in spans for i in s
        ]
        total = n_frames[v] or (max(known) + 1 if known else 1)

        def frac(i: int, total: int = total) -> float:
            return round(100 * min(max(i, 0), total) / total, 2)

        fps = sample.info.videos[v].fps_original or 1.0

        def seconds(key: str, n: int, v: int = v) -> list[float | None]:
            """The record's own timestamps of the chosen frames, when it kept them."""
            pair = recorded.get(key)
            return [round(t, 2) for t in pair[v]] if pair else [None] * n

        stages = [
            {
                "name": stage_names[i] if i < len(stage_names) else f"stage {i}",
                "left": frac(lo),
                "width": max(frac(hi + 1) - frac(lo), 0.4),
                "frames": f"{lo}-{hi}",
            }
            for i, (lo, hi) in enumerate(spans)
        ]
        differences = [
            {
                "key": key,
                "chosen": [
                    {"at": frac(i), "index": i, "t": t}
                    for i, t in zip(chosen.get(key, []), seconds(key, len(chosen.get(key, []))))
                ],
                "truth": [
                    {"at": frac(i), "index": i, "t": round(i / fps, 2)} for i in truth.get(key, [])
                ],
            }
            for key in sorted_keys(set(chosen) | {k for k, f in truth.items() if f})
        ]
        videos.append({"name": "AB"[v], "n_frames": total, "stages": stages, "rows": differences})
    return {"run": run.label, "videos": videos}
