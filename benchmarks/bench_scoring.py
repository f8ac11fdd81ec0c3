"""Scoring at full benchmark size, on synthetic data: is `vidbench score` fast enough to rerun?

549 pairs with about 8 labelled differences each (about half 'c'), split mix as in the release
(about 357 / 1,227 / 871 scored a/b items in easy / medium / hard).

1. closed: write a predictions JSON file, then time load + validate + score (with Wilson and
   2,000-resample cluster bootstrap intervals) end to end;
2. open: fill a fresh cache by judging every pair once through the real LLMClient against the
   loopback OpenAI-compatible test server (not timed), then time judging again with every reply
   served from the cache, plus scoring.

Target: under 2 s each. Run: .venv/bin/python benchmarks/bench_scoring.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key-000")

from tests.openai_server import OpenAIServer  # noqa: E402
from vidbench.cache import Cache  # noqa: E402
from vidbench.contracts import (  # noqa: E402
    ClosedMetrics,
    Difference,
    DifferencePrediction,
    OpenMetrics,
    Sample,
    SampleInfo,
    VideoRef,
)
from vidbench.judge import Judge, judge_all  # noqa: E402
from vidbench.llm import LLMClient  # noqa: E402
from vidbench.predictions import validate_or_raise  # noqa: E402
from vidbench.scoring import score_closed, score_open  # noqa: E402

TARGET_S = 2.0
MODEL = "openai/judge-bench"
# Pairs per split and actions, chosen so scored a/b items land near 357 / 1,227 / 871.
PLAN = {
    "easy": (78, ["fitness_0", "fitness_3", "fitness_4", "fitness_6"]),
    "medium": (280, ["ballsports_0", "ballsports_1", "diving_0", "fitness_1", "fitness_7"]),
    "hard": (191, ["music_0", "music_1", "surgery_0", "surgery_1", "surgery_2"]),
}


def synthetic_samples(seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for split, (n_pairs, actions) in PLAN.items():
        for i in range(n_pairs):
            action = actions[i % len(actions)]
            labels: dict[str, str | None] = {}
            for k in rng.sample(range(30), 10):  # non-contiguous keys, as in the release
                labels[str(k)] = rng.choices(["a", "b", "c", None], [23, 22, 35, 20])[0]
            n_labelled = sum(v is not None for v in labels.values())
            info = SampleInfo(
                f"{action}_{i}",
                action,
                action,
                "an action",
                action.split("_")[0],
                split,
                "synthetic",
                i,
                (VideoRef("a", 30.0), VideoRef("b", 30.0)),
                max_differences=-(-3 * n_labelled // 2),
            )
            diffs = {
                k: Difference(k, v, f"n{k}", f"difference {k} of {action} pair {i}")
                for k, v in labels.items()
            }
            samples.append(Sample(info, diffs))
    return samples


def closed_file(samples: list[Sample], path: Path, seed: int = 1) -> None:
    rng = random.Random(seed)
    data = {s.key: {k: rng.choice("ab") for k in s.closed_statements()} for s in samples}
    path.write_text(json.dumps(data))


def open_predictions(
    samples: list[Sample], seed: int = 2
) -> dict[str, dict[str, DifferencePrediction]]:
    rng = random.Random(seed)
    out = {}
    for s in samples:
        keys = list(s.closed_statements())
        rng.shuffle(keys)
        out[s.key] = {
            str(i): DifferencePrediction(
                f"difference {k} of {s.action} pair {s.key.rsplit('_', 1)[1]}", rng.choice("ab")
            )
            for i, k in enumerate(keys[: s.info.max_differences])
        }
    return out


def judge_reply(body: dict) -> str:
    """A plausible judge: match equal statements, with some duplicate claims and opposites."""
    user = body["messages"][1]["content"]
    gt = json.loads(user.split("G (reference statements):\n", 1)[1].split("\n\nP (", 1)[0])
    pred = json.loads(user.split("P (predicted statements):\n", 1)[1])
    by_text = {v: k for k, v in pred.items()}
    matches = []
    for i, (k, text) in enumerate(gt.items()):
        p = by_text.get(text)
        if p is None and i % 4 == 0 and pred:
            p = next(iter(pred))  # a duplicate claim the code must drop
        matches.append({"gt_key": k, "pred_key": p, "opposite": i % 5 == 0})
    return json.dumps({"matches": matches})


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def report(name: str, seconds: float) -> None:
    print(
        f"{name:<44} {seconds:7.3f} s   target {TARGET_S:.1f} s   ratio {seconds / TARGET_S:5.2f}"
    )


def main() -> None:
    samples = synthetic_samples()
    n_ab = sum(len(s.scored_labels()) for s in samples)
    per_split = {sp: sum(len(s.scored_labels()) for s in samples if s.split == sp) for sp in PLAN}
    print(
        f"{len(samples)} pairs, {sum(len(s.differences) for s in samples)} differences, "
        f"{n_ab} scored a/b items {per_split}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.json"
        closed_file(samples, path)

        def closed() -> ClosedMetrics:
            preds, _ = validate_or_raise(path, samples, "closed")
            return score_closed(samples, preds, n_resamples=2000)

        metrics, seconds = timed(closed)
        report("closed: load + validate + score (2000 boot)", seconds)
        print(f"  average {metrics.average:.3f}  pooled {metrics.pooled:.3f}")

        preds = open_predictions(samples)
        cache = Cache(Path(tmp) / "cache")
        with OpenAIServer() as server:
            server.respond_with(judge_reply)
            fill_client = LLMClient(cache, max_concurrency=16)
            _, fill_s = timed(
                lambda: judge_all(
                    samples,
                    preds,
                    Judge(fill_client.session, model=MODEL, api_base=server.base_url),
                    max_workers=16,
                )
            )
            print(
                f"  (cache fill through the loopback server: {len(server.requests)} requests, "
                f"{fill_s:.1f} s, not timed)"
            )
            served = len(server.requests)

            def open_scoring() -> OpenMetrics:
                client = LLMClient(cache, max_concurrency=16)
                judge = Judge(client.session, model=MODEL, api_base=server.base_url)
                judgements = judge_all(samples, preds, judge, max_workers=8)
                return score_open(samples, preds, judgements, n_resamples=2000)

            metrics, seconds = timed(open_scoring)
            assert len(server.requests) == served, "cached judging made a request"
        report("open: judge (all cached) + score (2000 boot)", seconds)
        print(
            f"  recall average {metrics.average:.3f}  pooled {metrics.pooled:.3f}  "
            f"judge failures {metrics.judge_failures}  "
            f"mean predictions {metrics.mean_predictions:.1f}"
        )


if __name__ == "__main__":
    main()
