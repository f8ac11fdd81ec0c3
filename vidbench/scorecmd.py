"""`vidbench score` and `vidbench validate`: saved predictions in, metrics or problems out. No
method is called; the open-set judge is (through the cache, so re-scoring is free)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.dataset import Selection, load_benchmark
from vidbench.errors import UserError


def _format_problem(problem: Any) -> str:
    where = getattr(problem, "where", None)
    what = getattr(problem, "what", str(problem))
    fix = getattr(problem, "fix", None)
    return f"{where}: {what}" + (f" ({fix})" if fix else "") if where else str(what)


def validate_file(
    path: Path, mode: str, dataset: str, revision: str | None, split: str
) -> tuple[list[str], list[str], int]:
    """Every problem of a predictions file, formatted with where it is."""
    from vidbench.predictions import load_predictions

    if not path.is_file():
        raise UserError(f"predictions file {path} not found")
    bench = load_benchmark(dataset, revision, Selection(split=split))
    preds, problems, warnings = load_predictions(path, bench.samples, mode)  # type: ignore[arg-type]
    return [_format_problem(p) for p in problems], list(warnings), len(preds)


def score_target(
    target: Path,
    *,
    mode: str | None,
    dataset: str | None,
    revision: str | None,
    split: str | None,
    judge: str | None,
    judge_api_base: str | None,
    prices: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    from vidbench.pipeline import RunRequest, make_client, score_run

    if target.is_dir():
        request = RunRequest.from_json(runs.read_json(target / runs.CONFIG))
        if mode is not None and mode != request.mode:
            raise UserError(
                f"{target} is a {request.mode}-set run, not {mode}",
                fix=f"drop --mode or use --mode {request.mode}",
            )
        request.dataset = dataset or request.dataset
        request.revision = revision or request.revision
        if split is not None:
            request.selection = Selection(split=split)
        request.judge = judge or request.judge
        request.judge_api_base = judge_api_base or request.judge_api_base
        bench = load_benchmark(
            request.dataset, request.revision, request.selection, request.video_root
        )
        records = list(
            runs.latest_records(runs.RecordLog(target / runs.PREDICTIONS).read()).values()
        )
        if not records:
            raise UserError(
                f"{target} holds no predictions yet", fix=f"run `vidbench eval --resume {target}`"
            )
        # As run: the results are the run's own, so they are written into it (metrics.json,
        # report.md, judgements.jsonl), which is what `vidbench leaderboard` reads. Scored with
        # another dataset, split or judge, they are only printed (or written to --out).
        as_run = all(v is None for v in (dataset, revision, split, judge, judge_api_base))
        return score_run(
            request, bench, records, target if as_run else None, make_client(8, None, prices)
        )
    if not target.is_file():
        raise UserError(f"{target} does not exist", fix="pass a run folder or a predictions file")
    if mode is None:
        raise UserError("scoring a predictions file needs --mode closed or --mode open")
    from vidbench import scoring
    from vidbench.pipeline import score_open_predictions
    from vidbench.predictions import load_predictions

    request = RunRequest(
        method="submitted",
        options={},
        mode=mode,
        dataset=dataset or "demo",
        revision=revision,
        selection=Selection(split=split or "all"),
        video_root=None,
        judge=judge,
        judge_api_base=judge_api_base,
    )
    bench = load_benchmark(request.dataset, request.revision, request.selection)
    preds, problems, warnings = load_predictions(target, bench.samples, mode)  # type: ignore[arg-type]
    if problems:
        shown = "\n    ".join(_format_problem(p) for p in problems[:20])
        more = f"\n    ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise UserError(
            f"{len(problems)} problem(s) in {target}",
            where=shown + more,
            fix=f"run `vidbench validate {target} --mode {mode}` for the full list",
        )
    if mode == "closed":
        return scoring.score_closed(bench.samples, preds)
    return score_open_predictions(
        bench.samples, preds, request, make_client(8, None, prices), 8, None
    )
