"""What `vidbench eval` and `vidbench score` do, end to end: load, run (or resume), score, write the
run folder. The CLI only parses arguments and prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench import feedback, runs
from vidbench.cache import get_cache
from vidbench.contracts import Method, PredictionRecord, Sample, Usage
from vidbench.dataset import Benchmark, Selection, load_benchmark
from vidbench.errors import UserError
from vidbench.evaluate import (
    EvalOptions,
    EvalOutcome,
    Evaluator,
    ensure_videos_present,
    order_consistency,
)
from vidbench.registry import build_method


@dataclass
class RunRequest:
    """Everything that defines a run; saved as config.json so --resume can rebuild it."""

    method: str
    options: dict[str, Any]
    mode: str
    dataset: str
    revision: str | None
    selection: Selection
    video_root: str | None
    both_orders: bool = False
    judge: str | None = None
    judge_api_base: str | None = None

    def to_json(self) -> dict[str, Any]:
        return runs.redact_secret_fields(
            {
                "method": self.method,
                "options": self.options,
                "mode": self.mode,
                "dataset": self.dataset,
                "revision": self.revision,
                "selection": self.selection.manifest(),
                "video_root": self.video_root,
                "both_orders": self.both_orders,
                "judge": self.judge,
                "judge_api_base": self.judge_api_base,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRequest:
        sel = data.get("selection") or {}
        return cls(
            method=data["method"],
            options=data.get("options") or {},
            mode=data["mode"],
            dataset=data["dataset"],
            revision=data.get("revision"),
            selection=Selection(
                split=sel.get("split", "all"),
                domains=tuple(sel.get("domains") or ()),
                actions=tuple(sel.get("actions") or ()),
                sample_ids=tuple(sel.get("sample_ids") or ()),
                per_action=sel.get("per_action"),
                limit=sel.get("limit"),
                shard=tuple(sel["shard"]) if sel.get("shard") else None,  # type: ignore[arg-type]
            ),
            video_root=data.get("video_root"),
            both_orders=bool(data.get("both_orders")),
            judge=data.get("judge"),
            judge_api_base=data.get("judge_api_base"),
        )


def make_client(
    max_concurrency: int,
    max_cost: float | None,
    prices: dict[str, tuple[float, float]] | None = None,
) -> Any:
    from vidbench.llm import LLMClient

    return LLMClient(
        get_cache(), max_concurrency=max_concurrency, budget_usd=max_cost, prices=prices
    )


def prepare(
    request: RunRequest, method: Method | None = None, bench: Benchmark | None = None
) -> tuple[Method, Benchmark]:
    """The request's method and samples, checked; either may be handed in already built."""
    feedback.stage(f"building method {request.method}")
    method = method or build_method(request.method, request.options)
    if request.mode not in method.modes:
        raise UserError(
            f"method {request.method!r} has no {request.mode} mode",
            fix=f"use --mode {' or '.join(method.modes)}",
        )
    if request.both_orders and request.mode != "closed":
        raise UserError(
            "--both-orders applies to closed mode only",
            fix="drop --both-orders or use --mode closed",
        )
    if bench is None:
        feedback.stage(f"loading dataset {request.dataset}")
        bench = load_benchmark(
            request.dataset, request.revision, request.selection, request.video_root
        )
    if not bench.samples:
        raise UserError(
            "the selection matches no sample",
            fix="loosen --split/--domain/--action/--sample-ids, or run `vidbench data info`",
        )
    return method, bench


def check_credentials(request: RunRequest, method: Method, bench: Benchmark) -> None:
    """Every model the run will call has its key (or a server URL), before any work starts."""
    from vidbench.llm import missing_credentials

    sample = bench.samples[0]
    needs = {
        (c.model, getattr(method.config, "api_base", None))
        for c in method.plan(sample.info, request.mode, 1, (1, 1))
    }
    if request.mode == "open":
        needs.add((request.judge or default_judge(), request.judge_api_base))
    for model, api_base in sorted(needs, key=str):
        missing = missing_credentials(model, api_base)
        if missing:
            raise UserError(
                f"model {model} needs {' or '.join(missing)}, which is not set",
                fix=f"export {missing[0]}=... (litellm's usual variables), or point "
                "the method at an OpenAI-compatible server with -M api_base=URL "
                "(--judge-api-base for the judge); --dry-run works without keys",
            )


def jobs_for(bench: Benchmark, both_orders: bool) -> list[tuple[Sample, bool]]:
    jobs = [(s, False) for s in bench.samples]
    if both_orders:
        jobs += [(s, True) for s in bench.samples]
    return jobs


def manifest_for(request: RunRequest, method: Method, bench: Benchmark) -> dict[str, Any]:
    specs: dict[str, Any] = {}
    for s in bench.samples:
        specs.setdefault(s.domain, method.frame_spec(s.info).as_dict())
    return runs.build_manifest(
        method={**method.describe(), "registry_name": request.method},
        mode=request.mode,
        dataset={
            **bench.source.manifest(),
            "split": request.selection.split,
            "selection": request.selection.manifest(),
            "n_samples": len(bench.samples),
        },
        frame_specs=specs,
        judge=(request.judge or default_judge()) if request.mode == "open" else None,
        both_orders=request.both_orders,
    )


def default_judge() -> str:
    from vidbench.judge import DEFAULT_JUDGE_MODEL

    return DEFAULT_JUDGE_MODEL


def run_eval(
    request: RunRequest,
    options: EvalOptions,
    runs_dir: Path,
    resume: Path | None = None,
    prepared: tuple[Method, Benchmark] | None = None,
) -> EvalOutcome:
    """Start a run (or resume one), run every missing or failed sample, score, write it all.
    `prepared`: a method and benchmark built by the caller (the Python API's objects)."""
    if resume is not None:
        saved = runs.read_json(resume / runs.CONFIG)
        request = RunRequest.from_json(saved)
    method, bench = prepare(request, *(prepared or (None, None)))
    feedback.stage(f"checking the videos of {len(bench.samples)} samples")
    ensure_videos_present(bench)
    feedback.stage("checking credentials (importing the model client)")
    check_credentials(request, method, bench)
    if resume is not None:
        run_dir = resume
        log = runs.RecordLog(run_dir / runs.PREDICTIONS)
        done = runs.completed(log.read())
        log.keep_only(done.values())  # drop failed records: they run again, never duplicated
    else:
        shard = request.selection.shard
        label = f"{request.method}-shard{shard[0]}of{shard[1]}" if shard else request.method
        run_dir = runs.new_run_dir(runs_dir, label, request.mode)
        runs.write_json(run_dir / runs.CONFIG, request.to_json())
        runs.write_json(run_dir / runs.MANIFEST, manifest_for(request, method, bench))
        done = {}
    feedback.attach_run_log(run_dir)
    feedback.log.info("run %s: %s", run_dir, runs.redacted_command())
    client = make_client(options.max_concurrency, options.max_cost, options.prices)
    evaluator = Evaluator(method, bench, request.mode, run_dir, options, client, get_cache())
    todo = [job for job in jobs_for(bench, request.both_orders) if (job[0].key, job[1]) not in done]
    feedback.stage(f"running {len(todo)} of {len(bench.samples)} samples ({len(done)} done before)")
    feedback.end_status()
    _, stopped = evaluator.run(todo)
    records = list(runs.latest_records(evaluator.log.read()).values())
    outcome = EvalOutcome(run_dir, records, total_usage(records), stopped)
    for record in records:
        if record.status.value != "ok":
            feedback.log.info(
                "failed %s: %s: %s", record.sample_key, record.status.value, record.error
            )
    feedback.stage("scoring")
    outcome.metrics = score_run(request, bench, records, run_dir, client, options.max_concurrency)
    feedback.log.info(
        "done: %d records, average %s, cost %s USD%s",
        len(records),
        outcome.metrics.get("average"),
        outcome.usage.cost_usd,
        " (stopped at --max-cost)" if stopped else "",
    )
    feedback.detach_run_log()
    return outcome


def total_usage(records: list[PredictionRecord]) -> Usage:
    total = Usage()
    for r in records:
        total.add(r.usage)
    return total


def score_run(
    request: RunRequest,
    bench: Benchmark,
    records: list[PredictionRecord],
    run_dir: Path | None,
    client: Any,
    max_workers: int = 8,
    judgements: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics for a run's records; writes metrics.json, judgements.jsonl and report.md when a
    run folder is given. `judgements` given (open mode): used as they are, no judge call."""
    from vidbench import scoring
    from vidbench.predictions import records_to_predictions
    from vidbench.report import render_report

    samples = bench.samples
    forward = [r for r in records if not r.swapped]
    predictions = records_to_predictions(forward)
    if request.mode == "closed":
        metrics = scoring.score_closed(samples, predictions, records=forward)
    else:
        metrics = score_open_predictions(
            samples, predictions, request, client, max_workers, run_dir, forward, judgements
        )
    localization = scoring.score_localization(samples, forward)
    if localization:
        metrics["localization"] = localization
    if request.both_orders:
        metrics["order"] = order_consistency(samples, records)
    metrics["usage"] = total_usage(records).as_dict()
    if run_dir is not None:
        runs.write_json(run_dir / runs.METRICS, metrics)
        manifest = runs.read_json(run_dir / runs.MANIFEST)
        (run_dir / runs.REPORT).write_text(render_report(manifest, metrics))
    return metrics


def score_open_predictions(
    samples: list[Sample],
    predictions: dict[str, Any],
    request: RunRequest,
    client: Any,
    max_workers: int,
    run_dir: Path | None,
    records: list[PredictionRecord] | None = None,
    judgements: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    from vidbench import scoring
    from vidbench.judge import Judge, judge_all, write_judgements

    if judgements is None:
        params = {"api_base": request.judge_api_base} if request.judge_api_base else {}
        judge = Judge(client.session, model=request.judge or default_judge(), **params)
        judgements = judge_all(samples, predictions, judge, max_workers=max_workers)
    if run_dir is not None:
        write_judgements(run_dir / runs.JUDGEMENTS, judgements.values())
    metrics = scoring.score_open(samples, predictions, judgements, records=records)
    judge_usage = Usage()
    for j in judgements.values():
        if j.usage:
            judge_usage.add(Usage(**j.usage))
    metrics["judge_usage"] = judge_usage.as_dict()
    return metrics
