"""What `vidbench eval` and `vidbench score` do, end to end: load, run (or resume), score, write the
run folder. The CLI only parses arguments and prints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vidbench import feedback, runs
from vidbench.cache import get_cache
from vidbench.contracts import (
    DatasetInfo,
    Judgement,
    Manifest,
    Method,
    MethodInfo,
    Metrics,
    PredictionRecord,
    ResumeEntry,
    RunConfig,
    Sample,
    SelectionConfig,
    Usage,
)
from vidbench.dataset import Benchmark, Selection, load_benchmark, select
from vidbench.errors import RunInterrupted, UserError
from vidbench.evaluate import (
    EvalOptions,
    EvalOutcome,
    Evaluator,
    ensure_videos_present,
    frame_workers,
    status,
)
from vidbench.registry import build_method
from vidbench.resume import reconcile
from vidbench.secrets import register_options, register_url


def selection_of(config: RunConfig) -> Selection:
    return Selection(**config.selection.model_dump())


def selection_config(selection: Selection) -> SelectionConfig:
    return SelectionConfig.model_validate(selection.manifest())


def make_client(
    max_concurrency: int,
    max_cost: float | None,
    prices: dict[str, tuple[float, float]] | None = None,
    timeout_s: float = 120.0,
    cache_mode: str = "use",
) -> Any:
    from vidbench.llm import LLMClient

    return LLMClient(
        get_cache(),
        max_concurrency=max_concurrency,
        budget_usd=max_cost,
        prices=prices,
        timeout_s=timeout_s,
        cache_mode=cache_mode,
    )


def remember_credentials(config: RunConfig) -> None:
    """Credentials given as options or inside URLs are known by value from here on, so whatever
    echoes them later (errors, replies, the command line) is redacted (vidbench.secrets)."""
    register_options(config.options)
    register_url(config.judge_api_base)


def prepare(
    request: RunConfig,
    on_method: Callable[[Method], None] | None = None,
    method: Method | None = None,
    split_bench: Benchmark | None = None,
) -> tuple[Method, Benchmark, int]:
    """The method, the selected samples and how many samples the whole split has.
    `on_method` runs once the method is built, before the dataset is read. The method and the
    split's samples may be handed in already built (the Python API's objects)."""
    method = method or build_method(request.method, request.options)
    if on_method is not None:
        on_method(method)
    if request.mode not in method.modes:
        raise UserError(
            f"method {request.method!r} has no {request.mode} mode",
            fix=f"use --mode {' or '.join(method.modes)}",
        )
    if getattr(type(method), request.mode) is getattr(Method, request.mode):
        # Caught here, not as one method_error per sample scoring 0.0.
        raise UserError(
            f"method {request.method!r} ({type(method).__qualname__}) does not implement "
            f"{request.mode} mode: it inherits Method.{request.mode}",
            fix=f"define `def {request.mode}(self, task, llm)` in the class, or set "
            f"`modes = {tuple(m for m in method.modes if m != request.mode)!r}` and use the "
            "mode it implements",
        )
    if request.both_orders and request.mode != "closed":
        raise UserError(
            "--both-orders applies to closed mode only",
            fix="drop --both-orders or use --mode closed",
        )
    bench = split_bench or load_split(request)
    split_samples = len(bench.samples)
    bench = Benchmark(bench.source, select(bench.samples, selection_of(request)))
    if not bench.samples:
        raise UserError(
            "the selection matches no sample",
            fix="loosen --split/--domain/--action/--sample-ids, or run `vidbench data info`",
        )
    return method, bench, split_samples


def load_split(config: RunConfig) -> Benchmark:
    """Every sample of the run's split (no domain/action/limit filter)."""
    return load_benchmark(
        config.dataset,
        config.revision,
        Selection(split=config.selection.split),
        config.video_root,
    )


def check_credentials(request: RunConfig, method: Method, bench: Benchmark) -> None:
    """Every model the run will call has its key (or a server URL), before any work starts."""
    from vidbench.llm import missing_credentials

    # The method declares its models; one that declares none is checked by its first call.
    needs = {(m.model, m.api_base) for m in type(method).models(method.config)}
    if request.mode == "open":
        from vidbench.judge import judge_models

        for model in judge_models(request.judge_protocol, request.judge):
            needs.add((model, request.judge_api_base))
    for model, api_base in sorted(needs, key=str):
        missing = missing_credentials(model, api_base)
        if missing:
            raise UserError(
                f"model {model} needs {' or '.join(missing)}, which is not set",
                fix=f"export {missing[0]}=... (litellm's usual variables), or point "
                "the method at an OpenAI-compatible server with -M api_base=URL "
                "(--judge-api-base for the judge); --dry-run works without keys",
            )


def calls_models(request: RunConfig, method: Method, bench: Benchmark | None = None) -> bool:
    """Whether the run will call any model, so the client is worth importing early: known from
    the method's declared models, else (once the dataset is read) from its plan."""
    if request.mode == "open" or type(method).models(method.config):
        return True  # the judge, or declared models
    if bench is None:
        return False
    return bool(method.plan(bench.samples[0].info, request.mode, 1, (1, 1)))


def _import_client_early(request: RunConfig, method: Method, bench: Benchmark | None) -> None:
    from vidbench.llm import import_litellm_in_background

    if calls_models(request, method, bench) and import_litellm_in_background():
        status("importing the model client in the background ...")


def jobs_for(bench: Benchmark, both_orders: bool) -> list[tuple[Sample, bool]]:
    jobs = [(s, False) for s in bench.samples]
    if both_orders:
        jobs += [(s, True) for s in bench.samples]
    return jobs


def manifest_for(
    request: RunConfig, method: Method, bench: Benchmark, split_samples: int
) -> Manifest:
    from vidbench.judge import judge_label

    specs: dict[str, dict[str, Any]] = {}
    for s in bench.samples:
        specs.setdefault(s.domain, method.frame_spec(s.info).as_dict())
    config = method.config.model_dump(mode="json")
    return runs.build_manifest(
        method=MethodInfo(
            name=request.method,
            config=config,
            uses_ground_truth=method.uses_ground_truth,
            link=method_link(method, request.method, config),
        ),
        mode=request.mode,
        dataset=dataset_info(bench, request.selection, split_samples),
        frame_specs=specs,
        judge=judge_label(request.judge_protocol, request.judge)
        if request.mode == "open"
        else None,
        both_orders=request.both_orders,
    )


def dataset_info(bench: Benchmark, selection: SelectionConfig, split_samples: int) -> DatasetInfo:
    return DatasetInfo(
        **bench.source.manifest(),
        split=selection.split,
        selection=selection,
        n_samples=len(bench.samples),
        split_samples=split_samples,
    )


def method_link(method: Method, name: str, config: dict[str, Any]) -> str:
    """The method's own `link` if it declares one, else the page of the paper's model it runs."""
    from vidbench.reported import model_link

    declared = getattr(method, "link", "")
    if isinstance(declared, str) and declared:
        return declared
    return model_link(str(config.get("model") or "")) or model_link(name)


def default_judge() -> str:
    from vidbench.judge import DEFAULT_JUDGE_MODEL

    return DEFAULT_JUDGE_MODEL


def run_options(options: EvalOptions) -> dict[str, Any]:
    """The run-time knobs as the manifest records them (they may change at a resume)."""
    return {
        "max_concurrency": options.max_concurrency,
        "max_cost": options.max_cost,
        "timeout_s": options.timeout_s,
        "cache": options.cache_mode,
        "prices": {model: list(price) for model, price in sorted(options.prices.items())},
    }


def record_resume(
    run_dir: Path,
    request: RunConfig,
    manifest: Manifest,
    knobs: dict[str, Any],
    changes: dict[str, list[Any]],
) -> None:
    """Save what a resume changed: config.json gets the new locations (so the next resume goes
    to the restarted server too); the manifest lists each resume with its knobs and changes."""
    previous = manifest.resumes[-1].run_options if manifest.resumes else manifest.run_options
    changed = dict(changes)
    for name, value in knobs.items():
        if name in previous and previous[name] != value:
            changed[name] = [previous[name], value]
    manifest.resumes.append(
        ResumeEntry(
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            command=runs.redacted_command(),
            run_options=knobs,
            changes=changed,
        )
    )
    runs.write_model(run_dir / runs.CONFIG, request)
    runs.write_model(run_dir / runs.MANIFEST, manifest)


ResumeOverrides = tuple[dict[str, Any], dict[str, Any]]


def run_eval(
    request: RunConfig,
    options: EvalOptions,
    runs_dir: Path,
    resume: Path | None = None,
    overrides: ResumeOverrides | None = None,
    prepared: tuple[Method, Benchmark | None] | None = None,
) -> EvalOutcome:
    """Start a run (or resume one), run every missing or failed sample, score, write it all.

    On resume, `overrides` holds what the command line set explicitly (config fields, -M
    options); vidbench.resume decides what of it applies and what is refused. The run folder
    stays locked (one writer) until its metrics are written; a folder that cannot be resumed is
    refused before anything runs. `prepared`: the method and the split's samples, built by the
    caller (the Python API)."""
    lock = runs.lock_run_dir(resume) if resume is not None else None
    try:
        changes: dict[str, list[Any]] = {}
        remember_credentials(request)
        if resume is not None:
            request, changes = _resumed_config(resume, overrides)
            remember_credentials(request)
        from vidbench import framepool
        from vidbench.framecache import frame_cache

        # What this run uses of the frame cache is kept over what earlier runs used.
        frame_cache(get_cache().root).begin_run()
        # The frame workers' interpreters boot (~0.5 CPU-s each) on the other cores while the
        # dataset loads: the first sample's frames are then not waiting on them.
        framepool.start()
        status(f"loading dataset {request.dataset} ...")
        # The model client (seconds to import) loads in the background from here on.
        given_method, given_bench = prepared or (None, None)
        method, bench, split_samples = prepare(
            request,
            on_method=lambda m: _import_client_early(request, m, None),
            method=given_method,
            split_bench=given_bench,
        )
        _import_client_early(request, method, bench)  # methods that declare no models
        status(f"{len(bench.samples)} samples: checking videos ...")
        ensure_videos_present(bench)
        check_credentials(request, method, bench)
        if resume is not None:
            run_dir = resume
            manifest = _manifest_or_rebuilt(run_dir, request, method, bench, split_samples)
            log = runs.RecordLog(run_dir / runs.PREDICTIONS)
            done = runs.completed(log.read())
            log.keep_only(done.values())  # drop failed records: they run again, never duplicated
            record_resume(run_dir, request, manifest, run_options(options), changes)
        else:
            manifest = manifest_for(request, method, bench, split_samples)
            manifest.run_options = run_options(options)
            files = {runs.CONFIG: request, runs.MANIFEST: manifest}
            shard = request.selection.shard
            label = f"{request.method}-shard{shard[0]}of{shard[1]}" if shard else request.method
            run_dir, lock = runs.create_run_dir(runs_dir, label, request.mode, files)
            done = {}
        feedback.attach_run_log(run_dir)
        feedback.log.info("run %s: %s", run_dir, runs.redacted_command())
        client = make_client(
            options.max_concurrency,
            options.max_cost,
            options.prices,
            options.timeout_s,
            options.cache_mode,
        )
        evaluator = Evaluator(
            method, bench, request.mode, run_dir, options, client, get_cache(), name=request.method
        )
        jobs = jobs_for(bench, request.both_orders)
        todo = [job for job in jobs if (job[0].key, job[1]) not in done]
        status(f"running {len(todo)} samples ({frame_workers()} frame workers) ...")
        feedback.log.info(
            "running %d of %d samples (%d done before)", len(todo), len(jobs), len(done)
        )
        try:
            new_records, stopped = evaluator.run(todo)
            # The records in hand are the run: the kept ones from before plus the ones just
            # made (a failed old record was dropped above, so nothing is superseded twice).
            records = list(done.values()) + new_records
            if evaluator.frame_sets_not_cached:
                from vidbench.framecache import frame_cache

                cap_mb = frame_cache(get_cache().root).max_bytes / 1e6
                status(
                    f"the frame cache is full ({cap_mb:.0f} MB): {evaluator.frame_sets_not_cached} "
                    "videos' frames of this run were not kept, and a rerun decodes them again; "
                    "raise $VIDBENCH_FRAME_CACHE_MB to keep them"
                )
            status("scoring ...")
            outcome = EvalOutcome(
                run_dir,
                records,
                total_usage(records),
                stopped,
                saved_usd=float(getattr(client, "saved_usd", 0.0)),
                unpriced_calls=int(getattr(client, "unpriced_calls", 0)),
                n_jobs=len(jobs),
            )
            for record in records:
                if record.status.value != "ok":
                    feedback.log.info(
                        "failed %s: %s: %s", record.sample_key, record.status.value, record.error
                    )
            feedback.log.info("scoring")
            outcome.metrics = score_records(
                request, bench, records, client, options.max_concurrency, run_dir, manifest
            )
        except KeyboardInterrupt:  # while running or while judging: say what is saved
            saved_now = runs.completed(evaluator.log.read())
            raise RunInterrupted(run_dir, len(saved_now), len(jobs)) from None
        feedback.log.info(
            "done: %d records, average %s, cost %s USD%s",
            len(records),
            outcome.metrics.average,
            outcome.usage.cost_usd,
            " (stopped at --max-cost)" if stopped else "",
        )
        return outcome
    finally:
        feedback.detach_run_log()
        if lock is not None:
            lock.release()


def _resumed_config(
    run_dir: Path, overrides: ResumeOverrides | None
) -> tuple[RunConfig, dict[str, list[Any]]]:
    """The saved config with what the command line may change applied (vidbench.resume)."""
    runs.read_model(run_dir / runs.CONFIG, RunConfig)  # a clear error for a foreign file
    given, given_options = overrides or ({}, {})
    try:
        resolved = runs.read_model(run_dir / runs.MANIFEST, Manifest).method.config
    except UserError:  # killed before its manifest: rebuilt later from the config
        resolved = None
    saved = runs.read_json(run_dir / runs.CONFIG)
    config, changes = reconcile(saved, given, given_options, resolved)
    return RunConfig.model_validate(config), changes


def _manifest_or_rebuilt(
    run_dir: Path, request: RunConfig, method: Method, bench: Benchmark, split_samples: int
) -> Manifest:
    """A folder from an older vidbench may have been killed between config.json and
    manifest.json; the manifest is derived from the config, so it is rebuilt, not fatal."""
    try:
        return runs.read_model(run_dir / runs.MANIFEST, Manifest)
    except UserError:
        manifest = manifest_for(request, method, bench, split_samples)
        runs.write_model(run_dir / runs.MANIFEST, manifest)
        return manifest


def total_usage(records: list[PredictionRecord]) -> Usage:
    total = Usage()
    for r in records:
        total.add(r.usage)
    return total


def score_records(
    request: RunConfig,
    bench: Benchmark,
    records: list[PredictionRecord],
    client: Any,
    max_workers: int = 8,
    run_dir: Path | None = None,
    manifest: Manifest | None = None,
    judgements: Mapping[str, Judgement] | None = None,
) -> Metrics:
    """Metrics for a run's records; writes metrics.json, judgements.jsonl and report.md when a
    run folder (and its manifest) is given. Open set: `judgements` given (a merge of shards,
    a submission's check) are used as they are, without calling the judge."""
    from vidbench import scoring
    from vidbench.report import render_report

    metrics, judgements = scoring.score_run_records(
        bench.samples,
        records,
        request.mode,
        judge=(
            judge_for(request.judge, request.judge_api_base, client, request.judge_protocol)
            if request.mode == "open" and judgements is None
            else None
        ),
        both_orders=request.both_orders,
        max_workers=max_workers,
        judgements=judgements,
    )
    if run_dir is not None:
        if judgements:
            from vidbench.judge import write_judgements

            write_judgements(run_dir / runs.JUDGEMENTS, judgements.values())
        runs.write_model(run_dir / runs.METRICS, metrics)
        if manifest is not None:
            (run_dir / runs.REPORT).write_text(render_report(manifest, metrics))
    return metrics


def judge_for(model: str | None, api_base: str | None, client: Any, protocol: str = "paper") -> Any:
    """The open-set judge of a protocol (its default model unless `model`), calling through the
    run's client."""
    from vidbench.judge import make_judge

    return make_judge(protocol, client.session, model, api_base)
