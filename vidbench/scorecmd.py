"""`vidbench score` and `vidbench validate`: saved predictions in, metrics or problems out. No
method is called; the open-set judge is (through the cache, so re-scoring is free)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import (
    Judgement,
    Manifest,
    MethodInfo,
    Metrics,
    Mode,
    RunConfig,
    SelectionConfig,
)
from vidbench.dataset import Benchmark, Selection, load_benchmark, select
from vidbench.errors import UserError


def _format_problem(problem: Any) -> str:
    where = getattr(problem, "where", None)
    what = getattr(problem, "what", str(problem))
    fix = getattr(problem, "fix", None)
    return f"{where}: {what}" + (f" ({fix})" if fix else "") if where else str(what)


def validate_file(
    path: Path, mode: Mode, dataset: str, revision: str | None, split: str, strict: bool = False
) -> tuple[list[str], int, list[str], int]:
    """The problems of a predictions file, formatted with where they are (a hostile file's
    repeats summarised), how many there are in all, the warnings, and the samples read."""
    from vidbench.predictions import count_problems, load_predictions

    if not path.is_file():
        raise UserError(f"predictions file {path} not found")
    bench = load_benchmark(dataset, revision, Selection(split=split))
    preds, problems, warnings = load_predictions(path, bench.samples, mode, strict)
    shown = [_format_problem(p) for p in problems]
    return shown, count_problems(problems), list(warnings), len(preds)


def score_target(
    target: Path,
    *,
    mode: Mode | None,
    dataset: str | None,
    revision: str | None,
    split: str | None,
    judge: str | None,
    judge_api_base: str | None,
    judge_protocol: str | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    timeout_s: float = 120.0,
    cache_mode: str = "use",
    strict: bool = False,
    into: Path | None = None,
    name: str | None = None,
) -> Metrics:
    """Metrics of a run folder's records, or of a predictions file (a submission). `into` writes
    the submission's run folder (manifest, metrics, judgements, report) for the leaderboard.

    A predictions file's warnings (answers other than a/b, differences left out, the list
    format) are kept in the metrics with the format that was read; `strict` turns answers
    other than a/b into problems."""
    from vidbench.pipeline import make_client
    from vidbench.secrets import register_url

    register_url(judge_api_base)
    client = make_client(8, None, prices, timeout_s, cache_mode)
    if target.is_dir():
        return _score_run_dir(
            target, mode, dataset, revision, split, judge, judge_api_base, client, judge_protocol
        )
    if not target.is_file():
        raise UserError(f"{target} does not exist", fix="pass a run folder or a predictions file")
    if mode is None:
        raise UserError("scoring a predictions file needs --mode closed or --mode open")
    if into is not None:
        _refuse_clobbering(into)
    from vidbench import scoring
    from vidbench.pipeline import dataset_info, judge_for, selection_config
    from vidbench.predictions import count_problems, load_submission

    selection = Selection(split=split or "all")
    bench = load_benchmark(dataset or "demo", revision, selection)
    preds, problems, warnings, input_format = load_submission(target, bench.samples, mode, strict)
    if problems:
        shown = "\n    ".join(_format_problem(p) for p in problems[:20])
        more = f"\n    ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise UserError(
            f"{count_problems(problems):,} problem(s) in {target}",
            where=shown + more,
            fix=f"run `vidbench validate {target} --mode {mode}` for the full list",
        )
    judgements: dict[str, Judgement] = {}
    metrics: Metrics
    judge_model = None
    if mode == "closed":
        metrics = scoring.score_closed(bench.samples, preds)
    else:
        from vidbench.judge import judge_label

        protocol = judge_protocol or "paper"
        judge_obj = judge_for(judge, judge_api_base, client, protocol)
        judge_model = judge_label(protocol, judge)
        judgements = scoring.judge_open(bench.samples, preds, judge_obj)
        metrics = scoring.score_open(bench.samples, preds, judgements)
    metrics.input_format, metrics.warnings = input_format, list(warnings)
    if into is not None:
        manifest = runs.build_manifest(
            method=MethodInfo(name=name or target.stem),
            mode=mode,
            dataset=dataset_info(bench, selection_config(selection), len(bench.samples)),
            judge=judge_model,
            source="submitted",
        )
        _write_run_folder(into, manifest, metrics, judgements)
    return metrics


def _score_run_dir(
    target: Path,
    mode: Mode | None,
    dataset: str | None,
    revision: str | None,
    split: str | None,
    judge: str | None,
    judge_api_base: str | None,
    client: Any,
    judge_protocol: str | None = None,
) -> Metrics:
    from vidbench.pipeline import load_split, score_records, selection_of

    config = runs.read_model(target / runs.CONFIG, RunConfig)
    if mode is not None and mode != config.mode:
        raise UserError(
            f"{target} is a {config.mode}-set run, not {mode}",
            fix=f"drop --mode or use --mode {config.mode}",
        )
    config = config.model_copy(
        update={
            "dataset": dataset or config.dataset,
            "revision": revision or config.revision,
            "selection": SelectionConfig(split=split) if split else config.selection,
            "judge": judge or config.judge,
            "judge_api_base": judge_api_base or config.judge_api_base,
            "judge_protocol": judge_protocol or config.judge_protocol,
        }
    )
    bench = load_split(config)
    bench = Benchmark(bench.source, select(bench.samples, selection_of(config)))
    records = runs.RecordLog(target / runs.PREDICTIONS).read()
    if not records:
        raise UserError(
            f"{target} holds no predictions yet", fix=f"run `vidbench eval --resume {target}`"
        )
    # As run, the results are the run's own and are written into it (metrics.json, report.md,
    # judgements.jsonl): what `vidbench leaderboard` reads. Scored with another dataset, split
    # or judge, they are only printed (or written to --out).
    overrides = (dataset, revision, split, judge, judge_api_base, judge_protocol)
    as_run = all(v is None for v in overrides)
    if not as_run:
        return score_records(config, bench, records, client)
    manifest = runs.read_model(target / runs.MANIFEST, Manifest)
    return score_records(config, bench, records, client, run_dir=target, manifest=manifest)


def _refuse_clobbering(into: Path) -> None:
    """`--into` writes manifest, metrics and report: never over an eval run's folder (its config
    and predictions would no longer match them). A folder an earlier `score --into` wrote (its
    manifest says "submitted") may be rewritten."""
    held = [n for n in (runs.CONFIG, runs.PREDICTIONS) if (into / n).exists()]
    if not held and (into / runs.MANIFEST).is_file():
        try:
            source = runs.read_json(into / runs.MANIFEST).get("source")
        except (UserError, AttributeError):
            source = None
        if source != "submitted":
            held.append(runs.MANIFEST)
    if held:
        raise UserError(
            f"--into {into} already holds a run ({', '.join(held)}); scoring would overwrite it",
            fix=f"pass a new folder to --into, or score that run itself: `vidbench score {into}`",
        )


def _write_run_folder(
    run_dir: Path, manifest: Manifest, metrics: Metrics, judgements: dict[str, Judgement]
) -> None:
    from vidbench.judge import write_judgements
    from vidbench.report import render_report

    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_model(run_dir / runs.MANIFEST, manifest)
    runs.write_model(run_dir / runs.METRICS, metrics)
    if judgements:
        write_judgements(run_dir / runs.JUDGEMENTS, judgements.values())
    (run_dir / runs.REPORT).write_text(render_report(manifest, metrics))
