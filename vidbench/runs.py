"""Run folders: config, manifest, predictions.jsonl (appended as samples finish), judgements.jsonl,
metrics.json and report.md. Appends are flushed and fsynced line by line, so a crash loses at
most the samples in flight; a torn last line is ignored on read."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import vidbench
from vidbench.contracts import PredictionRecord, Status
from vidbench.errors import UserError
from vidbench.secrets import REDACTED, is_credential_name, redact, redact_text, register_secret

PREDICTIONS = "predictions.jsonl"
JUDGEMENTS = "judgements.jsonl"
MANIFEST = "manifest.json"
CONFIG = "config.json"
METRICS = "metrics.json"
REPORT = "report.md"

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


def new_run_dir(parent: Path, method: str, mode: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", method)[:60]
    path = parent / f"{stamp}-{safe}-{mode}"
    n = 1
    while path.exists():
        n += 1
        path = parent / f"{stamp}-{safe}-{mode}-{n}"
    path.mkdir(parents=True)
    return path


def write_json(path: Path, data: Any) -> None:
    """Atomic: a reader never sees half a file, and an old file is not lost on a crash."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(redact(data), indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"{path.name} not found in {path.parent}",
            fix="pass a run folder written by `vidbench eval`",
        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


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


def build_manifest(**parts: Any) -> dict[str, Any]:
    return redact(
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


class RecordLog:
    """predictions.jsonl: append-only while running; rewritten only to drop failed records on
    resume (atomically), so no sample ever has two records."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[PredictionRecord]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                records.append(PredictionRecord.from_json(json.loads(line)))
            except (json.JSONDecodeError, KeyError, ValueError):
                continue  # a line torn by a crash: that sample simply runs again
        return records

    def keep_only(self, records: Iterable[PredictionRecord]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w") as fh:
            for record in records:
                fh.write(json.dumps(redact(record.to_json()), default=str) + "\n")
        os.replace(tmp, self.path)

    def append(self, record: PredictionRecord) -> None:
        line = json.dumps(redact(record.to_json()), default=str) + "\n"
        with self._lock, open(self.path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def latest_records(records: Iterable[PredictionRecord]) -> dict[tuple[str, bool], PredictionRecord]:
    """The last record per (sample, order): later lines supersede earlier ones."""
    latest: dict[tuple[str, bool], PredictionRecord] = {}
    for record in records:
        latest[(record.sample_key, record.swapped)] = record
    return latest


def completed(records: Iterable[PredictionRecord]) -> dict[tuple[str, bool], PredictionRecord]:
    return {k: r for k, r in latest_records(records).items() if r.status is Status.OK}
