"""`vidbench judge-agreement`: how far two open-set judges agree on one finished run.

The run's own judgements (judgements.jsonl) are compared with a second judge's, made now through
the cache: another protocol (`paper`, `single`) or another model under the run's protocol. Two
numbers come out, so every recall figure can carry a measured judge reliability:

- match-level Cohen's kappa: every (ground-truth statement, predicted statement) pair of every
  sample is one binary decision, matched or not, by each judge; kappa corrects their raw
  agreement for the agreement their match rates would give by chance;
- the recall difference (second judge minus the run's judge) with a 95 % interval from a paired
  bootstrap over samples (a pair's statements share videos, so samples are the clusters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidbench import runs
from vidbench.contracts import DifferencePrediction, Sample, sorted_keys
from vidbench.errors import UserError
from vidbench.judge import JUDGE_PROTOCOLS, Judgement, judge_pool

N_RESAMPLES = 2000


def cohen_kappa(first: Sequence[bool], second: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' binary decisions on the same items; None without items or
    when chance agreement is total and the raters still differ (undefined)."""
    a = np.asarray(first, dtype=bool)
    b = np.asarray(second, dtype=bool)
    if a.size == 0:
        return None
    observed = float(np.mean(a == b))
    pa, pb = float(a.mean()), float(b.mean())
    chance = pa * pb + (1 - pa) * (1 - pb)
    if chance >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - chance) / (1 - chance)


def match_decisions(
    sample: Sample, preds: Mapping[str, DifferencePrediction], judgement: Judgement | None
) -> list[bool]:
    """One decision per (ground-truth key, prediction key) pair, in key order: matched or not."""
    matches = judgement.matches if judgement is not None and judgement.status == "ok" else {}
    return [
        matches.get(gt) == pk for gt in sorted_keys(judge_pool(sample)) for pk in sorted_keys(preds)
    ]


def recall_counts(
    sample: Sample, preds: Mapping[str, DifferencePrediction], judgement: Judgement | None
) -> tuple[int, int]:
    """(correct, scored) a/b items of one sample under a judgement, as the scorer counts them."""
    from vidbench.scoring import _open_items

    items = _open_items(sample, preds, judgement)
    return sum(1 for i in items if i.correct), len(items)


def compare(
    samples: Sequence[Sample],
    predictions: Mapping[str, Mapping[str, DifferencePrediction]],
    first: Mapping[str, Judgement],
    second: Mapping[str, Judgement],
    seed: int = 0,
) -> dict[str, Any]:
    """Agreement of two judgements of the same predictions (see the module docstring)."""
    decisions_a: list[bool] = []
    decisions_b: list[bool] = []
    counts = []
    for sample in samples:
        preds = predictions.get(sample.key, {})
        decisions_a += match_decisions(sample, preds, first.get(sample.key))
        decisions_b += match_decisions(sample, preds, second.get(sample.key))
        c1, total = recall_counts(sample, preds, first.get(sample.key))
        c2, _ = recall_counts(sample, preds, second.get(sample.key))
        counts.append((c1, c2, total))
    arr = np.asarray(counts, dtype=np.float64).reshape(-1, 3)
    n_items = float(arr[:, 2].sum())
    recall_a = float(arr[:, 0].sum()) / n_items if n_items else None
    recall_b = float(arr[:, 1].sum()) / n_items if n_items else None
    interval = None
    if n_items:
        idx = np.random.default_rng(seed).integers(0, len(arr), size=(N_RESAMPLES, len(arr)))
        den = arr[idx, 2].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs = (arr[idx, 1].sum(axis=1) - arr[idx, 0].sum(axis=1)) / den
        lo, hi = np.nanquantile(diffs, [0.025, 0.975])
        interval = [float(lo), float(hi)]
    agree = [x == y for x, y in zip(decisions_a, decisions_b)]
    return {
        "n_samples": len(samples),
        "n_pairs": len(decisions_a),
        "n_scored_items": int(n_items),
        "pair_agreement": float(np.mean(agree)) if agree else None,
        "match_kappa": cohen_kappa(decisions_a, decisions_b),
        "recall_run": recall_a,
        "recall_other": recall_b,
        "recall_difference": (recall_b - recall_a) if n_items else None,  # type: ignore[operator]
        "recall_difference_95": interval,
        "judge_failures": {
            "run": sum(1 for j in first.values() if j.status != "ok"),
            "other": sum(1 for j in second.values() if j.status != "ok"),
        },
    }


def judge_agreement(run: Path, other: str, api_base: str | None = None) -> dict[str, Any]:
    """Re-judge a finished open run with `other` (a protocol or a model id) and compare."""
    from vidbench.contracts import RunConfig, latest_records
    from vidbench.dataset import Benchmark, select
    from vidbench.judge import judge_all, judge_label, make_judge, read_judgements
    from vidbench.pipeline import load_split, make_client, selection_of
    from vidbench.predictions import records_to_predictions

    if not (run / runs.CONFIG).is_file():
        raise UserError(f"{run} is not a run folder (no config.json)", fix="pass a run folder")
    request = runs.read_model(run / runs.CONFIG, RunConfig)
    if request.mode != "open":
        raise UserError(
            f"{run} is a {request.mode}-set run; judges only judge open-set runs",
            fix="pass an open-set run folder (vidbench eval --mode open)",
        )
    if not (run / runs.JUDGEMENTS).is_file():
        raise UserError(
            f"{run} has no judgements.jsonl yet", fix=f"run `vidbench eval --resume {run}` first"
        )
    if other in JUDGE_PROTOCOLS:
        protocol, model = other, None
    else:
        protocol, model = request.judge_protocol, other
    bench = load_split(request)
    bench = Benchmark(bench.source, select(bench.samples, selection_of(request)))
    records = latest_records(runs.RecordLog(run / runs.PREDICTIONS).read(), False)
    predictions = records_to_predictions(records.values())
    first = read_judgements(run / runs.JUDGEMENTS)
    client = make_client(8, None)
    judge = make_judge(protocol, client.session, model, api_base or request.judge_api_base)
    second = judge_all(bench.samples, predictions, judge)
    result = compare(bench.samples, predictions, first, second)
    return {
        "run": str(run),
        "run_judge": judge_label(request.judge_protocol, request.judge),
        "other_judge": judge_label(protocol, model),
        **result,
    }


def render_agreement(result: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""

    def pct(value: Any) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}"

    interval = result.get("recall_difference_95")
    span = "n/a" if interval is None else f"[{pct(interval[0])}, {pct(interval[1])}]"
    kappa = result.get("match_kappa")
    return "\n".join(
        [
            f"run judge:   {result.get('run_judge')}",
            f"other judge: {result.get('other_judge')}",
            f"samples {result['n_samples']}, statement pairs {result['n_pairs']}, "
            f"scored items {result['n_scored_items']}",
            f"match agreement {pct(result['pair_agreement'])} %, Cohen's kappa "
            + ("n/a" if kappa is None else f"{kappa:.3f}"),
            f"recall@N: run {pct(result['recall_run'])} %, other {pct(result['recall_other'])} %, "
            f"difference {pct(result['recall_difference'])} points, 95 % {span}",
        ]
    )
