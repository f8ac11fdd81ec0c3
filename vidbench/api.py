"""The Python API (notebooks, scripts): `load_benchmark`, `evaluate`, `score`, `open_run`.

The same pipeline as the CLI: `evaluate` writes the same run folder `vidbench eval` writes, so a
run started here is scored, compared, viewed and submitted with the CLI. A method may be a
registry name, a Method subclass (also one defined in a notebook cell, which has no file) or an
instance already configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import Manifest, Method, Metrics, PredictionRecord, latest_records
from vidbench.dataset import Benchmark, DatasetSource, Selection, default_video_root
from vidbench.errors import UserError

DatasetLike = Any  # "demo" | folder | Hub repo id | datasets.Dataset | Benchmark


@dataclass
class Run:
    """A run folder as Python objects: its records (latest per sample), its metrics (typed:
    ClosedMetrics or OpenMetrics, as metrics.json) and its manifest."""

    run_dir: Path
    records: list[PredictionRecord]
    metrics: Metrics
    manifest: Manifest

    @property
    def accuracy(self) -> float | None:
        """The paper's Average: the mean of the split rates (accuracy, or open-set recall)."""
        return self.metrics.average

    def summary(self) -> str:
        from vidbench.report import render_metrics

        return render_metrics(self.metrics, self.manifest)

    def _repr_markdown_(self) -> str:  # Jupyter shows this
        return f"**run** `{self.run_dir}`\n\n```\n{self.summary()}\n```"


def open_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder written by `vidbench eval` or `evaluate`."""
    path = Path(run_dir)
    records = list(latest_records(runs.RecordLog(path / runs.PREDICTIONS).read()).values())
    return Run(
        path,
        records,
        runs.read_metrics(path / runs.METRICS),
        runs.read_model(path / runs.MANIFEST, Manifest),
    )


def _selection(
    split: str,
    domain: str | Sequence[str] | None,
    action: str | Sequence[str] | None,
    sample_ids: Sequence[str] | None,
    per_action: int | None,
    limit: int | None,
    shard: tuple[int, int] | None = None,
) -> Selection:
    def many(value: str | Sequence[str] | None) -> tuple[str, ...]:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    return Selection(split, many(domain), many(action), many(sample_ids), per_action, limit, shard)


def _from_datasets(ds: Any, video_root: str | os.PathLike[str] | None) -> list[Any]:
    """Samples of an already-loaded `datasets.Dataset` (rows decoded like the parquet reader's)."""
    from vidbench.dataset import THUMBNAIL_COLUMNS, sample_from_row

    if hasattr(ds, "keys") and "test" in ds:  # a DatasetDict: the benchmark is its test split
        ds = ds["test"]
    keep = [c for c in ds.column_names if c not in THUMBNAIL_COLUMNS]
    return [sample_from_row(row) for row in ds.select_columns(keep)]


def load_benchmark(
    dataset: DatasetLike = "demo",
    *,
    revision: str | None = None,
    split: str = "all",
    domain: str | Sequence[str] | None = None,
    action: str | Sequence[str] | None = None,
    sample_ids: Sequence[str] | None = None,
    per_action: int | None = None,
    limit: int | None = None,
    video_root: str | os.PathLike[str] | None = None,
) -> Benchmark:
    """The benchmark's samples, filtered. `dataset` is "demo", a folder in the Hub layout, a Hub
    repo id, or a `datasets.Dataset` / `DatasetDict` you loaded with
    `datasets.load_dataset("jmhb/VidDiffBench")` (videos are then found under `video_root`)."""
    from vidbench import dataset as ds_module

    selection = _selection(split, domain, action, sample_ids, per_action, limit)
    if isinstance(dataset, Benchmark):
        return Benchmark(dataset.source, ds_module.select(dataset.samples, selection))
    if isinstance(dataset, (str, os.PathLike)):
        return ds_module.load_benchmark(str(dataset), revision, selection, video_root)
    if not hasattr(dataset, "column_names"):
        raise UserError(
            f"dataset must be a name, a folder, a Hub repo id or a datasets.Dataset, "
            f"not {type(dataset).__name__}",
            fix='e.g. vidbench.load_benchmark("demo")',
        )
    samples = _from_datasets(dataset, video_root)
    info = getattr(dataset, "info", None)
    name = getattr(info, "dataset_name", None) or ds_module.DEFAULT_REPO_ID
    fingerprint = getattr(dataset, "_fingerprint", None) or "unknown"
    source = DatasetSource(
        "datasets",
        name if "/" in name else f"{name} (datasets.Dataset)",
        f"in-memory:{fingerprint}",
        Path("."),
        Path(video_root).expanduser() if video_root else default_video_root(),
    )
    return Benchmark(source, ds_module.select(samples, selection))


def _method(method: str | Method | type[Method], options: Mapping[str, Any]) -> Method:
    from vidbench.registry import build_method, instantiate

    if isinstance(method, Method):
        if options:
            raise UserError(
                "options were given with a method instance",
                fix="configure the instance, or pass the class with the options",
            )
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return instantiate(method, options, method.name or method.__qualname__)
    if isinstance(method, str):
        return build_method(method, options)
    raise UserError(
        f"method must be a registry name, a Method subclass or instance, not {type(method)}",
        fix="e.g. vidbench.evaluate(method='random')",
    )


def _method_spec(method: str | Method | type[Method], built: Method) -> str:
    """The run's method name (config.json, manifest, reports): the registry name as given, else
    the class's `name` (its class name when it has none). A class handed over from Python has
    no name `vidbench eval --resume` could rebuild it from: resume from Python (`resume=`)."""
    if isinstance(method, str):
        return method
    return type(built).name or type(built).__qualname__


def evaluate(
    method: str | Method | type[Method] = "random",
    dataset: DatasetLike = "demo",
    *,
    split: str = "all",
    mode: str = "closed",
    revision: str | None = None,
    domain: str | Sequence[str] | None = None,
    action: str | Sequence[str] | None = None,
    sample_ids: Sequence[str] | None = None,
    per_action: int | None = None,
    limit: int | None = None,
    video_root: str | os.PathLike[str] | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    max_concurrency: int = 8,
    max_cost: float | None = None,
    judge: str | None = None,
    judge_api_base: str | None = None,
    judge_protocol: str = "paper",
    both_orders: bool = False,
    progress: bool = False,
    resume: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Run:
    """Run `method` over the selected samples into a new run folder under `runs_dir`, score it
    and return the Run. Extra keyword arguments are the method's options (`-M key=value`).
    `resume=RUN_DIR` finishes that run instead (missing and failed samples), with its saved
    selection and options and the method given here."""
    from vidbench import pipeline
    from vidbench.contracts import RunConfig
    from vidbench.evaluate import EvalOptions

    if mode not in ("closed", "open"):
        raise UserError(f"unknown mode {mode!r}", fix="use mode='closed' or mode='open'")
    built = _method(method, options)
    split_bench = load_benchmark(dataset, revision=revision, split=split, video_root=video_root)
    request = RunConfig(
        method=_method_spec(method, built),
        options=built.config.model_dump(mode="json") if not isinstance(method, str) else options,
        mode=mode,  # type: ignore[arg-type]
        dataset=dataset if isinstance(dataset, str) else split_bench.source.repo_id,
        revision=revision,
        selection=pipeline.selection_config(
            _selection(split, domain, action, sample_ids, per_action, limit)
        ),
        video_root=str(video_root) if video_root else None,
        both_orders=both_orders,
        judge=judge,
        judge_api_base=judge_api_base,
        judge_protocol=judge_protocol,  # type: ignore[arg-type]
    )
    outcome = pipeline.run_eval(
        request,
        EvalOptions(max_concurrency=max_concurrency, max_cost=max_cost, progress=progress),
        Path(runs_dir),
        Path(resume) if resume is not None else None,
        # Resuming, the saved config says which samples: loaded again unless handed over.
        prepared=(built, None if resume is not None and isinstance(dataset, str) else split_bench),
    )
    assert outcome.metrics is not None
    return Run(
        outcome.run_dir,
        outcome.records,
        outcome.metrics,
        runs.read_model(outcome.run_dir / runs.MANIFEST, Manifest),
    )


def score(
    predictions: Any,
    dataset: DatasetLike = "demo",
    *,
    mode: str = "closed",
    split: str = "all",
    revision: str | None = None,
    judge: str | None = None,
    judge_api_base: str | None = None,
    judge_protocol: str | None = None,
) -> Metrics:
    """Metrics of predictions: a dict keyed by sample_key (the predictions file's shape), the
    reference list format, a predictions JSON file, a run folder or a Run. Open mode calls the
    judge (through the cache): the run's own protocol, else the paper's, unless `judge_protocol`."""
    from vidbench import pipeline, scoring
    from vidbench.predictions import validate_or_raise

    if isinstance(predictions, Run):
        predictions = predictions.run_dir
    if isinstance(predictions, (str, os.PathLike)) and Path(predictions).is_dir():
        from vidbench.scorecmd import score_target

        return score_target(
            Path(predictions),
            mode=None,
            dataset=None,
            revision=revision,
            split=None,
            judge=judge,
            judge_api_base=judge_api_base,
            judge_protocol=judge_protocol,  # type: ignore[arg-type]
        )
    if mode not in ("closed", "open"):
        raise UserError(f"unknown mode {mode!r}", fix="use mode='closed' or mode='open'")
    bench = load_benchmark(dataset, revision=revision, split=split)
    preds, _warnings = validate_or_raise(predictions, bench.samples, mode)  # type: ignore[arg-type]
    if mode == "closed":
        return scoring.score_closed(bench.samples, preds)
    client = pipeline.make_client(8, None)
    judgements = scoring.judge_open(
        bench.samples,
        preds,
        pipeline.judge_for(judge, judge_api_base, client, judge_protocol or "paper"),
    )
    return scoring.score_open(bench.samples, preds, judgements)
