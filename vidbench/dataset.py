"""VidDiffBench as typed samples: from the Hub (pinned repo and revision), a local folder in the
Hub layout, or the built-in demo. JSON string columns are decoded faithfully; filters select a
subset. Both repo id and revision (the resolved commit when known) travel with the samples."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench.contracts import SPLITS, Difference, Sample, SampleInfo, VideoRef, sorted_keys
from vidbench.errors import UserError

DEFAULT_REPO_ID = "jmhb/VidDiffBench"
# The public card could not be resolved to a commit from here; the loader records the commit the
# Hub actually served (from the snapshot folder name), so every result names an exact revision.
DEFAULT_REVISION = "main"
SPLIT_NAME = "test"

REQUIRED_COLUMNS = (
    "sample_key",
    "videos",
    "action",
    "action_name",
    "action_description",
    "source_dataset",
    "sample_hash",
    "retrieval_frames",
    "differences_annotated",
    "differences_gt",
    "domain",
    "split",
    "n_differences_open_prediction",
)
THUMBNAIL_COLUMNS = ("vid0_thumbnail", "vid1_thumbnail")


@dataclass(frozen=True)
class DatasetSource:
    """Where samples came from: recorded in every run's manifest."""

    kind: str  # "hub" | "folder" | "demo"
    repo_id: str
    revision: str
    folder: Path
    video_root: Path | None

    def manifest(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "folder": str(self.folder),
        }


@dataclass
class Selection:
    """Filters applied after loading; every value is checked against what the dataset holds."""

    split: str = "all"
    domains: Sequence[str] = ()
    actions: Sequence[str] = ()
    sample_ids: Sequence[str] = ()
    per_action: int | None = None
    limit: int | None = None
    # (i, n), 1 <= i <= n: only every n-th selected sample starting at the i-th (`--shard i/n`).
    shard: tuple[int, int] | None = None

    def manifest(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "domains": list(self.domains),
            "actions": list(self.actions),
            "sample_ids": list(self.sample_ids),
            "per_action": self.per_action,
            "limit": self.limit,
            "shard": list(self.shard) if self.shard else None,
        }


@dataclass
class Benchmark:
    source: DatasetSource
    samples: list[Sample] = field(default_factory=list)

    def by_key(self) -> dict[str, Sample]:
        return {s.key: s for s in self.samples}


def default_video_root() -> Path:
    from vidbench.cache import default_cache_dir

    env = os.environ.get("VIDBENCH_VIDEO_ROOT")
    return Path(env).expanduser() if env else default_cache_dir() / "videos"


def resolve_source(
    dataset: str, revision: str | None = None, video_root: str | os.PathLike[str] | None = None
) -> DatasetSource:
    """`dataset` is "demo", a local folder in the Hub layout, or a Hub dataset repo id."""
    explicit_root = Path(video_root).expanduser() if video_root else None
    if dataset == "demo":
        from vidbench import demo

        folder = demo.ensure_demo()
        return DatasetSource(
            "demo",
            demo.DEMO_REPO_ID,
            demo.DEMO_REVISION,
            folder,
            explicit_root or folder / "videos",
        )
    path = Path(dataset).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(
                f"--dataset {dataset} is a file, not a dataset folder",
                fix="pass a folder holding data/test-*.parquet, a Hub repo id, or demo",
            )
        root = (
            explicit_root
            or _env_root()
            or (path / "videos" if (path / "videos").is_dir() else default_video_root())
        )
        return DatasetSource("folder", str(path.resolve()), "local", path, root)
    if "/" not in dataset or dataset.startswith((".", "/", "~")):
        raise UserError(
            f"--dataset {dataset!r} is neither 'demo', an existing folder, nor a Hub "
            "repo id (owner/name)",
            fix=f"use --dataset demo, --dataset PATH, or --dataset {DEFAULT_REPO_ID}",
        )
    folder, commit = _download_snapshot(dataset, revision or DEFAULT_REVISION)
    return DatasetSource("hub", dataset, commit, folder, explicit_root or default_video_root())


def _env_root() -> Path | None:
    env = os.environ.get("VIDBENCH_VIDEO_ROOT")
    return Path(env).expanduser() if env else None


def _download_snapshot(repo_id: str, revision: str) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            allow_patterns=[f"data/{SPLIT_NAME}-*", "README.md"],
        )
    except Exception as exc:  # offline, unknown repo, gated, network: all need the same remedy
        kind = type(exc).__name__
        raise UserError(
            f"could not fetch dataset {repo_id}@{revision} from the Hugging Face Hub ({kind})",
            where=str(exc).splitlines()[0][:300] if str(exc) else None,
            fix="check the network (and HF_HUB_OFFLINE), or download it elsewhere with "
            "`hf download --repo-type dataset "
            f"{repo_id} --local-dir DIR` and pass --dataset DIR; --dataset demo runs offline",
        ) from None
    folder = Path(local)
    # snapshot folders are named by commit: the exact revision that was served.
    commit = folder.name if len(folder.name) == 40 else revision
    return folder, commit


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """Rows of the test split from parquet files in the Hub layout (thumbnails not decoded)."""
    import pyarrow.parquet as pq

    files = sorted(glob.glob(str(folder / "data" / f"{SPLIT_NAME}-*.parquet")))
    if not files:
        files = sorted(glob.glob(str(folder / "**" / "*.parquet"), recursive=True))
    if not files:
        raise UserError(
            f"no parquet files in {folder}",
            where=f"{folder}/data/{SPLIT_NAME}-*.parquet",
            fix="point --dataset at a folder in the Hub layout (data/test-*.parquet)",
        )
    rows: list[dict[str, Any]] = []
    for file in files:
        try:
            rows.extend(_read_parquet(pq, file))
        except UserError:
            raise
        except Exception as exc:  # pyarrow's errors for a damaged file are many and untyped
            raise UserError(
                f"cannot read dataset file {file} ({type(exc).__name__}: {str(exc)[:200]})",
                fix="download the dataset again",
            ) from None
    return rows


def _read_parquet(pq: Any, file: str) -> list[dict[str, Any]]:
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports pandas
    # (~0.5 s of start-up, on the same GIL as the model client's import).
    parquet = pq.ParquetFile(file)
    schema_names = parquet.schema_arrow.names
    missing = [c for c in REQUIRED_COLUMNS if c not in schema_names]
    if missing:
        raise UserError(
            f"dataset file lacks column(s) {', '.join(missing)}",
            where=file,
            fix=f"use a VidDiffBench parquet (columns: {', '.join(REQUIRED_COLUMNS)})",
        )
    columns = [c for c in schema_names if c not in THUMBNAIL_COLUMNS]
    return parquet.read(columns=columns).to_pylist()


def _json_column(row: dict[str, Any], column: str, expect: type) -> Any:
    raw = row[column]
    value = raw
    if isinstance(raw, (str, bytes)):
        from vidbench.untrusted import parse_json

        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            value = parse_json(text, f"column {column!r}")
        except UserError as exc:
            place = exc.where or f"column {column!r}"
            raise UserError(exc.what, where=f"sample {row.get('sample_key')!r}, {place}") from None
    if not isinstance(value, expect):
        raise UserError(
            f"column {column!r} should decode to a {expect.__name__}, got {type(value).__name__}",
            where=f"sample {row.get('sample_key')!r}",
        )
    return value


def _video_ref(entry: Any, where: str) -> VideoRef:
    if not isinstance(entry, dict) or "path" not in entry:
        raise UserError("each entry of column 'videos' needs a 'path'", where=where)
    trim = entry.get("frames_trim") or [None, None]
    if not isinstance(trim, (list, tuple)) or len(trim) != 2:
        raise UserError(f"frames_trim should be [start, end], got {trim!r}", where=where)
    start, end = (None if t is None else int(t) for t in trim)
    return VideoRef(
        path=str(entry["path"]),
        fps_original=float(entry.get("fps_original") or 0),
        trim=(start, end),
    )


def sample_from_row(row: dict[str, Any]) -> Sample:
    key = str(row["sample_key"])
    where = f"sample {key!r}"
    videos = _json_column(row, "videos", list)
    if len(videos) != 2:
        raise UserError(f"column 'videos' should hold 2 videos, holds {len(videos)}", where=where)
    annotated = _json_column(row, "differences_annotated", dict)
    labels = _json_column(row, "differences_gt", dict)
    retrieval = _json_column(row, "retrieval_frames", list) if row["retrieval_frames"] else [{}, {}]
    differences: dict[str, Difference] = {}
    for diff_key in sorted_keys(set(annotated) | set(labels)):
        label = labels.get(diff_key)
        if label not in (None, "a", "b", "c"):
            raise UserError(
                f"differences_gt[{diff_key!r}] is {label!r}, expected a, b, c or null", where=where
            )
        note = annotated.get(diff_key)
        if note is None:
            differences[diff_key] = Difference(key=str(diff_key), label=label)
        else:
            differences[diff_key] = Difference(
                key=str(diff_key),
                label=label,
                name=note.get("name"),
                description=note.get("description"),
                num_frames=None if note.get("num_frames") is None else str(note["num_frames"]),
            )
    info = SampleInfo(
        key=key,
        action=str(row["action"]),
        action_name=str(row["action_name"]),
        action_description=str(row["action_description"]),
        domain=str(row["domain"]),
        split=str(row["split"]),
        source_dataset=str(row["source_dataset"]),
        sample_hash=int(row["sample_hash"]),
        videos=(
            _video_ref(videos[0], where + " video A"),
            _video_ref(videos[1], where + " video B"),
        ),
        max_differences=int(row["n_differences_open_prediction"]),
    )
    frames = tuple(
        {str(k): v for k, v in (r or {}).items()} for r in (list(retrieval) + [{}, {}])[:2]
    )
    return Sample(info=info, differences=differences, retrieval_frames=frames)  # type: ignore[arg-type]


def _sample_or_error(index: int, row: dict[str, Any], folder: Path) -> Sample:
    """Dataset rows are untrusted: a value of the wrong kind anywhere is a UserError naming the
    row, never a traceback."""
    try:
        return sample_from_row(row)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise UserError(
            f"dataset row {index} (sample_key {str(row.get('sample_key'))[:80]!r}) is malformed: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
            where=str(folder),
            fix="use an unmodified VidDiffBench parquet, or fix that row",
        ) from None


def select(samples: Iterable[Sample], selection: Selection) -> list[Sample]:
    samples = list(samples)
    if selection.split != "all" and selection.split not in SPLITS:
        raise UserError(
            f"unknown split {selection.split!r}", fix=f"use one of: {', '.join(SPLITS)}, all"
        )
    _check_known("domain", selection.domains, {s.domain for s in samples})
    _check_known("action", selection.actions, {s.action for s in samples})
    _check_known("sample id", selection.sample_ids, {s.key for s in samples})
    chosen = [
        s
        for s in samples
        if (selection.split == "all" or s.split == selection.split)
        and (not selection.domains or s.domain in selection.domains)
        and (not selection.actions or s.action in selection.actions)
        and (not selection.sample_ids or s.key in selection.sample_ids)
    ]
    if selection.per_action is not None:
        counts: dict[str, int] = {}
        kept = []
        for s in chosen:
            counts[s.action] = counts.get(s.action, 0) + 1
            if counts[s.action] <= selection.per_action:
                kept.append(s)
        chosen = kept
    if selection.limit is not None:
        chosen = chosen[: selection.limit]
    if selection.shard is not None:
        # Round-robin over the selection's order: deterministic, and shard sizes differ by <= 1.
        index, count = selection.shard
        chosen = chosen[index - 1 :: count]
    return chosen


def _check_known(what: str, asked: Sequence[str], known: set[str]) -> None:
    unknown = [a for a in asked if a not in known]
    if unknown:
        shown = ", ".join(sorted(known)[:30]) + (" ..." if len(known) > 30 else "")
        raise UserError(f"unknown {what}(s): {', '.join(unknown)}", fix=f"known: {shown}")


def load_benchmark(
    dataset: str = "demo",
    revision: str | None = None,
    selection: Selection | None = None,
    video_root: str | os.PathLike[str] | None = None,
) -> Benchmark:
    source = resolve_source(dataset, revision, video_root)
    samples = [
        _sample_or_error(i, r, source.folder) for i, r in enumerate(read_rows(source.folder))
    ]
    seen: set[str] = set()
    for s in samples:
        if s.key in seen:
            raise UserError(f"sample_key {s.key!r} occurs twice", where=str(source.folder))
        seen.add(s.key)
    return Benchmark(source, select(samples, selection or Selection()))
