"""The eval loop: samples -> frames -> method -> records appended to predictions.jsonl, then
scoring. One LLM client is shared by the whole run so its concurrency limit, cache and budget hold
across samples.

Two stages, so that neither the cores nor the API wait on the other: samples are prepared in order
(decode, resize, encode the images a method sends) by one frame worker process per core
(vidbench.framepool), keeping a few prepared samples ahead of the free request slots; up to
--max-concurrency "sample" threads run the method on prepared samples (all their waiting is on
HTTP). The first request thus goes out as soon as the first sample's frames are ready, instead of
after every in-flight sample has decoded at once, and later samples' frames are prepared while
earlier requests are in flight."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import (
    ClosedTask,
    DifferencePrediction,
    Method,
    MethodOutput,
    Metrics,
    OpenTask,
    PredictionRecord,
    Sample,
    SampleInfo,
    Status,
    Usage,
    VideoFrames,
    VideoSource,
)
from vidbench.dataset import Benchmark
from vidbench.errors import SampleFailure, UserError, VideoError


@dataclass
class EvalOptions:
    """How to run (not what): these may change between a run and its --resume."""

    max_concurrency: int = 8
    max_cost: float | None = None
    progress: bool = True
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    timeout_s: float = 120.0  # per LLM call
    cache_mode: str = "use"  # LLM answers: use, refresh or off (vidbench.llm.CACHE_MODES)


@dataclass
class EvalOutcome:
    run_dir: Path
    records: list[PredictionRecord]
    usage: Usage
    stopped_for_budget: bool = False
    metrics: Metrics | None = None
    saved_usd: float = 0.0  # what the answers served from the cache cost when first made
    unpriced_calls: int = 0  # uncached calls whose price is unknown (not in any cost figure)
    n_jobs: int = 0  # selected samples (twice that with --both-orders)


def swap_info(info: SampleInfo) -> SampleInfo:
    return dataclasses.replace(info, videos=(info.videos[1], info.videos[0]))


def _flip(answer: str | None) -> str | None:
    return {"a": "b", "b": "a"}.get(answer or "", answer)


def map_back(output: MethodOutput) -> MethodOutput:
    """Answers given with A and B swapped, expressed again in the dataset's order."""
    preds = {
        k: DifferencePrediction(p.description, _flip(p.prediction))  # type: ignore[arg-type]
        for k, p in output.predictions.items()
    }
    loc = (
        {k: (b, a) for k, (a, b) in output.localization.items()}
        if output.localization is not None
        else None
    )
    return MethodOutput(preds, loc, output.details)


def localization_seconds(
    output: MethodOutput, videos: tuple[VideoSource, ...]
) -> dict[str, tuple[list[float], list[float]]] | None:
    """The localised frames as timestamps (index / the video's own rate), in dataset order."""
    if output.localization is None:
        return None
    rates = [videos[0].fps_original, videos[1].fps_original]
    return {
        k: ([round(i / rates[0], 4) for i in a], [round(i / rates[1], 4) for i in b])
        for k, (a, b) in output.localization.items()
    }


def check_output(
    output: MethodOutput, mode: str, asked: dict[str, str], max_differences: int
) -> str | None:
    """A method's output that breaks the contract is a failure, never silently coerced."""
    if not isinstance(output, MethodOutput):
        return f"method returned {type(output).__name__}, expected MethodOutput"
    for key, pred in output.predictions.items():
        if pred.prediction not in ("a", "b"):
            return f"prediction for {key!r} is {pred.prediction!r}, expected 'a' or 'b'"
    if mode == "closed":
        unknown = sorted(set(output.predictions) - set(asked))
        if unknown:
            return f"method answered difference keys it was not asked: {', '.join(unknown)}"
    elif len(output.predictions) > max_differences:
        return (
            f"method returned {len(output.predictions)} differences, "
            f"max_differences is {max_differences}"
        )
    return None


class Evaluator:
    """Runs one method over a benchmark into one run folder."""

    def __init__(
        self,
        method: Method,
        bench: Benchmark,
        mode: str,
        run_dir: Path,
        options: EvalOptions,
        client: Any,
        cache: Any | None = None,
        name: str | None = None,
    ):
        self.method, self.bench, self.mode = method, bench, mode
        self.run_dir, self.options = run_dir, options
        self.client, self.cache = client, cache
        self.name = name  # the name the run was started with (RunConfig.method)
        self.log = runs.RecordLog(run_dir / runs.PREDICTIONS)
        self._counts_lock = threading.Lock()
        self.counts = {"done": 0, "cached": 0, "failed": 0}
        self.frame_sets_not_cached = 0  # the frame cache was full: a rerun decodes these again

    def uses_ground_truth(self) -> bool:
        return bool(getattr(self.method, "uses_ground_truth", False))

    def run_one(self, sample: Sample, swapped: bool) -> PredictionRecord:
        """Prepare one sample and run the method on it (both stages, in this thread)."""
        prepared = self.prepare(sample, swapped)
        return prepared if isinstance(prepared, PredictionRecord) else self.call(prepared)

    def prepare(self, sample: Sample, swapped: bool) -> _Prepared | PredictionRecord:
        """Stage 1: the sample's frames (a finished record when they cannot be had)."""
        from vidbench.framepool import sample_pair

        info = swap_info(sample.info) if swapped else sample.info
        record = PredictionRecord(
            sample_key=sample.key,
            mode=self.mode,  # type: ignore[arg-type]
            status=Status.OK,
            swapped=swapped,
        )
        root = self.bench.source.video_root
        try:
            spec = self.method.frame_spec(info)
            videos, frames = sample_pair(
                info.videos, root, spec, sample_key=sample.key, cache=self.cache
            )
        except VideoError as exc:
            record.status, record.error = Status.VIDEO_ERROR, str(exc)
            return record
        except Exception as exc:  # a method's frame_spec bug: this sample's status, not a crash
            record.status, record.error = Status.METHOD_ERROR, f"{type(exc).__name__}: {exc}"
            return record
        full = sum(getattr(getattr(v, "stats", None), "cache_full", 0) for v in videos)
        if full:
            with self._counts_lock:
                self.frame_sets_not_cached += full
        record.frames = {"spec": spec.as_dict(), "a": frames[0].record(), "b": frames[1].record()}
        if swapped:
            record.frames["a"], record.frames["b"] = record.frames["b"], record.frames["a"]
        oracle = None
        if self.uses_ground_truth():
            rf = sample.retrieval_frames
            oracle = (rf[1], rf[0]) if swapped else rf
        asked = sample.closed_statements()
        statement_frames = {
            k: d.num_frames for k, d in sample.differences.items() if k in asked and d.num_frames
        }
        return _Prepared(
            record,
            info,
            asked,
            (frames[0], frames[1]),
            (videos[0], videos[1]),
            oracle,
            statement_frames,
        )

    def call(self, prepared: _Prepared) -> PredictionRecord:
        """Stage 2: the method on a prepared sample; its failures are the record's status."""
        record, info, asked, mode = prepared.record, prepared.info, prepared.asked, self.mode
        session = self.client.session()
        pair = prepared.videos
        try:
            if mode == "closed":
                task = ClosedTask(
                    info,
                    asked,
                    prepared.frames,
                    pair,
                    prepared.oracle,
                    prepared.statement_frames,
                    store=self.cache,
                )
                output = self.method.closed(task, session)
            else:
                output = self.method.open(
                    OpenTask(
                        info,
                        info.max_differences,
                        prepared.frames,
                        pair,
                        prepared.oracle,
                        store=self.cache,
                    ),
                    session,
                )
        except SampleFailure as exc:
            record.status, record.error = exc.status, str(exc)
        except Exception as exc:  # a method's bug must not end the run; it is this sample's status
            record.status, record.error = Status.METHOD_ERROR, f"{type(exc).__name__}: {exc}"
        else:
            problem = check_output(output, mode, asked, info.max_differences)
            if problem:
                record.status, record.error = Status.METHOD_ERROR, problem
            else:
                output = map_back(output) if record.swapped else output
                record.predictions, record.localization = output.predictions, output.localization
                record.localization_seconds = localization_seconds(
                    output, pair[::-1] if record.swapped else pair
                )
                record.details = output.details
        record.usage = session.usage
        record.llm_calls = list(getattr(session, "calls", []))
        return record

    def run(self, todo: list[tuple[Sample, bool]]) -> tuple[list[PredictionRecord], bool]:
        """Run jobs with at most max_concurrency methods in flight and a few prepared samples
        waiting for them; stop starting work at the budget (prepared samples not yet started
        are dropped: a --resume runs them)."""
        from tqdm import tqdm

        slots = max(1, self.options.max_concurrency)
        # Two samples per frame worker process (or per core, with frames prepared in this
        # process) in flight: while the main process takes one result in (under its GIL, busy
        # with requests), the worker already decodes the next instead of idling.
        preparers = 2 * frame_workers()
        # Until the model client (litellm: ~2 s of one core, most of the start-up, and on the
        # first request's path) is imported, one core is left to it: one worker fewer busy.
        # (Nicing the workers instead did about as well, but for the whole run and against
        # every other process on the machine.)
        # With one core there is none to spare: only the first sample is prepared meanwhile.
        startup_preparers = frame_workers() - 1
        submitted = 0
        new_records: list[PredictionRecord] = []
        stopped = False
        bar = tqdm(
            total=len(todo),
            disable=not self.options.progress,
            unit="sample",
            dynamic_ncols=True,
            desc=self.name or self.method.name,
        )

        def finish(record: PredictionRecord) -> None:
            self.log.append(record)
            new_records.append(record)
            self._count(record)
            bar.update(1)
            bar.set_postfix(self._postfix(), refresh=False)

        prep_pool = ThreadPoolExecutor(preparers, thread_name_prefix="frames")
        call_pool = ThreadPoolExecutor(slots, thread_name_prefix="sample")
        try:
            preparing: set[Future[Any]] = set()
            calling: set[Future[Any]] = set()
            ready: deque[_Prepared] = deque()
            jobs = iter(todo)
            exhausted = False
            while True:
                while ready and len(calling) < slots and not stopped:
                    if self._budget_reached():
                        stopped = True
                        break
                    calling.add(call_pool.submit(self.call, ready.popleft()))
                # Keep the free slots plus the frames threads' samples prepared or preparing.
                importing = client_importing()
                cap = preparers
                if importing:
                    cap = startup_preparers or (1 if submitted == 0 else 0)
                while not (stopped or exhausted) and (
                    len(preparing) + len(ready) < slots - len(calling) + preparers
                    and len(preparing) < cap
                ):
                    if self._budget_reached():
                        stopped = True
                        break
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    preparing.add(prep_pool.submit(self.prepare, *job))
                    submitted += 1
                if not preparing and not calling:
                    if stopped or exhausted or not importing:
                        break
                    time.sleep(0.05)  # one core, its first sample done: wait for the client
                    continue
                # While the client imports, look again soon: its end lifts the limit above.
                finished, _ = wait(
                    [*preparing, *calling],
                    timeout=0.1 if importing else None,
                    return_when=FIRST_COMPLETED,
                )
                for fut in finished:
                    result = fut.result()
                    if fut in calling:
                        calling.discard(fut)
                        finish(result)
                        continue
                    preparing.discard(fut)
                    if isinstance(result, PredictionRecord):
                        finish(result)  # no frames: the sample's record is already final
                    else:
                        ready.append(result)
        except BaseException as exc:
            # On Ctrl-C start nothing more and do not wait for calls in flight (they may take a
            # whole timeout); every finished record is already on disk.
            interrupted = isinstance(exc, KeyboardInterrupt)
            for pool in (prep_pool, call_pool):
                pool.shutdown(wait=not interrupted, cancel_futures=True)
            raise
        prep_pool.shutdown()
        call_pool.shutdown()
        bar.close()
        return new_records, stopped

    def _budget_reached(self) -> bool:
        limit = self.options.max_cost
        return limit is not None and float(getattr(self.client, "spent_usd", 0.0)) >= limit

    def _count(self, record: PredictionRecord) -> None:
        with self._counts_lock:
            self.counts["done"] += 1
            if record.usage.calls and record.usage.cached_calls == record.usage.calls:
                self.counts["cached"] += 1
            if record.status is not Status.OK:
                self.counts["failed"] += 1

    def _postfix(self) -> dict[str, Any]:
        spent = float(getattr(self.client, "spent_usd", 0.0))
        return {
            "cached": self.counts["cached"],
            "failed": self.counts["failed"],
            "spent": f"${spent:.2f}",
        }


@dataclass
class _Prepared:
    """A sample whose frames are ready: what the method stage needs."""

    record: PredictionRecord
    info: SampleInfo
    asked: dict[str, str]
    frames: tuple[VideoFrames, VideoFrames]
    videos: tuple[VideoSource, VideoSource]
    oracle: Any
    statement_frames: dict[str, Any]  # closed mode: annotated num_frames per asked statement


def client_importing() -> bool:
    from vidbench.llm import client_importing as importing

    return importing()


def frame_workers() -> int:
    """Frame worker processes (one per core), or the cores when frames are prepared in this
    process ($VIDBENCH_FRAME_WORKERS=0)."""
    from vidbench.framepool import core_count, worker_count

    return worker_count() or core_count()


def status(text: str) -> None:
    """One line on stderr saying what the run is doing, before there is progress to show."""
    print(f"vidbench: {text}", file=sys.stderr, flush=True)


def ensure_videos_present(bench: Benchmark) -> None:
    """Fail before any work when videos are missing: name the sample, path, root and fix."""
    from vidbench.video import path_problem, video_path

    root = bench.source.video_root
    missing = []
    for sample in bench.samples:
        for ref in sample.info.videos:
            path = video_path(ref, root)
            # A path leaving the root is never looked at: that sample is refused as video_error.
            if path_problem(ref, root) is None and not path.exists():
                missing.append(f"{sample.key}: {path}")
    if missing:
        shown = "\n    ".join(missing[:5]) + (
            f"\n    ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise UserError(
            f"{len(missing)} video(s) not found under video root {root}",
            where=shown,
            fix="run `vidbench data download` (then see its notes for Ego-Exo4D and "
            "FineDiving), or pass --video-root / set VIDBENCH_VIDEO_ROOT",
        )
