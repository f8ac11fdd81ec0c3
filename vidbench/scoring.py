"""Closed-set accuracy, open-set recall@N and localisation quality, as the paper defines them,
with intervals and significance tests.

Rules (viddiffbench.md, "Scoring"):
- Only ground-truth items labelled a or b are scored; 'c' and null items never are.
- Closed: a missing prediction, or one that is not a/b, is wrong. A sample whose run failed has no
  predictions, so all its items are wrong (strict); coverage reports how many there were.
- Open: the judge's one-to-one matching (vidbench.judge) decides which prediction, if any, answers
  each ground-truth item; an "opposite" pair flips the predicted direction. An a/b item is then
  correct, wrong-direction, or unmatched; the three rates add up to 1. A judge failure leaves all
  of its sample's items unmatched and is counted.
- "average" is the unweighted mean of the split rates (the paper's Average); "pooled" is the rate
  over all scored items. Both are reported, labelled, because they differ when splits differ in
  size (easy has 357 scored items, medium 1,227).

The results are the typed models of vidbench.contracts (ClosedMetrics, OpenMetrics, ...), which
are metrics.json as they are dumped. `score_run_records` is the one path from a run's records to
its metrics (`vidbench eval` and `vidbench score RUN_DIR` both use it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidbench.contracts import (
    SPLITS,
    ClosedMetrics,
    Coverage,
    DifferencePrediction,
    Judgement,
    LocalizationMetrics,
    Metrics,
    OpenMetrics,
    OracleCoverage,
    OrderConsistency,
    PredictionRecord,
    Predictions,
    Sample,
    Status,
    Usage,
    latest_records,
)
from vidbench.predictions import cap_open_predictions, records_to_predictions
from vidbench.stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    binomial_p_greater,
    bootstrap_interval,
    bootstrap_mean_of_rates,
    majority_rate,
    wilson_interval,
)

ALPHA = 0.05
FLIP = {"a": "b", "b": "a"}


@dataclass(frozen=True)
class _Item:
    """One scored (a/b) ground-truth item and its outcome."""

    sample_key: str
    split: str
    domain: str
    action: str
    label: str
    correct: bool
    matched: bool = True  # open set: False when no prediction was matched to it


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


def _cluster_counts(items: Sequence[_Item]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair (correct, total) counts: the bootstrap resamples whole pairs."""
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for it in items:
        total[it.sample_key] += 1
        correct[it.sample_key] += it.correct
    keys = list(total)
    return (
        np.fromiter((correct[k] for k in keys), float, len(keys)),
        np.fromiter((total[k] for k in keys), float, len(keys)),
    )


def _rate_block(
    items: Sequence[_Item], rate_name: str, n_resamples: int, seed: int
) -> dict[str, Any]:
    """Rate, counts, Wilson and cluster-bootstrap intervals, tests vs chance and majority."""
    n = len(items)
    k = sum(it.correct for it in items)
    maj = majority_rate(it.label for it in items)
    p_chance = binomial_p_greater(k, n, 0.5)
    # Against the majority-class rate: a/b labels are not balanced, so "always answer the
    # majority" beats 0.5 and is the honest bar. When maj is 1.0 no result can exceed it.
    p_majority = (
        binomial_p_greater(k, n, maj) if maj is not None and maj < 1.0 else (1.0 if n else None)
    )
    return {
        rate_name: (k / n) if n else None,
        "n": n,
        "n_correct": int(k),
        "n_samples": len({it.sample_key for it in items}),
        "wilson": _pair(wilson_interval(k, n)),
        "bootstrap": _pair(bootstrap_interval(*_cluster_counts(items), n_resamples, seed)),
        "p_vs_chance": p_chance,
        "majority_rate": maj,
        "p_vs_majority": p_majority,
        "significant": bool(p_chance is not None and p_chance < ALPHA),
    }


def _breakdown(items: Sequence[_Item], attr: str, rate_name: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[_Item]] = defaultdict(list)
    for it in items:
        groups[getattr(it, attr)].append(it)
    out = {}
    for name in sorted(groups):
        g = groups[name]
        k = sum(it.correct for it in g)
        out[name] = {
            rate_name: k / len(g),
            "n": len(g),
            "n_correct": int(k),
            "wilson": _pair(wilson_interval(k, len(g))),
        }
    return out


def _splits_present(samples: Sequence[Sample]) -> list[str]:
    present = {s.split for s in samples}
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


def _summary(
    samples: Sequence[Sample], items: Sequence[_Item], rate_name: str, n_resamples: int, seed: int
) -> dict[str, Any]:
    """The parts closed and open metrics share: splits, average, pooled, breakdowns."""
    splits = {}
    by_split: dict[str, list[_Item]] = defaultdict(list)
    for it in items:
        by_split[it.split].append(it)
    for split in _splits_present(samples):
        splits[split] = _rate_block(by_split[split], rate_name, n_resamples, seed)
    rates = [b[rate_name] for b in splits.values() if b[rate_name] is not None]
    groups = [_cluster_counts(by_split[s]) for s in splits if by_split[s]]
    pooled = _rate_block(items, rate_name, n_resamples, seed)
    return {
        "splits": splits,
        "average": float(np.mean(rates)) if rates else None,
        "average_definition": "unweighted mean of the split rates (the paper's Average)",
        "average_bootstrap": _pair(
            bootstrap_mean_of_rates(groups, n_resamples, seed)  # type: ignore[arg-type]
        ),
        "pooled": pooled[rate_name],
        "pooled_definition": "rate over all scored a/b items",
        "pooled_stats": pooled,
        "by_domain": _breakdown(items, "domain", rate_name),
        "by_action": _breakdown(items, "action", rate_name),
    }


def coverage(
    samples: Sequence[Sample],
    predictions: Predictions,
    records: Iterable[PredictionRecord] | None = None,
) -> Coverage:
    """How many samples have a usable answer. Without records (a predictions file) a sample is
    covered when the file has an entry for it."""
    n = len(samples)
    failures: Counter[str] = Counter()
    if records is not None:
        latest = latest_records(records)
        ok = sum(1 for s in samples if s.key in latest and latest[s.key].status == Status.OK)
        for s in samples:
            rec = latest.get(s.key)
            if rec is None:
                failures["no_record"] += 1
            elif rec.status != Status.OK:
                failures[rec.status.value] += 1
    else:
        ok = sum(1 for s in samples if s.key in predictions)
        failures["no_predictions"] = n - ok
    return Coverage(
        samples=n,
        ok=ok,
        rate=ok / n if n else None,
        failures={k: v for k, v in sorted(failures.items()) if v},
        rule="strict: failed or missing samples count as wrong",
    )


def score_closed(
    samples: Sequence[Sample],
    predictions: Predictions,
    *,
    records: Iterable[PredictionRecord] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> ClosedMetrics:
    """Closed-set accuracy metrics (see the module docstring for the rules)."""
    items: list[_Item] = []
    missing = invalid = 0
    for s in samples:
        preds = predictions.get(s.key, {})
        for dkey, label in s.scored_labels().items():
            pred = preds.get(dkey)
            answer = pred.prediction if pred is not None else None
            missing += pred is None
            invalid += pred is not None and answer not in ("a", "b")
            items.append(_Item(s.key, s.split, s.domain, s.action, label, answer == label))
    return ClosedMetrics(
        **_summary(samples, items, "accuracy", n_resamples, seed),
        missing_predictions=missing,
        invalid_predictions=invalid,
        coverage=coverage(samples, predictions, records),
    )


def _open_items(
    sample: Sample, preds: Mapping[str, DifferencePrediction], judgement: Judgement | None
) -> list[_Item]:
    ok = judgement is not None and judgement.status == "ok"
    items = []
    for dkey, label in sample.scored_labels().items():
        pkey = judgement.matches.get(dkey) if ok else None  # type: ignore[union-attr]
        pred = preds.get(pkey) if pkey is not None else None
        if pred is None:
            items.append(
                _Item(
                    sample.key,
                    sample.split,
                    sample.domain,
                    sample.action,
                    label,
                    False,
                    matched=False,
                )
            )
            continue
        answer: str | None = pred.prediction
        if judgement.opposite.get(dkey) and answer in FLIP:  # type: ignore[union-attr]
            answer = FLIP[answer]
        items.append(
            _Item(sample.key, sample.split, sample.domain, sample.action, label, answer == label)
        )
    return items


def _open_extras(items: Sequence[_Item], n_predictions: int, n_samples: int) -> dict[str, Any]:
    """Precision, F1 and the unmatched / wrong-direction split of the a/b items."""
    n = len(items)
    k = sum(it.correct for it in items)
    unmatched = sum(not it.matched for it in items)
    recall = k / n if n else None
    precision = k / n_predictions if n_predictions else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    return {
        "precision": precision,
        "f1": f1,
        "n_predictions": n_predictions,
        "mean_predictions": n_predictions / n_samples if n_samples else None,
        "unmatched_rate": unmatched / n if n else None,
        "wrong_direction_rate": (n - unmatched - k) / n if n else None,
    }


def score_open(
    samples: Sequence[Sample],
    predictions: Predictions,
    judgements: Mapping[str, Judgement] | Iterable[Judgement],
    *,
    records: Iterable[PredictionRecord] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> OpenMetrics:
    """Open-set recall@N metrics from the judge's judgements (see the module docstring).

    Precision = correct a/b items / predictions made (capped at each pair's max_differences, judge
    failures included, so it is as strict as recall).
    """
    if not isinstance(judgements, Mapping):
        judgements = {j.sample_key: j for j in judgements}
    items: list[_Item] = []
    n_preds: dict[str, int] = defaultdict(int)
    n_samples: dict[str, int] = defaultdict(int)
    failed, no_judgement = [], []
    for s in samples:
        preds, _ = cap_open_predictions(s, predictions.get(s.key, {}))
        j = judgements.get(s.key)
        if j is None:
            no_judgement.append(s.key)
        elif j.status != "ok":
            failed.append(s.key)
        items.extend(_open_items(s, preds, j))
        n_preds[s.split] += len(preds)
        n_samples[s.split] += 1
    metrics = _summary(samples, items, "recall", n_resamples, seed)
    for split, block in metrics["splits"].items():
        block.update(
            _open_extras(
                [it for it in items if it.split == split], n_preds[split], n_samples[split]
            )
        )
    judge_usage = Usage()
    for j in judgements.values():
        judge_usage.add(j.usage)
    return OpenMetrics(
        **metrics,
        **_open_extras(items, sum(n_preds.values()), len(samples)),
        judge_failures=len(failed),
        judge_failure_samples=failed,
        judge_missing=len(no_judgement),
        judge_usage=judge_usage,
        coverage=coverage(samples, predictions, records),
    )


# ----------------------------------------------------------------------------- localisation

WITHIN_S = (0.5, 1.0)


def _distance_block(distances: Sequence[float], n_frames: Sequence[int]) -> dict[str, Any]:
    d = np.asarray(distances, dtype=float)
    if d.size == 0:
        return {
            "n": 0,
            "mean_abs_s": None,
            "median_abs_s": None,
            "within_0.5s": None,
            "within_1s": None,
            "mean_predicted_frames": None,
        }
    return {
        "n": int(d.size),
        "mean_abs_s": float(d.mean()),
        "median_abs_s": float(np.median(d)),
        "within_0.5s": float((d <= WITHIN_S[0]).mean()),
        "within_1s": float((d <= WITHIN_S[1]).mean()),
        "mean_predicted_frames": float(np.mean(n_frames)),
    }


def score_localization(
    samples: Sequence[Sample], records: Iterable[PredictionRecord]
) -> LocalizationMetrics | None:
    """How close a method's chosen frames are to the ground-truth key frames; None if no record
    has localisation.

    For each difference with both a predicted frame list and a non-null ground-truth list in a
    video, the distance is |nearest predicted frame - key frame| / fps_original of that video,
    where the key frame is the first ground-truth index. Nearest rather than first: a method that
    shows several frames for one difference (VidDiff shows 3 frames 0.35 s apart for multi-frame
    differences) has localised it if any shown frame is at the key moment. Because more frames
    make "nearest" easier, `mean_predicted_frames` is reported beside the distances. Only the
    latest OK record per sample counts, and only closed-mode records: open-mode localisation is
    keyed by the method's own candidate numbers, which name no ground-truth difference.
    """
    by_key = {s.key: s for s in samples}
    dist: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    frames: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    seen_any = False
    for key, rec in latest_records(records).items():
        sample = by_key.get(key)
        if (
            sample is None
            or rec.status != Status.OK
            or rec.localization is None
            or rec.mode != "closed"
        ):
            continue
        seen_any = True
        for dkey, per_video in rec.localization.items():
            for v, name in ((0, "a"), (1, "b")):
                gt = sample.retrieval_frames[v].get(dkey) if sample.retrieval_frames else None
                pred = per_video[v]
                if not gt or not pred:
                    continue
                fps = sample.info.videos[v].fps_original
                d = min(abs(p - gt[0]) for p in pred) / fps
                for bucket in (sample.split, "overall"):
                    for vid in (name, "both"):
                        dist[bucket][vid].append(d)
                        frames[bucket][vid].append(len(pred))
    if not seen_any:
        return None
    buckets = [s for s in _splits_present(samples) if s in dist] + ["overall"]
    return LocalizationMetrics.model_validate(
        {
            "rule": "nearest predicted frame to the first ground-truth frame, "
            "seconds at fps_original",
            "splits": {
                b: {
                    vid: _distance_block(dist[b][vid], frames[b][vid]) for vid in ("a", "b", "both")
                }
                for b in buckets
                if b != "overall"
            },
            "overall": {
                vid: _distance_block(dist["overall"][vid], frames["overall"][vid])
                for vid in ("a", "b", "both")
            },
        }
    )


# ----------------------------------------------------------------------------- order and runs


def order_consistency(
    samples: Sequence[Sample], records: Sequence[PredictionRecord]
) -> OrderConsistency:
    """Position-bias control for --both-orders: answers that survive swapping A and B."""
    forward, backward = latest_records(records, False), latest_records(records, True)
    n = agree = both_right = 0
    for sample in samples:
        fwd, bwd = forward.get(sample.key), backward.get(sample.key)
        for key, label in sample.scored_labels().items():
            n += 1
            p1 = fwd.predictions.get(key) if fwd and fwd.status is Status.OK else None
            p2 = bwd.predictions.get(key) if bwd and bwd.status is Status.OK else None
            a1, a2 = (p1.prediction if p1 else None), (p2.prediction if p2 else None)
            if a1 is not None and a1 == a2:
                agree += 1
                both_right += a1 == label
    return OrderConsistency(
        n=n,
        consistency=agree / n if n else None,
        accuracy_both_orders=both_right / n if n else None,
    )


def judge_open(
    samples: Sequence[Sample], predictions: Predictions, judge: Any, max_workers: int = 8
) -> dict[str, Judgement]:
    """The judge's matching for every sample (vidbench.judge.judge_all)."""
    from vidbench.judge import judge_all

    return judge_all(samples, predictions, judge, max_workers=max_workers)


def oracle_coverage(records: Sequence[PredictionRecord]) -> OracleCoverage | None:
    """For oracle runs (records whose details carry `oracle_fallback`, the MethodOutput
    convention): how many differences had no ground-truth frames in some video, and what the
    method did instead. None for other runs."""
    oracle = [r for r in records if "oracle_fallback" in r.details]
    if not oracle:
        return None
    missing = sorted(
        {
            (r.sample_key, item.split(":")[0])
            for r in oracle
            for item in r.details["oracle_fallback"]
        }
    )
    rules = [r.details.get("oracle_fallback_rule") for r in oracle]
    return OracleCoverage(
        items=sum(len(r.predictions) for r in oracle),
        items_without_ground_truth=len(missing),
        videos_without_ground_truth=sum(len(r.details["oracle_fallback"]) for r in oracle),
        fallback=next((str(rule) for rule in rules if rule), "the method's own frames"),
        missing=[f"{s}:{k}" for s, k in missing],
    )


def score_run_records(
    samples: Sequence[Sample],
    records: Sequence[PredictionRecord],
    mode: str,
    *,
    judge: Any = None,
    both_orders: bool = False,
    max_workers: int = 8,
    judgements: Mapping[str, Judgement] | None = None,
) -> tuple[Metrics, dict[str, Judgement]]:
    """A run's metrics from its records (the latest per sample and order counts), and the open
    set's judgements (empty for closed): scores, localisation, order consistency, usage."""
    forward = list(latest_records(records, False).values())
    predictions = records_to_predictions(forward)
    used: dict[str, Judgement] = {}
    metrics: Metrics
    if mode == "closed":
        metrics = score_closed(samples, predictions, records=forward)
    else:
        if judgements is not None:  # judged before (shards being merged): no call
            used = {s.key: judgements[s.key] for s in samples if s.key in judgements}
        else:
            used = judge_open(samples, predictions, judge, max_workers)
        metrics = score_open(samples, predictions, used, records=forward)
    metrics.localization = score_localization(samples, forward)
    if both_orders and isinstance(metrics, ClosedMetrics):
        metrics.order = order_consistency(samples, records)
    if isinstance(metrics, ClosedMetrics):
        metrics.oracle = oracle_coverage(forward)
    backward = latest_records(records, True).values() if both_orders else []
    for record in [*forward, *backward]:
        metrics.usage.add(record.usage)
    return metrics, used


def item_outcomes(
    samples: Sequence[Sample],
    predictions: Predictions,
    judgements: Mapping[str, Judgement] | None = None,
) -> dict[tuple[str, str], bool]:
    """Right (True) or wrong per scored (sample key, difference key) item, by the rules above:
    closed mode when `judgements` is None, open mode otherwise (what `vidbench compare` pairs)."""
    out: dict[tuple[str, str], bool] = {}
    for s in samples:
        labels = s.scored_labels()
        preds = predictions.get(s.key, {})
        if judgements is None:
            for dkey, label in labels.items():
                pred = preds.get(dkey)
                out[(s.key, dkey)] = pred is not None and pred.prediction == label
        else:
            capped, _ = cap_open_predictions(s, preds)
            items = _open_items(s, capped, judgements.get(s.key))
            out.update({(s.key, dkey): it.correct for dkey, it in zip(labels, items)})
    return out
