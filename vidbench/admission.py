"""Which runs a leaderboard ranks: the rules that keep apples and oranges apart.

A reproduced (or submitted) row is *full*, and ranked, only when its run
- used the leaderboard's dataset (Hub repo id, or the same local folder) at the leaderboard's
  revision (when one is pinned), and is not the built-in demo;
- selected whole splits: no `--limit`, `--per-action`, `--sample-ids`, `--domain` or `--action`;
- has an ok answer for every sample of the split(s) it reports (a budget stop, failed samples or
  an interrupted run leave it partial until `--resume` finishes it).

Anything else is *partial*: left out, or with `--include-partial` shown below the ranked rows,
marked with the reasons, never given a rank. Among full rows of one method configuration (same
method, same options) and dataset revision only the newest run is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Selection filters that make a run cover less than whole splits, with their flags.
FILTERS = {
    "limit": "--limit",
    "per_action": "--per-action",
    "sample_ids": "--sample-ids",
    "domains": "--domain",
    "actions": "--action",
}


@dataclass(frozen=True)
class LeaderboardDataset:
    """The dataset a leaderboard is about: what `--dataset` named (a Hub repo id or a folder)
    and, when pinned, its revision."""

    name: str
    revision: str | None = None


@dataclass
class Admission:
    """A run's standing on a leaderboard: full (ranked) or partial, and why."""

    full: bool
    reasons: list[str] = field(default_factory=list)
    coverage: str = ""  # "ok samples/samples of the split(s)"

    @property
    def status(self) -> str:
        return "full" if self.full else "partial: " + "; ".join(self.reasons)


def _same_folder(a: str | None, b: str) -> bool:
    if not a:
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


def admit(manifest: Any, metrics: Any, board: LeaderboardDataset) -> Admission:
    """Judge one run (its typed Manifest and Metrics) against the leaderboard's dataset."""
    dataset = manifest.dataset
    reasons: list[str] = []
    if dataset.kind == "demo":
        reasons.append("the built-in demo dataset")
    elif dataset.kind == "hub":
        if dataset.repo_id != board.name:
            reasons.append(f"dataset {dataset.repo_id}, not {board.name}")
    elif not _same_folder(dataset.folder, board.name):
        reasons.append(f"dataset folder {dataset.folder}, not {board.name}")
    if board.revision is not None and dataset.revision != board.revision:
        reasons.append(f"revision {dataset.revision}, not {board.revision}")
    selection = dataset.selection
    for name, flag in FILTERS.items():
        value = getattr(selection, name, None)
        if value:
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            reasons.append(f"{flag} {shown}")
    ok, total = metrics.coverage.ok, dataset.split_samples
    if ok < total:
        reasons.append(f"{ok} of {total} samples answered")
    return Admission(not reasons, reasons, f"{ok}/{total}")


def configuration_key(manifest: Any) -> str:
    """(method, its options, dataset revision) as one string: runs with the same key are the
    same leaderboard row."""
    method = manifest.method
    return json.dumps(
        [method.name, method.config, manifest.dataset.revision], sort_keys=True, default=str
    )
