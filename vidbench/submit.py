"""`vidbench submit RUN_DIR --name NAME [--link URL]`: put a run on the leaderboard.

Checked before anything is written: the run covers the whole benchmark (no split, domain, action,
sample, limit or shard filter) with every sample answered (failed samples are retryable: finish
them with `--resume` first), it read the leaderboard's dataset, never the demo (repo and
revision, pinned in leaderboards/dataset.json; without that file, jmhb/VidDiffBench as
`vidbench leaderboard` ranks it; a pin on a branch such as "main" is narrowed to the commit the
first submission read), and its
metrics.json is what its predictions.jsonl (and, open set, judgements.jsonl) score to, recomputed
here: hand-edited metrics are refused. The submission is built, stripped of credentials and read
back as the leaderboard reads it before anything is written. Then
leaderboards/submissions/<name>.json gets what the tables need (method, dataset, judge, metrics,
a hash of the predictions) and the tables are regenerated.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import Manifest, Metrics, RunConfig, latest_records
from vidbench.errors import UserError

SUBMISSIONS = "submissions"
DATASET_PIN = "dataset.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# Figures compared between metrics.json and the recomputation (path of keys, per split too).
CHECKED = ("average", "pooled")


def _selection_filters(config: RunConfig) -> list[str]:
    sel = config.selection.model_dump()
    filters = []
    if sel.get("split", "all") != "all":
        filters.append(f"split {sel['split']}")
    for key in ("domains", "actions", "sample_ids"):
        if sel.get(key):
            filters.append(f"{key} {', '.join(map(str, sel[key]))}")
    for key in ("per_action", "limit", "shard"):
        if sel.get(key):
            filters.append(f"{key} {sel[key]}")
    return filters


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def metric_mismatches(saved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Where metrics.json disagrees with the recomputation (rates and counts)."""
    rate = "accuracy" if fresh.get("mode") == "closed" else "recall"
    problems = []
    if saved.get("mode") != fresh.get("mode"):
        problems.append(f"mode: {saved.get('mode')!r} vs {fresh.get('mode')!r}")
    for key in CHECKED:
        if not _close(saved.get(key), fresh.get(key)):
            problems.append(f"{key}: {saved.get(key)} vs {fresh.get(key)}")
    saved_splits, fresh_splits = saved.get("splits") or {}, fresh.get("splits") or {}
    for split in sorted(set(saved_splits) | set(fresh_splits)):
        a, b = saved_splits.get(split) or {}, fresh_splits.get(split) or {}
        for key in (rate, "n", "n_correct"):
            if not _close(a.get(key), b.get(key)):
                problems.append(f"splits.{split}.{key}: {a.get(key)} vs {b.get(key)}")
    return problems


def check_run(run_dir: Path, pin: dict[str, Any]) -> dict[str, Any]:
    """Everything `submit` refuses, checked; returns the submission's content."""
    from vidbench.dataset import Benchmark, select
    from vidbench.pipeline import load_split, score_records, selection_of
    from vidbench.secrets import register_options

    config = runs.read_model(run_dir / runs.CONFIG, RunConfig)
    register_options(config.options)  # credentials a run folder kept are known, hence removed
    manifest = runs.read_model(run_dir / runs.MANIFEST, Manifest)
    saved = runs.read_metrics(run_dir / runs.METRICS)
    filters = _selection_filters(config)
    if filters:
        raise UserError(
            f"{run_dir} ran on part of the benchmark ({'; '.join(filters)})",
            fix="the leaderboard takes whole-benchmark runs: run `vidbench eval` without filters "
            "(shards: `vidbench merge` them first)",
        )
    if manifest.dataset.kind == "demo":
        raise UserError(
            f"{run_dir} ran on the built-in demo dataset, which is not on the leaderboard",
            where=str(run_dir / runs.MANIFEST),
            fix=f"run `vidbench eval` with --dataset {pin['repo_id']} (the demo is for trying "
            "vidbench out)",
        )
    read = (manifest.dataset.repo_id, manifest.dataset.revision)
    if read[0] != pin.get("repo_id") or (
        _is_commit(pin.get("revision")) and read[1] != pin.get("revision")
    ):
        raise UserError(
            f"{run_dir} read {read[0]} @ {read[1]}, not the leaderboard's dataset "
            f"{pin.get('repo_id')} @ {pin.get('revision')}",
            fix=f"run again with --dataset {pin.get('repo_id')} --revision {pin.get('revision')}",
        )
    split = load_split(config)
    bench = Benchmark(split.source, select(split.samples, selection_of(config)))
    records = runs.RecordLog(run_dir / runs.PREDICTIONS).read()
    forward = latest_records(records)
    missing = [s.key for s in bench.samples if s.key not in forward]
    failed = sorted(k for k, r in forward.items() if r.status.value != "ok")
    if missing or failed:
        raise UserError(
            f"{run_dir} is not complete: {len(missing)} sample(s) not run, {len(failed)} failed",
            where=", ".join((missing + failed)[:10]),
            fix=f"finish it: `vidbench eval --resume {run_dir}`",
        )
    judgements = None
    if config.mode == "open":
        from vidbench.judge import read_judgements

        if not (run_dir / runs.JUDGEMENTS).is_file():
            raise UserError(f"{run_dir} has no {runs.JUDGEMENTS}", fix=f"vidbench score {run_dir}")
        judgements = read_judgements(run_dir / runs.JUDGEMENTS)
    fresh = score_records(config, bench, records, None, judgements=judgements)
    problems = metric_mismatches(_plain(saved), _plain(fresh))
    if problems:
        raise UserError(
            f"{run_dir}/metrics.json is not what its predictions score to",
            where="; ".join(problems[:8]),
            fix=f"metrics are recomputed, never taken as written: `vidbench score {run_dir}` "
            "rewrites them from predictions.jsonl",
        )
    digest = hashlib.sha256((run_dir / runs.PREDICTIONS).read_bytes()).hexdigest()
    return {"manifest": manifest, "metrics": fresh, "predictions_sha256": digest}


def _is_commit(revision: Any) -> bool:
    return isinstance(revision, str) and re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def read_pin(leaderboard_dir: Path) -> dict[str, Any]:
    """The leaderboard's dataset: leaderboards/dataset.json, or the default benchmark (what
    `vidbench leaderboard` ranks when no --dataset is given)."""
    from vidbench.dataset import DEFAULT_REPO_ID, DEFAULT_REVISION

    path = leaderboard_dir / DATASET_PIN
    if path.is_file():
        return dict(runs.read_json(path))
    return {"repo_id": DEFAULT_REPO_ID, "revision": DEFAULT_REVISION}


def _plain(metrics: Metrics) -> dict[str, Any]:
    return metrics.model_dump(mode="json", by_alias=True)


def submit(
    run_dir: Path,
    name: str,
    link: str | None,
    leaderboard_dir: Path,
    force: bool = False,
) -> Path:
    """Check the run, write leaderboard_dir/submissions/<name>.json; returns its path."""
    if not NAME.fullmatch(name):
        raise UserError(
            f"--name {name!r} is not a plain name",
            fix="letters, digits, '.', '_' and '-', at most 80 characters, e.g. my-method-v2",
        )
    target = leaderboard_dir / SUBMISSIONS / f"{name}.json"
    if target.exists() and not force:
        raise UserError(f"{target} exists", fix="choose another --name, or --force to replace it")
    pin = read_pin(leaderboard_dir)
    content = check_run(run_dir, pin)
    manifest: Manifest = content["manifest"]
    method = manifest.method.model_copy(update={"link": link} if link else {})
    manifest = manifest.model_copy(update={"method": method, "source": "submitted"})
    submission = {
        "name": name,
        "link": link,
        "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": run_dir.name,
        "predictions_sha256": content["predictions_sha256"],
        "manifest": manifest.model_dump(mode="json", by_alias=True),
        "metrics": _plain(content["metrics"]),
    }
    submission = _checked_submission(submission, run_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _is_commit(pin.get("revision")):
        runs.write_json(
            leaderboard_dir / DATASET_PIN,
            {"repo_id": pin["repo_id"], "revision": manifest.dataset.revision},
        )
    runs.write_json(target, submission)
    return target


def _checked_submission(submission: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The submission without credentials, refused unless the leaderboard can read it back: a
    file written only to break the next `vidbench leaderboard` is never written."""
    import json

    from vidbench.secrets import known_secrets, redact

    clean = redact(submission)
    text = json.dumps(clean)
    if any(secret in text for secret in known_secrets()):
        raise UserError(
            f"a credential of {run_dir} survives redaction", fix="report this as a vidbench bug"
        )
    _typed(clean, run_dir)
    return dict(clean)


def _typed(sub: dict[str, Any], where: Path) -> tuple[str, Manifest, Metrics]:
    from pydantic import ValidationError

    from vidbench.contracts import ClosedMetrics, OpenMetrics

    try:
        manifest = Manifest.model_validate(sub["manifest"])
        kind = ClosedMetrics if sub["metrics"].get("mode") == "closed" else OpenMetrics
        return str(sub["name"]), manifest, kind.model_validate(sub["metrics"])
    except (KeyError, ValidationError) as exc:
        raise UserError(
            f"submission {sub.get('name')!r} does not fit this vidbench: {exc}",
            where=str(where),
            fix="re-submit the run with `vidbench submit ... --force`",
        ) from None


def submission_rows(leaderboard_dir: Path) -> list[tuple[str, Manifest, Metrics]]:
    """(name, manifest, metrics) of every submission file of a leaderboard folder, typed."""
    return [_typed(sub, leaderboard_dir / SUBMISSIONS) for sub in submissions(leaderboard_dir)]


def submissions(leaderboard_dir: Path) -> list[dict[str, Any]]:
    """Every submission file of a leaderboard folder, by name."""
    folder = leaderboard_dir / SUBMISSIONS
    return [runs.read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
