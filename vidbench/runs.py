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

PREDICTIONS = "predictions.jsonl"
JUDGEMENTS = "judgements.jsonl"
MANIFEST = "manifest.json"
CONFIG = "config.json"
METRICS = "metrics.json"
REPORT = "report.md"

RECORD: TypeAdapter[PredictionRecord] = TypeAdapter(PredictionRecord)
"""How a PredictionRecord becomes one line of predictions.jsonl and back."""

_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)
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


def redact_secret_fields(value: Any) -> Any:
    """Drop values whose key names a secret, at any depth (manifests and configs are shared)."""
    if isinstance(value, dict):
        return {
            k: "<redacted>" if _SECRET_NAME.search(str(k)) and v else redact_secret_fields(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_secret_fields(v) for v in value]
    return value


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
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


M = TypeVar("M", bound=BaseModel)


def write_model(path: Path, model: BaseModel) -> None:
    """A typed run file (config, manifest, metrics), atomically. Config and manifest hold what a
    user typed, so fields named like secrets are redacted there; metrics hold only numbers (and
    `prompt_tokens`, which the redactor's pattern would hit)."""
    data = model.model_dump(mode="json", by_alias=True)
    if not isinstance(model, (ClosedMetrics, OpenMetrics)):
        data = redact_secret_fields(data)
    write_json(path, data)


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
            fix="it was probably written by another vidbench version: re-run "
            "`vidbench score` on the run folder (or `vidbench eval` for a new run)",
        ) from None


def describe_validation_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"field {field!r}: {first['msg']}{more}"


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
    """The command line as typed, with anything that looks like a credential removed."""
    from vidbench.llm import redact as redact_text

    command = " ".join(sys.argv)
    command = re.sub(
        r"((?:api[_-]?key|token|secret|password)=)\S+", r"\1<redacted>", command, flags=re.I
    )
    return redact_text(command)


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
        lines = [(n, line) for n, line in enumerate(self.path.read_text().splitlines(), 1)]
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
                fh.write(RECORD.dump_json(record, fallback=str).decode() + "\n")
        os.replace(tmp, self.path)

    def append(self, record: PredictionRecord) -> None:
        line = RECORD.dump_json(record, fallback=str).decode() + "\n"
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
            fix="re-run `vidbench score` on this run folder",
        )
    if mode == "closed":
        return read_model(path, ClosedMetrics)
    return read_model(path, OpenMetrics)
