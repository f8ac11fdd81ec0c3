"""Run folders: config, manifest, predictions.jsonl (appended as samples finish), judgements.jsonl,
metrics.json and report.md. Appends are flushed and fsynced line by line, so a crash loses at
most the samples in flight; a torn last line is ignored on read."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

import vidbench
from vidbench.contracts import (
    ClosedMetrics,
    Manifest,
    Metrics,
    OpenMetrics,
    PredictionRecord,
    Status,
    latest_records,
)
from vidbench.errors import UserError
from vidbench.secrets import REDACTED, is_credential_name, redact, redact_text, register_secret
from vidbench.untrusted import load_json, read_text

PREDICTIONS = "predictions.jsonl"
JUDGEMENTS = "judgements.jsonl"
MANIFEST = "manifest.json"
CONFIG = "config.json"
METRICS = "metrics.json"
REPORT = "report.md"
LOCK = ".lock"

RECORD: TypeAdapter[PredictionRecord] = TypeAdapter(PredictionRecord)
"""How a PredictionRecord becomes one line of predictions.jsonl and back."""

PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "datasets",
    "huggingface_hub",
    "litellm",
    "av",
    "pydantic",
    "torch",
    "open_clip_torch",
)


def create_run_dir(
    parent: Path, method: str, mode: str, files: dict[str, Any]
) -> tuple[Path, RunLock]:
    """A new run folder that appears complete and locked, or not at all.

    The files (config.json, manifest.json: what --resume needs) are written into a hidden
    staging folder that holds the lock, then renamed into place under the first free name. A kill
    at any point leaves either no run folder or one that --resume accepts; concurrent evals
    never collide on a name (a rename onto a non-empty folder fails, and the next name is tried)."""
    staging = _staging_dir(parent)
    try:
        lock = lock_run_dir(staging)
        for name, data in files.items():
            if isinstance(data, BaseModel):
                write_model(staging / name, data)
            else:
                write_json(staging / name, data)
        run_dir = _publish(staging, parent, method, mode)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    lock.run_dir = run_dir
    return run_dir, lock


STAGING_PREFIX = ".creating-"
# A staging folder is locked within microseconds of being made; one older than this whose lock
# is free was left by a killed process and is removed by the next run created next to it.
ABANDONED_AFTER_S = 60.0


def _sweep_abandoned(parent: Path) -> None:
    for staging in parent.glob(f"{STAGING_PREFIX}*"):
        try:
            if time.time() - staging.stat().st_mtime < ABANDONED_AFTER_S:
                continue
            lock = lock_run_dir(staging)
        except (OSError, UserError):
            continue  # gone already, or its creator is alive and holds it
        try:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            lock.release()


def _staging_dir(parent: Path) -> Path:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _sweep_abandoned(parent)
        staging = parent / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        staging.mkdir()  # the umask's permissions, unlike mkdtemp's 0700
        return staging
    except OSError as exc:
        raise UserError(
            f"cannot create a run folder under {parent} ({exc.strerror or exc})",
            fix="pass a writable --runs-dir",
        ) from None


def _publish(staging: Path, parent: Path, method: str, mode: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", method)[:60]
    base = f"{stamp}-{safe}-{mode}"
    for n in range(1, 100_000):
        path = parent / (base if n == 1 else f"{base}-{n}")
        if path.exists() or path.is_symlink():
            continue
        try:
            os.rename(staging, path)  # atomic; fails when another process took the name
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                continue
            raise
        return path
    raise UserError(f"no free run folder name under {parent} for {base}")


class RunLock:
    """An exclusive lock (flock) on a run folder's .lock file, held by the one process writing the
    folder. The kernel drops it when the process ends, however it ends, so a killed run never
    leaves a folder locked; the file keeps the holder's PID to name it to a refused writer."""

    def __init__(self, run_dir: Path, fd: int):
        self.run_dir, self._fd = run_dir, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_run_dir(run_dir: Path) -> RunLock:
    """Lock a run folder for writing, or refuse (exit 2) naming the process that holds it."""
    if not run_dir.is_dir():
        raise UserError(
            f"{run_dir} is not a run folder", fix="pass a folder written by `vidbench eval`"
        )
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot lock {run_dir} ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise UserError(
            f"run folder {run_dir} is being written by another process (PID {holder})",
            fix="wait for that run to finish (or stop it), then resume; two writers would "
            "duplicate records and pay for calls twice",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(run_dir, fd)


def write_json(path: Path, data: Any) -> None:
    """Atomic: a reader never sees half a file, and an old file is not lost on a crash.
    Credentials are removed by value first (vidbench.secrets)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(redact(data), indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


M = TypeVar("M", bound=BaseModel)


def write_model(path: Path, model: BaseModel) -> None:
    """A typed run file (config, manifest, metrics), atomically, credentials removed by value
    (write_json)."""
    write_json(path, model.model_dump(mode="json", by_alias=True))


def read_model(path: Path, model: type[M]) -> M:
    """Parse a typed run file; a file that does not fit (an older vidbench's, or edited) is a
    UserError naming the file and the first field that is wrong."""
    data = read_json(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(
            f"{path.name} does not fit this vidbench's {model.__name__}: "
            f"{describe_validation_error(exc)}",
            where=str(path),
            fix=_unreadable_fix(path, data),
        ) from None


def _unreadable_fix(path: Path, data: Any) -> str:
    """What works for a run file this vidbench cannot read: metrics are recomputed from the
    predictions by `vidbench score RUN`, which itself needs config.json and manifest.json, so for
    those only the vidbench that wrote them (or a new run) helps."""
    if path.name == METRICS:
        return f"`vidbench score {path.parent}` rewrites it from predictions.jsonl"
    version = data.get("vidbench_version") if isinstance(data, dict) else None
    if version is None and (path.parent / MANIFEST).is_file():
        try:
            manifest = json.loads((path.parent / MANIFEST).read_text())
            version = manifest.get("vidbench_version") if isinstance(manifest, dict) else None
        except (OSError, ValueError):
            version = None
    wrote = f"vidbench {version}" if isinstance(version, str) else "the vidbench version"
    return (
        f"it was probably written by another vidbench version: read it with {wrote} that wrote "
        "it, or run `vidbench eval` anew with this one"
    )


def describe_validation_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"field {field!r}: {first['msg']}{more}"


def read_json(path: Path) -> Any:
    """A run folder's JSON file (an object); anything damaged is a UserError, never a traceback."""
    if not path.exists():
        raise UserError(
            f"{path.name} not found in {path.parent}",
            fix="pass a run folder written by `vidbench eval`",
        )
    return load_json(path, path.name)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(vidbench.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def redacted_command() -> str:
    """The command line as typed, without credentials (`-M api_key=...` values, URL user-info,
    known key values)."""
    args = []
    for arg in sys.argv:
        name, sep, value = arg.partition("=")
        if sep and is_credential_name(name.lstrip("-")):
            register_secret(value)
            arg = f"{name}={REDACTED}"
        args.append(arg)
    return redact_text(" ".join(args))


def build_manifest(**parts: Any) -> Manifest:
    """The manifest of a run starting now: provenance plus `parts` (method, dataset, ...)."""
    return Manifest.model_validate(
        {
            "vidbench_version": vidbench.__version__,
            "git_commit": git_commit(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": package_versions(),
            "command": redacted_command(),
            **parts,
        }
    )


def record_line(record: PredictionRecord) -> str:
    """One line of predictions.jsonl, credentials removed (a reply or an error can echo them)."""
    data = json.loads(RECORD.dump_json(record, fallback=str))
    return json.dumps(redact(data), ensure_ascii=False) + "\n"


class RecordLog:
    """predictions.jsonl: append-only while running; rewritten only to drop failed records on
    resume (atomically), so no sample ever has two records."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[PredictionRecord]:
        """The records in file order. Only the last line may be torn by a crash (ignored: that
        sample runs again); any other line that does not parse is a UserError naming the line
        and field, since it means the file is not this vidbench's (or was edited)."""
        if not self.path.exists():
            return []
        text = read_text(self.path, self.path.name)  # size and UTF-8 checked
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
        lines = [(n, line) for n, line in lines if line.strip()]
        records = []
        for i, (n, line) in enumerate(lines):
            try:
                records.append(RECORD.validate_json(line))
            except ValidationError as exc:
                if i == len(lines) - 1:
                    continue  # a line torn by a crash
                raise UserError(
                    f"line {n} is not a prediction record: {describe_validation_error(exc)}",
                    where=str(self.path),
                    fix="this run was written by another vidbench version; start a new run",
                ) from None
        return records

    def keep_only(self, records: Iterable[PredictionRecord]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w") as fh:
            for record in records:
                fh.write(record_line(record))
        os.replace(tmp, self.path)

    def append(self, record: PredictionRecord) -> None:
        line = record_line(record)
        with self._lock, open(self.path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def completed(records: Iterable[PredictionRecord]) -> dict[tuple[str, bool], PredictionRecord]:
    """The latest record per (sample, order) that succeeded: what --resume keeps."""
    records = list(records)
    return {
        (key, swapped): r
        for swapped in (False, True)
        for key, r in latest_records(records, swapped).items()
        if r.status is Status.OK
    }


def read_metrics(path: Path) -> Metrics:
    """metrics.json as ClosedMetrics or OpenMetrics, by its `mode`."""
    data = read_json(path)
    mode = data.get("mode") if isinstance(data, dict) else None
    if mode not in ("closed", "open"):
        raise UserError(
            f"{path.name} has mode {mode!r}, not closed or open",
            where=str(path),
            fix=f"`vidbench score {path.parent}` rewrites it from predictions.jsonl",
        )
    if mode == "closed":
        return read_model(path, ClosedMetrics)
    return read_model(path, OpenMetrics)
