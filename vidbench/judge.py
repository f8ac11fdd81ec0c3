"""The open-set LLM judge: match predicted difference statements to ground-truth ones.

One call per sample does both of the paper's judge steps: it proposes, for every ground-truth
statement, the predicted statement that describes the same difference (or none), and, for each
proposed pair, whether the two statements are direct opposites ("wider" vs "narrower"). One call
instead of two halves the cost and keeps a sample's judgement a single cached reply; the scorer
flips the predicted direction of an opposite pair.

The judge proposes, the code disposes. Its reply is normalised deterministically:
- proposals naming a ground-truth or predicted key that was never shown are dropped;
- proposals are taken in ground-truth key numeric order; the first to claim a prediction keeps
  it, later claims on the same prediction become unmatched (the reference scorer's duplicate
  check compared a value with itself, so one prediction could be credited several times);
- a ground-truth key proposed twice keeps its first proposal; one not proposed is unmatched.
Everything dropped is logged in `Judgement.dropped`.

The judge sees statements only: never labels, never predicted directions. Temperature 0 and a
pinned, dated model make judgements reproducible without the cache. A sample whose judge call
fails after the client's retries and re-ask becomes a `judge_failure` judgement (all its
ground-truth items unmatched, counted in the metrics); it never aborts the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from vidbench.contracts import (
    DifferencePrediction,
    Judgement,
    LLMSession,
    Sample,
    Usage,
    sorted_keys,
)
from vidbench.errors import SampleFailure
from vidbench.predictions import cap_open_predictions

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
JudgeStatus = Literal["ok", "judge_failure"]

SYSTEM_PROMPT = """\
You compare two lists of statements about how two videos of the same action differ.
List G holds reference statements; list P holds predicted statements. Each statement names a \
property that one video shows more of than the other; which video is not given.

For every reference statement in G, find the predicted statement in P that describes the same \
property of the action (the same body part, object or aspect, judged the same way), or none. \
Use each predicted statement for at most one reference statement. Statements about different \
properties do not match, even if they are related.

For each match, also say whether the two statements are direct opposites: they name the same \
property in opposite directions (for example "wider stance" vs "narrower stance", "faster" vs \
"slower"). Statements saying the same thing in other words are not opposites.

Reply with JSON: {"matches": [{"gt_key": ..., "pred_key": ... or null, "opposite": true/false}]} \
with one entry per reference statement, using the keys exactly as given."""

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "gt_key": {"type": "string"},
                    "pred_key": {"type": ["string", "null"]},
                    "opposite": {"type": "boolean"},
                },
                "required": ["gt_key", "pred_key", "opposite"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["matches"],
    "additionalProperties": False,
}


def judge_pool(sample: Sample) -> dict[str, str]:
    """Ground-truth statements the judge matches against: every labelled difference, 'c' too.

    'c' items stay in the pool (as in the paper) so a prediction describing a non-difference can
    be absorbed by it instead of being credited to a real one; they are never scored.
    """
    return {
        k: d.description
        for k, d in sample.differences.items()
        if d.label is not None and d.description
    }


@dataclass
class _Parsed:
    """Decoded reply plus its normalised matching (what `parse` hands back to the judge)."""

    raw: Any
    matches: dict[str, str | None]
    opposite: dict[str, bool]
    dropped: list[str]


def normalise_reply(data: Any, gt_keys: Iterable[str], pred_keys: Iterable[str]) -> _Parsed:
    """Validate the reply's structure (ValueError if unusable) and enforce one-to-one matching.

    Structure errors (not an object, no "matches" list, wrong field types) raise ValueError so the
    client re-asks; content errors (invented keys, duplicate claims) are fixed deterministically
    here and logged, because re-asking would not make them reproducible.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("matches"), list):
        raise ValueError('the reply must be an object with a "matches" list')
    proposals: list[tuple[str, str | None, bool]] = []
    for i, item in enumerate(data["matches"]):
        if not isinstance(item, Mapping):
            raise ValueError(f"matches[{i}] must be an object")
        missing = [f for f in ("gt_key", "pred_key", "opposite") if f not in item]
        if missing:
            raise ValueError(f"matches[{i}] lacks {', '.join(missing)}")
        gt, pred, opp = item["gt_key"], item["pred_key"], item["opposite"]
        if isinstance(gt, int) and not isinstance(gt, bool):
            gt = str(gt)  # a bare number for a numeric key is unambiguous
        if isinstance(pred, int) and not isinstance(pred, bool):
            pred = str(pred)
        if not isinstance(gt, str):
            raise ValueError(f"matches[{i}].gt_key must be a string")
        if pred is not None and not isinstance(pred, str):
            raise ValueError(f"matches[{i}].pred_key must be a string or null")
        if not isinstance(opp, bool):
            raise ValueError(f"matches[{i}].opposite must be true or false")
        proposals.append((gt, pred, opp))

    gt_set, pred_set = set(gt_keys), set(pred_keys)
    dropped: list[str] = []
    by_gt: dict[str, tuple[str | None, bool]] = {}
    for gt, pred, opp in proposals:
        if gt not in gt_set:
            dropped.append(f"invented ground-truth key {gt!r} (pred {pred!r})")
        elif gt in by_gt:
            dropped.append(f"second proposal for ground truth {gt!r} (pred {pred!r})")
        elif pred is not None and pred not in pred_set:
            dropped.append(f"invented prediction key {pred!r} for ground truth {gt!r}")
            by_gt[gt] = (None, False)
        else:
            by_gt[gt] = (pred, opp)

    matches: dict[str, str | None] = {}
    opposite: dict[str, bool] = {}
    used: dict[str, str] = {}
    for gt in sorted_keys(gt_set):  # numeric order decides who keeps a doubly-claimed prediction
        pred, opp = by_gt.get(gt, (None, False))
        if pred is not None and pred in used:
            dropped.append(
                f"prediction {pred!r} already matched to ground truth {used[pred]!r}; "
                f"ground truth {gt!r} left unmatched"
            )
            pred, opp = None, False
        if pred is not None:
            used[pred] = gt
        matches[gt] = pred
        opposite[gt] = bool(opp) if pred is not None else False
    return _Parsed(raw=data, matches=matches, opposite=opposite, dropped=dropped)


def build_messages(
    sample: Sample, pool: Mapping[str, str], preds: Mapping[str, DifferencePrediction]
) -> list[dict[str, Any]]:
    """The judge's prompt: the action, the reference statements, the predicted statements."""
    reference = {k: pool[k] for k in sorted_keys(pool)}
    predicted = {k: preds[k].description for k in sorted_keys(preds)}
    user = (
        f"Action: {sample.info.action_description}\n\n"
        f"G (reference statements):\n{json.dumps(reference, indent=1, ensure_ascii=False)}\n\n"
        f"P (predicted statements):\n{json.dumps(predicted, indent=1, ensure_ascii=False)}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class Judge:
    """Matches one sample's open-set predictions to its ground truth through an LLM.

    `session_factory` returns a fresh LLMSession per sample (its usage is that sample's cost);
    `params` go to every call, temperature 0 unless overridden.
    """

    def __init__(
        self,
        session_factory: Callable[[], LLMSession],
        model: str = DEFAULT_JUDGE_MODEL,
        **params: Any,
    ):
        self.session_factory = session_factory
        self.model = model
        self.params = {"temperature": 0, **params}

    def match(self, sample: Sample, preds: Mapping[str, DifferencePrediction]) -> Judgement:
        pool = judge_pool(sample)
        kept, over_cap = cap_open_predictions(sample, preds)
        dropped = [
            f"prediction {k!r} beyond the pair's limit of {sample.info.max_differences}"
            for k in over_cap
        ]
        # Predictions with an empty statement cannot be matched to anything; never shown.
        for k in [k for k, p in kept.items() if not (p.description or "").strip()]:
            dropped.append(f"prediction {k!r} has an empty description")
            del kept[k]
        unmatched: dict[str, str | None] = {k: None for k in sorted_keys(pool)}
        if not kept or not pool:  # nothing to match: no call, everything unmatched
            return Judgement(
                sample_key=sample.key,
                status="ok",
                matches=unmatched,
                opposite={k: False for k in unmatched},
                dropped=dropped,
                model=self.model,
            )

        session = self.session_factory()
        try:
            parsed = session.complete_json(
                self.model,
                build_messages(sample, pool, kept),
                RESPONSE_SCHEMA,
                lambda data: normalise_reply(data, pool, kept),
                **self.params,
            )
        except SampleFailure as exc:
            return Judgement(
                sample_key=sample.key,
                status="judge_failure",
                matches=unmatched,
                opposite={k: False for k in unmatched},
                dropped=dropped,
                error=f"{type(exc).__name__}: {exc}",
                model=self.model,
                usage=_usage(session),
            )
        return Judgement(
            sample_key=sample.key,
            status="ok",
            matches=parsed.matches,
            opposite=parsed.opposite,
            replies=[parsed.raw],
            dropped=dropped + parsed.dropped,
            model=self.model,
            usage=_usage(session),
        )


def _usage(session: LLMSession) -> Usage:
    usage = getattr(session, "usage", None)
    return usage if isinstance(usage, Usage) else Usage()


def judge_all(
    samples: Sequence[Sample],
    predictions: Mapping[str, Mapping[str, DifferencePrediction]],
    judge: Judge,
    max_workers: int = 8,
) -> dict[str, Judgement]:
    """Judge every sample in a thread pool; returns sample_key -> Judgement in sample order.

    A sample without predictions (a failed run sample) is judged with no predictions: no call,
    everything unmatched.
    """

    def one(sample: Sample) -> Judgement:
        return judge.match(sample, predictions.get(sample.key, {}))

    from vidbench import feedback

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        results = list(feedback.bar(pool.map(one, samples), len(samples), "judging", "sample"))
    return {j.sample_key: j for j in results}


def write_judgements(path: Any, judgements: Iterable[Judgement]) -> None:
    """judgements.jsonl: one Judgement per line."""
    with open(path, "w", encoding="utf-8") as fh:
        for j in judgements:
            fh.write(json.dumps(j.model_dump(mode="json"), ensure_ascii=False) + "\n")


def read_judgements(path: Any) -> dict[str, Judgement]:
    """judgements.jsonl back; a line that does not fit is a UserError naming line and field."""
    from pydantic import ValidationError

    from vidbench.errors import UserError
    from vidbench.runs import describe_validation_error

    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(Judgement.model_validate_json(line))
            except ValidationError as exc:
                raise UserError(
                    f"line {n} is not a judgement: {describe_validation_error(exc)}",
                    where=str(path),
                    fix="re-run `vidbench score` on the run folder",
                ) from None
    return {j.sample_key: j for j in items}


__all__ = [
    "DEFAULT_JUDGE_MODEL",
    "Judge",
    "Judgement",
    "judge_all",
    "judge_pool",
    "normalise_reply",
    "read_judgements",
    "write_judgements",
]
