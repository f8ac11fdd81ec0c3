"""`vidbench compare RUN_A RUN_B`: is A better than B on the items both runs scored?

Per split and pooled: both rates, the difference with a paired 95% interval (whole pairs are
resampled with both runs' outcomes together), the items each run got right that the other got
wrong, and for closed mode the exact McNemar test on those discordant items. A failed sample
counts as wrong, as in scoring. Differences in dataset revision, frame spec or judge are warned
about: they make the comparison one of more than the methods.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench import runs
from vidbench.contracts import Manifest, PredictionRecord, RunConfig, Sample, latest_records
from vidbench.errors import UserError
from vidbench.stats import mcnemar_exact, paired_bootstrap_difference


@dataclass
class RunView:
    """What a comparison needs of one run folder."""

    path: Path
    config: RunConfig
    manifest: Manifest
    records: dict[str, PredictionRecord]  # forward-order record per sample

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def name(self) -> str:
        return self.manifest.method.name


def read_run(path: Path) -> RunView:
    if not path.is_dir():
        raise UserError(
            f"{path} is not a run folder", fix="pass folders written by `vidbench eval`"
        )
    forward = latest_records(runs.RecordLog(path / runs.PREDICTIONS).read())
    return RunView(
        path,
        runs.read_model(path / runs.CONFIG, RunConfig),
        runs.read_model(path / runs.MANIFEST, Manifest),
        forward,
    )


def configuration_warnings(a: RunView, b: RunView) -> list[str]:
    """What differs between the runs besides the method."""
    warnings = []
    da, db = a.manifest.dataset, b.manifest.dataset
    if (da.repo_id, da.revision) != (db.repo_id, db.revision):
        warnings.append(
            f"dataset differs: {da.repo_id} @ {da.revision} vs {db.repo_id} @ {db.revision}"
        )
    specs_a, specs_b = a.manifest.frame_specs, b.manifest.frame_specs
    for domain in sorted(set(specs_a) & set(specs_b)):
        if specs_a[domain] != specs_b[domain]:
            warnings.append(
                f"frame spec differs on {domain}: "
                f"{_spec_text(specs_a[domain])} vs {_spec_text(specs_b[domain])}"
            )
    judge_a = (a.manifest.judge, a.config.judge_protocol)
    judge_b = (b.manifest.judge, b.config.judge_protocol)
    if a.mode == "open" and judge_a != judge_b:
        warnings.append(
            f"judge differs: {judge_a[0]} ({judge_a[1]} protocol) vs "
            f"{judge_b[0]} ({judge_b[1]} protocol)"
        )
    return warnings


def _spec_text(spec: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items() if v is not None) or "-"


def _outcomes(run: RunView, samples: list[Sample]) -> dict[tuple[str, str], bool]:
    from vidbench.predictions import records_to_predictions
    from vidbench.scoring import item_outcomes

    predictions = records_to_predictions(run.records.values())
    if run.mode == "closed":
        return item_outcomes(samples, predictions)
    path = run.path / runs.JUDGEMENTS
    if not path.is_file():
        raise UserError(
            f"{run.path} has no {runs.JUDGEMENTS}",
            fix=f"score it first: `vidbench score {run.path}`",
        )
    from vidbench.judge import read_judgements

    return item_outcomes(samples, predictions, read_judgements(path))


def _block(
    keys: list[tuple[str, str]],
    a: dict[tuple[str, str], bool],
    b: dict[tuple[str, str], bool],
    mode: str,
    seed: int,
) -> dict[str, Any]:
    per_pair: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key in keys:
        counts = per_pair[key[0]]
        counts[0] += a[key]
        counts[1] += b[key]
        counts[2] += 1
    only_a = sum(a[k] and not b[k] for k in keys)
    only_b = sum(b[k] and not a[k] for k in keys)
    n = len(keys)
    rate_a = sum(a[k] for k in keys) / n if n else None
    rate_b = sum(b[k] for k in keys) / n if n else None
    cols = list(zip(*per_pair.values())) or [(), (), ()]
    interval = paired_bootstrap_difference(cols[0], cols[1], cols[2], seed=seed)
    return {
        "n": n,
        "n_pairs": len(per_pair),
        "rate_a": rate_a,
        "rate_b": rate_b,
        "difference": None if rate_a is None or rate_b is None else rate_a - rate_b,
        "interval": None if interval is None else list(interval),
        "only_a_right": only_a,
        "only_b_right": only_b,
        "p_mcnemar": mcnemar_exact(only_a, only_b) if mode == "closed" else None,
    }


def compare_runs(path_a: Path, path_b: Path, seed: int = 0) -> dict[str, Any]:
    """The comparison as plain data (what `--json` prints)."""
    from vidbench.pipeline import load_split

    a, b = read_run(path_a), read_run(path_b)
    if a.mode != b.mode:
        raise UserError(
            f"{a.path} is a {a.mode}-set run and {b.path} a {b.mode}-set run",
            fix="compare two closed-set runs or two open-set runs",
        )
    split_all = a.config.model_copy(
        update={"selection": a.config.selection.model_copy(update={"split": "all"})}
    )
    bench = load_split(split_all)
    both = [s for s in bench.samples if s.key in a.records and s.key in b.records]
    if not both:
        raise UserError(
            "the two runs share no sample",
            fix="compare runs of the same dataset and an overlapping selection",
        )
    out_a, out_b = _outcomes(a, both), _outcomes(b, both)
    keys = sorted(out_a)
    split_of = {s.key: s.split for s in both}
    splits: dict[str, Any] = {}
    for split in sorted({split_of[k[0]] for k in keys}, key=_split_order):
        chosen = [k for k in keys if split_of[k[0]] == split]
        splits[split] = _block(chosen, out_a, out_b, a.mode, seed)
    return {
        "mode": a.mode,
        "rate": "accuracy" if a.mode == "closed" else "recall",
        "run_a": {"path": str(a.path), "method": a.name, "n_samples": len(a.records)},
        "run_b": {"path": str(b.path), "method": b.name, "n_samples": len(b.records)},
        "n_shared_samples": len(both),
        "splits": splits,
        "pooled": _block(keys, out_a, out_b, a.mode, seed),
        "warnings": configuration_warnings(a, b),
    }


def _split_order(split: str) -> tuple[int, str]:
    from vidbench.contracts import SPLITS

    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def render_comparison(result: dict[str, Any]) -> str:
    from vidbench.report import text_table

    rate = result["rate"]
    rows = []
    for name, block in [*result["splits"].items(), ("pooled", result["pooled"])]:
        interval = block["interval"]
        row = {
            "split": name,
            "items": block["n"],
            f"A {rate} %": _pct(block["rate_a"]),
            f"B {rate} %": _pct(block["rate_b"]),
            "A-B (pp)": _pct(block["difference"], signed=True),
            "paired 95%": "-"
            if interval is None
            else f"[{_pct(interval[0], True)}, {_pct(interval[1], True)}]",
            "only A right": block["only_a_right"],
            "only B right": block["only_b_right"],
        }
        if result["mode"] == "closed":
            p = block["p_mcnemar"]
            row["McNemar p"] = "-" if p is None else f"{p:.3g}"
        rows.append(row)
    a, b = result["run_a"], result["run_b"]
    lines = [
        f"A: {a['method']}  ({a['path']})",
        f"B: {b['method']}  ({b['path']})",
        f"{result['n_shared_samples']} pairs scored by both ({result['mode']} set)",
        "",
        text_table(rows),
        "",
        "paired 95%: bootstrap over pairs, both runs resampled together"
        + (
            "; McNemar: exact, on the items only one run got right"
            if rows and "McNemar p" in rows[0]
            else ""
        ),
    ]
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)
