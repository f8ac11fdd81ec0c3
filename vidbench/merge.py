"""`vidbench merge RUN...`: join the run folders of `vidbench eval --shard I/N` into one.

Refused unless the shards are of one configuration (config.json equal but for the shard; same
dataset revision, method configuration and frame specs), disjoint (no sample in two shards) and
complete (shards 1..N all present, and together exactly the unsharded selection). The merged
folder holds config.json without the shard (so `--resume` on it works), merged_from.txt (the
shard folders), the shards' records and,
in open mode, their judgements; it is scored from those without calling the judge again, so its
metrics are those of the run done at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import Manifest, RunConfig, latest_records
from vidbench.errors import UserError

# Manifest parts that must agree across shards (the rest: times, hosts, commands, may differ).
SAME_IN_MANIFEST = ("mode", "frame_specs", "judge", "both_orders")


def _shard_of(path: Path, config: RunConfig) -> tuple[int, int]:
    if not config.selection.shard:
        raise UserError(
            f"{path} is not a shard", fix="merge run folders written by `vidbench eval --shard I/N`"
        )
    return config.selection.shard


def _unsharded(config: RunConfig) -> RunConfig:
    return config.model_copy(
        update={"selection": config.selection.model_copy(update={"shard": None})}
    )


def _method_identity(manifest: Manifest) -> Any:
    return (manifest.method.name, manifest.method.config)


def _dataset_identity(manifest: Manifest) -> Any:
    return (manifest.dataset.repo_id, manifest.dataset.revision)


def check_shards(paths: list[Path]) -> tuple[RunConfig, list[Manifest]]:
    """The common (unsharded) config and each shard's manifest, or a UserError saying which
    shard differs in what."""
    if not paths:
        raise UserError("no run folders given", fix="vidbench merge RUN_1 RUN_2 ...")
    configs = [runs.read_model(p / runs.CONFIG, RunConfig) for p in paths]
    manifests = [runs.read_model(p / runs.MANIFEST, Manifest) for p in paths]
    shards = [_shard_of(p, c) for p, c in zip(paths, configs)]
    base = _unsharded(configs[0])
    for path, config, manifest in zip(paths[1:], configs[1:], manifests[1:]):
        other = _unsharded(config)
        if other != base:
            a, b = base.model_dump(), other.model_dump()
            differing = sorted(k for k in a if a[k] != b[k])
            raise UserError(
                f"{path} was run with another configuration than {paths[0]}",
                where=f"config.json: {', '.join(differing)}",
                fix="merge only shards of one `vidbench eval ... --shard I/N` command",
            )
        checks = [
            ("dataset revision", _dataset_identity),
            ("method configuration", _method_identity),
            *[(key, lambda m, key=key: getattr(m, key)) for key in SAME_IN_MANIFEST],
        ]
        for what, get in checks:
            if get(manifest) != get(manifests[0]):
                raise UserError(
                    f"{path} differs from {paths[0]} in {what}: "
                    f"{get(manifest)!r} vs {get(manifests[0])!r}",
                    fix="re-run that shard with the same vidbench, dataset and options",
                )
    counts = {n for _, n in shards}
    if len(counts) != 1:
        raise UserError(f"the shards split into different counts: {sorted(counts)}")
    (count,) = counts
    seen: dict[int, Path] = {}
    for path, (index, _) in zip(paths, shards):
        if index in seen:
            raise UserError(f"shard {index}/{count} given twice: {seen[index]} and {path}")
        seen[index] = path
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise UserError(
            f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing",
            fix="run them (`vidbench eval ... --shard I/N`) and pass every shard's folder",
        )
    return base, manifests


def merge_runs(paths: list[Path], runs_dir: Path, out: Path | None = None) -> Path:
    """Verify the shards and write the merged, scored run folder; returns its path."""
    from vidbench.dataset import Benchmark, select
    from vidbench.pipeline import load_split, score_records, selection_of

    config, manifests = check_shards(paths)
    split = load_split(config)
    bench = Benchmark(split.source, select(split.samples, selection_of(config)))
    expected = {s.key for s in bench.samples}
    owner: dict[str, Path] = {}
    records = []
    for path in paths:
        log = runs.RecordLog(path / runs.PREDICTIONS).read()
        for swapped in (False, True):
            for key, record in latest_records(log, swapped).items():
                if owner.setdefault(key, path) != path:
                    raise UserError(
                        f"sample {key!r} is in two shards: {owner[key]} and {path}",
                        fix="the shards overlap: were they run on different selections?",
                    )
                records.append(record)
    unknown = sorted(set(owner) - expected)
    absent = sorted(expected - set(owner))
    if unknown or absent:
        raise UserError(
            f"the shards do not cover the selection: {len(absent)} sample(s) missing, "
            f"{len(unknown)} not in it",
            where=", ".join((absent or unknown)[:10]),
            fix="finish each shard with `vidbench eval --resume SHARD_DIR` before merging",
        )
    judgements = None
    if config.mode == "open":
        from vidbench.judge import read_judgements

        judgements = {}
        for path in paths:
            if not (path / runs.JUDGEMENTS).is_file():
                raise UserError(
                    f"{path} has no {runs.JUDGEMENTS}", fix=f"score it: `vidbench score {path}`"
                )
            judgements.update(read_judgements(path / runs.JUDGEMENTS))
    dataset = manifests[0].dataset.model_copy(
        update={"selection": config.selection, "n_samples": len(expected)}
    )
    manifest = manifests[0].model_copy(update={"dataset": dataset})
    files = {runs.CONFIG: config, runs.MANIFEST: manifest}
    if out is None:  # created whole and locked, like any run folder
        out, lock = runs.create_run_dir(runs_dir, f"{config.method}-merged", config.mode, files)
    else:
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out} exists and is not empty", fix="pass a new folder to --out")
        out.mkdir(parents=True, exist_ok=True)
        lock = runs.lock_run_dir(out)
        for name, model in files.items():
            runs.write_model(out / name, model)
    try:
        runs.RecordLog(out / runs.PREDICTIONS).keep_only(records)
        (out / "merged_from.txt").write_text("".join(f"{p}\n" for p in paths))
        score_records(
            config, bench, records, None, run_dir=out, manifest=manifest, judgements=judgements
        )
    finally:
        lock.release()
    return out
