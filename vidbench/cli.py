"""The `vidbench` command. Each command parses its options and hands off to the module that does
the work; expected failures (UserError) print a message and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from vidbench import cli_options as opt
from vidbench.errors import RunInterrupted, UserError
from vidbench.secrets import redact_text

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Evaluate video action differencing methods on VidDiffBench.",
)
data_app = typer.Typer(no_args_is_help=True, help="Inspect, download and check the benchmark.")
app.add_typer(data_app, name="data")
cache_app = typer.Typer(no_args_is_help=True, help="Inspect or clear the on-disk cache.")
app.add_typer(cache_app, name="cache")


def _echo_err(text: str) -> None:
    # Messages can quote what the user typed (URLs with passwords, keys): shown without them.
    typer.echo(redact_text(text), err=True)


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    method: str = typer.Option(
        "random",
        "--method",
        help="Registry name (see `vidbench methods`) or path/to/file.py:ClassName.",
    ),
    method_option: Optional[list[str]] = typer.Option(
        None, "-M", "--method-option", help="Method option key=value (repeatable)."
    ),
    method_config: Optional[str] = typer.Option(
        None, "--method-config", help="YAML file of method options."
    ),
    mode: str = opt.Mode,
    dataset: str = opt.Dataset,
    revision: Optional[str] = opt.Revision,
    split: str = opt.Split,
    domain: Optional[list[str]] = opt.Domain,
    action: Optional[list[str]] = opt.Action,
    limit: Optional[int] = opt.Limit,
    sample_ids: Optional[list[str]] = opt.SampleIds,
    per_action: Optional[int] = opt.PerAction,
    shard: Optional[str] = opt.Shard,
    video_root: Optional[str] = opt.VideoRoot,
    cache_dir: Optional[Path] = opt.CacheDir,
    max_concurrency: int = typer.Option(
        8, "--max-concurrency", min=1, help="Samples and LLM calls in flight at once."
    ),
    max_cost: Optional[float] = typer.Option(
        None,
        "--max-cost",
        min=0,
        help="Stop starting new work once this many USD are spent; the run stays resumable.",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Make no call: print the plan "
        "(calls, images, tokens, cost) and check provider limits.",
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Run folder to finish: runs only missing or failed samples with its saved config; "
        "run-time options (concurrency, budget, timeout, cache, endpoint) may be given again.",
    ),
    both_orders: bool = typer.Option(
        False,
        "--both-orders",
        help="Also run every pair with A and B swapped; report order consistency (closed mode).",
    ),
    judge: Optional[str] = opt.Judge,
    judge_protocol: Optional[str] = opt.JudgeProtocol,
    judge_api_base: Optional[str] = opt.JudgeApiBase,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where new run folders go."),
    price: Optional[list[str]] = opt.Price,
    cache: str = opt.CacheMode,
    timeout: float = opt.Timeout,
    allow_failures: Optional[float] = typer.Option(
        None,
        "--allow-failures",
        min=0,
        max=1,
        help="Exit 0 instead of 3 when fewer than this fraction of samples failed.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Live progress bar."),
) -> None:
    """Run a method over the benchmark into a run folder, then score it.

    Exit codes: 0 every selected sample ok; 2 bad input; 3 finished with failed samples;
    4 stopped by --max-cost; 130 interrupted. Codes 3, 4 and 130 print the resume command."""
    from vidbench import feedback

    feedback.show_progress(progress and not dry_run)  # bars on judging and embedding too
    from vidbench import pipeline
    from vidbench.contracts import RunConfig
    from vidbench.evaluate import EvalOptions
    from vidbench.registry import parse_options
    from vidbench.report import render_metrics

    opt.use_cache(cache_dir)
    request = RunConfig(
        method=method,
        options=parse_options(method_option, method_config),
        mode=opt.check_mode(mode),
        dataset=dataset,
        revision=revision,
        selection=pipeline.selection_config(
            opt.selection(split, domain, action, limit, sample_ids, per_action, shard)
        ),
        video_root=video_root,
        both_orders=both_orders,
        judge=judge,
        judge_api_base=judge_api_base,
        judge_protocol=opt.check_judge_protocol(judge_protocol) or "paper",
    )
    if resume is not None and not (resume / "config.json").is_file():
        raise UserError(
            f"--resume {resume}: no config.json there",
            fix="pass a run folder written by `vidbench eval`",
        )
    if dry_run:
        from vidbench.plan import dry_run as plan_dry_run

        typer.echo(plan_dry_run(request))
        return
    options = EvalOptions(
        max_concurrency=max_concurrency,
        max_cost=max_cost,
        progress=progress,
        prices=opt.parse_prices(price),
        timeout_s=timeout,
        cache_mode=opt.check_cache_mode(cache),
    )
    overrides = None
    if resume is not None:
        given = opt.given_on_command_line(ctx)
        fields = {
            **request.model_dump(exclude={"options", "selection"}),
            **request.selection.model_dump(),
        }
        overrides = (
            {field: value for field, value in fields.items() if field in given},
            request.options if given & {"method_option", "method_config"} else {},
        )
    outcome = pipeline.run_eval(request, options, runs_dir, resume, overrides)
    if outcome.metrics is not None:
        from vidbench import runs
        from vidbench.contracts import Manifest

        manifest = runs.read_model(outcome.run_dir / runs.MANIFEST, Manifest)
        typer.echo(render_metrics(outcome.metrics, manifest))
    if outcome.saved_usd or outcome.unpriced_calls:
        typer.echo(
            f"cache saved ${outcome.saved_usd:.4f} this session; "
            f"{outcome.unpriced_calls} call(s) had no known price (not in the cost figures; "
            "give one with --price)"
        )
    typer.echo(f"\nrun folder: {outcome.run_dir}")
    code = eval_exit_code(outcome, allow_failures, cache_dir)
    if code:
        raise typer.Exit(code)


def eval_exit_code(
    outcome: Any, allow_failures: float | None, cache_dir: Path | None = None
) -> int:
    """4 when the budget stopped the run, 3 when samples failed (0 below --allow-failures);
    either way the counts by status and the exact command that finishes the run go to stderr."""
    from collections import Counter

    counts = Counter(r.status.value for r in outcome.records)
    not_run = max(0, outcome.n_jobs - len(outcome.records))
    failed = sum(n for status, n in counts.items() if status != "ok") + not_run
    if not_run:
        counts["not run"] = not_run
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    resume = f"vidbench eval --resume {outcome.run_dir}"
    if cache_dir is not None:  # the answers already paid for are in that cache
        resume += f" --cache-dir {cache_dir}"
    if outcome.stopped_for_budget:
        _echo_err(
            f"stopped by the budget (--max-cost): {summary}; finish with `{resume} --max-cost MORE`"
        )
        return 4
    if not failed:
        return 0
    fraction = failed / max(1, outcome.n_jobs)
    if allow_failures is not None and fraction < allow_failures:
        _echo_err(f"{summary} ({fraction:.1%} failed, below --allow-failures {allow_failures})")
        return 0
    _echo_err(f"finished with failed samples: {summary}; retry them with `{resume}`")
    return 3


@app.command("score")
def score_command(
    target: Path = typer.Argument(..., help="A run folder, or a predictions JSON file."),
    mode: Optional[str] = typer.Option(
        None,
        "--mode",
        "-m",
        help="closed or open (default: the run's mode; required for a predictions file).",
    ),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", "-d", help="Default: the run's dataset (or demo for a predictions file)."
    ),
    revision: Optional[str] = opt.Revision,
    split: Optional[str] = typer.Option(
        None, "--split", "-s", help="Default: the run's split (or all)."
    ),
    judge: Optional[str] = opt.Judge,
    judge_protocol: Optional[str] = opt.JudgeProtocol,
    judge_api_base: Optional[str] = opt.JudgeApiBase,
    cache_dir: Optional[Path] = opt.CacheDir,
    price: Optional[list[str]] = opt.Price,
    cache: str = opt.CacheMode,
    timeout: float = opt.Timeout,
    out: Optional[Path] = typer.Option(None, "--out", help="Write metrics JSON here."),
    into: Optional[Path] = typer.Option(
        None,
        "--into",
        help="For a predictions file: write a run folder (manifest, metrics, report) here, "
        "so the submission can go on the leaderboard.",
    ),
    name: Optional[str] = typer.Option(
        None, "--name", help="The submission's name on the leaderboard (default: the file name)."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Refuse answers other than a/b (by default they are scored as wrong, with a warning).",
    ),
) -> None:
    """Score saved predictions without calling any method; prints a table and every warning
    `vidbench validate` would print (also stored in the metrics)."""
    from vidbench import feedback

    feedback.show_progress(sys.stderr.isatty())
    from vidbench.report import render_metrics
    from vidbench.scorecmd import score_target

    opt.use_cache(cache_dir)
    metrics = score_target(
        target,
        mode=opt.check_mode(mode) if mode is not None else None,
        dataset=dataset,
        revision=revision,
        split=split,
        judge=judge,
        judge_api_base=judge_api_base,
        judge_protocol=opt.check_judge_protocol(judge_protocol),
        prices=opt.parse_prices(price),
        timeout_s=timeout,
        cache_mode=opt.check_cache_mode(cache),
        strict=strict,
        into=into,
        name=name,
    )
    for warning in metrics.warnings:
        _echo_err(f"warning: {warning}")
    if dataset is None and not target.is_dir():
        _echo_err(DEMO_DEFAULTED)
    manifest = None
    if target.is_dir() and (target / "manifest.json").is_file():
        from vidbench import runs
        from vidbench.contracts import Manifest

        manifest = runs.read_model(target / runs.MANIFEST, Manifest)
    typer.echo(render_metrics(metrics, manifest))
    if into is not None:
        typer.echo(f"run folder: {into}")
    if out is not None:
        from vidbench.runs import write_model

        write_model(out, metrics)
        typer.echo(f"metrics written to {out}")


@app.command("judge-agreement")
def judge_agreement_command(
    run: Path = typer.Argument(..., help="A finished open-set run folder."),
    with_: str = typer.Option(
        ...,
        "--with",
        help="The other judge: a protocol (paper, single) or a litellm model id (the run's "
        "protocol with that model).",
    ),
    judge_api_base: Optional[str] = opt.JudgeApiBase,
    cache_dir: Optional[Path] = opt.CacheDir,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the agreement JSON here."),
) -> None:
    """Re-judge a finished open run with another judge and report how far they agree."""
    from vidbench.agreement import judge_agreement, render_agreement

    opt.use_cache(cache_dir)
    result = judge_agreement(run, with_, judge_api_base)
    typer.echo(render_agreement(result))
    if out is not None:
        from vidbench.runs import write_json

        write_json(out, result)
        typer.echo(f"agreement written to {out}")


# Said whenever a predictions file was checked against the demo because no --dataset was given:
# a file for the real benchmark would otherwise seem to fail (or pass) for no visible reason.
DEMO_DEFAULTED = (
    "note: checked against dataset demo (the default); pass --dataset jmhb/VidDiffBench "
    "(or a folder) to check against the benchmark"
)


@app.command("validate")
def validate_command(
    predictions: Path = typer.Argument(..., help="Predictions JSON file."),
    mode: str = opt.Mode,
    dataset: Optional[str] = typer.Option(
        None, "--dataset", "-d", help="Default: demo (built in, offline); or a folder or Hub id."
    ),
    revision: Optional[str] = opt.Revision,
    split: str = opt.Split,
    strict: bool = typer.Option(
        False, "--strict", help="Answers other than a/b are problems, not warnings."
    ),
) -> None:
    """List every problem of a predictions file, each with where it is. Exit 0 if clean, else 2."""
    from vidbench.scorecmd import validate_file

    problems, total, warnings, n = validate_file(
        predictions, opt.check_mode(mode), dataset or "demo", revision, split, strict
    )
    for w in warnings:
        _echo_err(f"warning: {w}")
    if problems:
        from vidbench.untrusted import capped

        for p in capped(problems, 250):
            _echo_err(f"problem: {p}")
        _echo_err(f"{total:,} problem(s) in {predictions}")
        if dataset is None:
            _echo_err(DEMO_DEFAULTED)
        raise typer.Exit(2)
    typer.echo(f"{predictions}: valid {mode}-set predictions for {n} sample(s)")
    if dataset is None:
        _echo_err(DEMO_DEFAULTED)


@app.command("leaderboard")
def leaderboard_command(
    runs_: Optional[list[Path]] = typer.Argument(
        None,
        metavar="[RUN_DIR_OR_RESULT]...",
        help="Run folders or result files (default: every run under ./runs).",
    ),
    out_dir: Path = typer.Option(Path("leaderboards"), "--out-dir", help="Where tables go."),
    dataset: Optional[str] = typer.Option(
        None,
        "--dataset",
        "-d",
        help="The dataset ranked: a Hub repo id or a local folder (default: jmhb/VidDiffBench).",
    ),
    revision: Optional[str] = typer.Option(
        None,
        "--revision",
        help="Rank only runs of this dataset revision (default: that of the newest full run).",
    ),
    include_partial: bool = typer.Option(
        False,
        "--include-partial",
        help="Also show runs that are not full (demo, --limit, filters, failed or missing "
        "samples, another dataset), marked and never ranked.",
    ),
) -> None:
    """Collect runs into leaderboards/closed.csv, open.csv, README.md and index.html. Only full
    runs of the leaderboard's dataset are ranked; see --include-partial."""
    from vidbench.admission import LeaderboardDataset
    from vidbench.dataset import DEFAULT_REPO_ID
    from vidbench.leaderboard import build_leaderboards

    paths = list(runs_ or [])
    if not paths and Path("runs").is_dir():
        paths = sorted(p for p in Path("runs").iterdir() if (p / "metrics.json").is_file())
    run_dirs = [p for p in paths if p.is_dir()]
    results = [p for p in paths if p.is_file()]
    for p in paths:
        if not p.exists():
            raise UserError(f"{p} does not exist", fix="pass run folders or result files")
    left_out: list[str] = []
    written = build_leaderboards(
        run_dirs,
        out_dir,
        results,
        board=LeaderboardDataset(dataset or DEFAULT_REPO_ID, revision),
        include_partial=include_partial,
        left_out=left_out,
    )
    for path in written.values():
        typer.echo(f"wrote {path}")
    if left_out:
        _echo_err(
            f"left out {len(left_out)} run(s) that are not full (--include-partial shows them):"
        )
        for line in left_out:
            _echo_err(f"  {line}")


@app.command("methods")
def methods_command(
    name: Optional[str] = typer.Argument(
        None, help="Show this method's options (the -M keys) with their defaults."
    ),
) -> None:
    """List the methods `--method` accepts, or one method's options."""
    from vidbench.registry import available_methods, method_options

    if name is not None:
        for line in method_options(name):
            typer.echo(line)
        return
    entries = available_methods()
    width = max(len(n) for n in entries)
    for entry_name, entry in entries.items():
        typer.echo(f"{entry_name.ljust(width)}  {entry.summary}")
    typer.echo(
        "\nAlso: --method path/to/file.py:ClassName, or a package exposing the "
        "'vidbench.methods' entry point. Options: -M key=value; "
        "`vidbench methods NAME` lists them."
    )


@data_app.command("info")
def data_info(
    dataset: str = opt.Dataset,
    revision: Optional[str] = opt.Revision,
    split: str = opt.Split,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts per split, domain and action; label balance; scored items."""
    from vidbench.dataset import Selection, load_benchmark
    from vidbench.datatools import info_tables
    from vidbench.report import text_table

    bench = load_benchmark(dataset, revision, Selection(split=split))
    tables = info_tables(bench.samples)
    if as_json:
        typer.echo(json.dumps({"source": bench.source.manifest(), **tables}, indent=2))
        return
    src = bench.source
    typer.echo(f"dataset {src.repo_id} @ {src.revision}: {len(bench.samples)} pairs\n")
    for dim in ("split", "domain", "action"):
        typer.echo(text_table(tables[dim]) + "\n")
    typer.echo("scored = ground-truth a/b items (the only ones accuracy and recall count)")


@data_app.command("download")
def data_download(
    video_root: Optional[str] = opt.VideoRoot,
    repo: str = typer.Option(None, "--repo", help="Dataset repo hosting the video archives."),
    files: Optional[list[str]] = typer.Option(
        None, "--file", help="Archive path in that repo (repeatable)."
    ),
    revision: Optional[str] = opt.Revision,
    archives: Optional[list[Path]] = typer.Option(
        None,
        "--archive",
        help="Unpack this already-downloaded zip instead of fetching (repeatable).",
    ),
    max_extract_gb: Optional[float] = typer.Option(
        None,
        "--max-extract-gb",
        min=0.001,
        help="Refuse archives that would unpack to more than this many GiB (default 64).",
    ),
) -> None:
    """Fetch and unpack the hosted video archives; print how to get the licence-gated ones."""
    from vidbench import datatools
    from vidbench.dataset import default_video_root

    root = Path(video_root).expanduser() if video_root else default_video_root()
    max_bytes = int(max_extract_gb * 1024**3) if max_extract_gb else datatools.MAX_EXTRACT_BYTES
    if archives:
        for archive in archives:
            written = datatools.extract_archive(archive, root, max_bytes=max_bytes)
            typer.echo(f"{archive}: {written:,} bytes unpacked")
    else:
        datatools.download_videos(
            root,
            repo or datatools.VIDEO_REPO_ID,
            tuple(files or datatools.VIDEO_ARCHIVES),
            revision,
            max_bytes=max_bytes,
        )
    typer.echo(f"videos unpacked under {root}\n")
    typer.echo(datatools.gated_sources_note(root))


@data_app.command("doctor")
def data_doctor(
    dataset: str = opt.Dataset,
    revision: Optional[str] = opt.Revision,
    split: str = opt.Split,
    video_root: Optional[str] = opt.VideoRoot,
    show_all: bool = typer.Option(False, "--all", help="Show healthy videos too."),
) -> None:
    """Check every video: found, decodes, frame count vs trim, fps vs fps_original."""
    from vidbench import feedback

    feedback.show_progress(sys.stderr.isatty())
    from vidbench.dataset import Selection, load_benchmark
    from vidbench.datatools import doctor
    from vidbench.report import text_table

    bench = load_benchmark(dataset, revision, Selection(split=split), video_root)
    rows = doctor(bench.samples, bench.source.video_root)
    shown = [r for r in rows if show_all or not r.ok or r.note]
    typer.echo(
        text_table(
            [
                {
                    "sample": r.sample_key,
                    "video": r.video,
                    "found": r.found,
                    "decodes": r.decodes,
                    "frames": r.frames,
                    "trimmed": r.trimmed,
                    "fps": r.fps,
                    "fps_original": r.fps_original,
                    "problem": r.problem or r.note,
                }
                for r in shown
            ]
        )
    )
    broken = sum(not r.ok for r in rows)
    typer.echo(
        f"\n{len(rows)} videos under {bench.source.video_root}: {len(rows) - broken} ok, "
        f"{broken} broken"
    )
    if broken:
        raise typer.Exit(1)


@cache_app.command("info")
def cache_info(cache_dir: Optional[Path] = opt.CacheDir) -> None:
    """Where the cache is, its entries and size by kind, and LLM answers per model."""
    from vidbench.cache import get_cache
    from vidbench.report import text_table

    opt.use_cache(cache_dir)
    info = get_cache().info()
    on_disk = sum(p.stat().st_size for p in info.root.rglob("*") if p.is_file())
    typer.echo(f"cache: {info.root}")
    typer.echo(f"{info.entries} entries, {_mib(info.size)} of values, {_mib(on_disk)} on disk\n")
    kinds = [{"kind": ns, "entries": n, "size": _mib(b)} for ns, (n, b) in info.namespaces.items()]
    models = [{"model": m, "answers": n, "size": _mib(b)} for m, (n, b) in info.models.items()]
    if kinds:
        typer.echo(text_table(sorted(kinds, key=lambda r: str(r["kind"]))))
    if models:
        typer.echo("\n" + text_table(sorted(models, key=lambda r: str(r["model"]))))


@cache_app.command("clear")
def cache_clear(
    model: Optional[str] = typer.Option(
        None, "--model", help="Only LLM answers of this model (as passed to litellm)."
    ),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help="Only entries older than this: 30d, 12h, 15m, 90s."
    ),
    cache_dir: Optional[Path] = opt.CacheDir,
) -> None:
    """Remove cache entries: all of them, or those of one model and/or older than an age."""
    from vidbench.cache import get_cache

    opt.use_cache(cache_dir)
    age = opt.parse_age(older_than) if older_than is not None else None
    removed, size = get_cache().clear(model=model, older_than_s=age)
    typer.echo(f"removed {removed} entries ({_mib(size)}) from {get_cache().root}")


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


from vidbench import cli_runs  # noqa: E402  (compare, merge, view, submit)

cli_runs.register(app)


def _version(value: bool) -> None:
    if value:
        import vidbench

        typer.echo(f"vidbench {vidbench.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Evaluate video action differencing methods on VidDiffBench."""


def main() -> None:
    from vidbench import feedback

    try:
        app()
    except UserError as exc:
        feedback.reset()  # clear the status line before the message
        _echo_err(exc.render())
        sys.exit(exc.exit_code)
    except RunInterrupted as exc:
        _echo_err(exc.render())
        pool = sys.modules.get("vidbench.framepool")
        if pool is not None:  # its workers ignore Ctrl-C: stop them, nothing outlives the run
            pool.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # Calls still in flight would hold the exit for up to a whole timeout; what was saved is
        # on disk (fsynced records, committed cache rows), so nothing is lost by not waiting.
        os._exit(exc.exit_code)
    except KeyboardInterrupt:
        feedback.reset()
        _echo_err(
            "interrupted: finished samples are saved; continue with "
            "`vidbench eval --resume RUN_DIR`"
        )
        sys.exit(130)
    finally:
        feedback.reset()


def entry() -> None:
    """The `vidbench` console script: `main`, then an exit that skips interpreter teardown.

    Everything is written by then (records are appended as they finish, metrics and reports
    before the command returns), but tearing down litellm's and torch's modules and threads
    took 2-4 s after the last line was printed. In-process callers (tests) use `main`."""
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            _echo_err(str(exc.code))
    _exit_now(code)


def _exit_now(code: int) -> None:
    import logging
    import os

    logging.shutdown()  # flush log handlers (what atexit would have done)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say to it
            pass
    if "vidbench.framepool" in sys.modules:
        sys.modules["vidbench.framepool"].shutdown()
    if "multiprocessing" in sys.modules:
        import multiprocessing

        if multiprocessing.active_children():  # worker processes: let atexit stop them
            sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    entry()
