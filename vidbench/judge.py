"""The open-set LLM judge: match predicted difference statements to ground-truth ones.

Two protocols, chosen with `--judge-protocol`:

`paper` (default, `PaperJudge`): the paper's two steps. gpt-4o-2024-08-06 matches each
ground-truth statement to the predicted statement describing a visually similar difference
("even if the word choices differ"), or none; then gpt-4o-mini checks each matched pair for direct
opposites, six pairs per call. Temperature 1 and seed 0, as the reference ran them. Batches are
formed within one sample (the reference batched across samples in dataset order), so a sample's
judgement stays one cacheable unit.

`single` (`Judge`): one call per sample does both steps: it proposes, for every ground-truth
statement, the predicted statement that describes the same difference (or none), and, for each
proposed pair, whether the two are direct opposites ("wider" vs "narrower"). One call instead of
two halves the cost and keeps a sample's judgement a single cached reply; temperature 0. The
scorer flips the predicted direction of an opposite pair, whichever protocol judged.

The judge proposes, the code disposes. Its reply is normalised deterministically:
- proposals naming a ground-truth or predicted key that was never shown are dropped;
- proposals are taken in ground-truth key numeric order; the first to claim a prediction keeps
  it, later claims on the same prediction become unmatched (the reference scorer's duplicate
  check compared a value with itself, so one prediction could be credited several times);
- a ground-truth key proposed twice keeps its first proposal; one not proposed is unmatched.
Everything dropped is logged in `Judgement.dropped`.

The judge sees statements only: never labels, never predicted directions. With `single`,
temperature 0 and a pinned, dated model make judgements reproducible without the cache; the
paper's protocol runs at temperature 1 (as published), so only the cache makes it repeatable.
A sample whose judge call fails after the client's retries and re-ask becomes a `judge_failure`
judgement (all its ground-truth items unmatched, counted in the metrics); it never aborts the
evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

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
from vidbench.secrets import redact

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
PAPER_OPPOSITE_MODEL = "gpt-4o-mini"  # the reference names the undated alias
PAPER_BATCH_SIZE = 6
JUDGE_PROTOCOLS: tuple[str, ...] = ("paper", "single")
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


def normalise_reply(
    data: Any, gt_keys: Iterable[str], pred_keys: Iterable[str], with_opposite: bool = True
) -> _Parsed:
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
        fields = ("gt_key", "pred_key", "opposite") if with_opposite else ("gt_key", "pred_key")
        missing = [f for f in fields if f not in item]
        if missing:
            raise ValueError(f"matches[{i}] lacks {', '.join(missing)}")
        gt, pred, opp = item["gt_key"], item["pred_key"], item.get("opposite", False)
        if isinstance(gt, int) and not isinstance(gt, bool):
            gt = str(gt)  # a bare number for a numeric key is unambiguous
        if isinstance(pred, int) and not isinstance(pred, bool):
            pred = str(pred)
        if pred == "None":  # the paper's matching prompt spells "no match" as the string None
            pred = None
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
        pool, kept, dropped, empty = _prepare(sample, preds, self.model)
        if empty is not None:
            return empty
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
            return _failed(sample, sorted_keys(pool), exc, self.model, session, [], dropped)
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


def _prepare(
    sample: Sample, preds: Mapping[str, DifferencePrediction], model: str
) -> tuple[dict[str, str], dict[str, DifferencePrediction], list[str], Judgement | None]:
    """The pool, the predictions shown (capped, non-empty) and what was dropped; a finished
    all-unmatched Judgement when there is nothing to match (no call is made then)."""
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
    if kept and pool:
        return pool, kept, dropped, None
    unmatched: dict[str, str | None] = {k: None for k in sorted_keys(pool)}
    empty = Judgement(
        sample_key=sample.key,
        status="ok",
        matches=unmatched,
        opposite={k: False for k in unmatched},
        dropped=dropped,
        model=model,
    )
    return pool, kept, dropped, empty


# ---------------------------------------------------------------- the paper's two-step protocol

PAPER_MATCH_PROMPT = """\
Two people performed the same action, described as "{action}". A "difference" is a way the two
performances can differ visibly; each is written as a statement that may apply more to one person
than to the other.

Reference statements (G), by key:
{reference}

Candidate statements (P), by key:
{candidates}

Match the statements of G to those of P. For each key of G, pick the key of P whose statement
describes a visually similar difference, even if the words differ, or "None" if no statement of P
does. Use each key of P at most once. Reply with JSON: {{"matches": [{{"gt_key": ..., "pred_key":
...}}, ...]}}, one entry for each of the G keys {gt_keys}; pred_key is one of {pred_keys} or
"None"."""

PAPER_MATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"gt_key": {"type": "string"}, "pred_key": {"type": "string"}},
                "required": ["gt_key", "pred_key"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["matches"],
    "additionalProperties": False,
}

PAPER_OPPOSITE_PROMPT = """\
Below are pairs of statements, as a list of [first, second]. For each pair, decide how the two
relate: "1" if they are direct opposites (for example "X is bigger than Y" and "X is smaller than
Y"); "0" if they say the same thing or nearly so, including when they differ only in degree or
detail (for example "X is much bigger than Y" and "X is slightly bigger than Y").

{pairs}

Reply with JSON: {{"results": [...]}}, one "0" or "1" per pair, in order, exactly {n} values."""

PAPER_OPPOSITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"results": {"type": "array", "items": {"type": "string", "enum": ["0", "1"]}}},
    "required": ["results"],
    "additionalProperties": False,
}


def parse_opposites(data: Any, n: int) -> list[bool]:
    """The opposite check's reply: exactly `n` values, each "0" or "1" (ValueError otherwise)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
        raise ValueError('the reply must be an object with a "results" list')
    values = [str(v) for v in data["results"]]
    if len(values) != n:
        raise ValueError(f'"results" must hold exactly {n} values, got {len(values)}')
    if any(v not in ("0", "1") for v in values):
        raise ValueError('every value of "results" must be "0" or "1"')
    return [v == "1" for v in values]


def _opposite_parser(n: int) -> Callable[[Any], list[bool]]:
    return lambda data: parse_opposites(data, n)


class PaperJudge:
    """The paper's judge: a matching call, then opposite checks in batches of `batch_size` pairs
    (pairs in ground-truth key order). `params` go to every call; temperature 1 and seed 0
    unless overridden."""

    protocol = "paper"

    def __init__(
        self,
        session_factory: Callable[[], LLMSession],
        model: str = DEFAULT_JUDGE_MODEL,
        opposite_model: str = PAPER_OPPOSITE_MODEL,
        batch_size: int = PAPER_BATCH_SIZE,
        **params: Any,
    ):
        self.session_factory = session_factory
        self.model, self.opposite_model, self.batch_size = model, opposite_model, batch_size
        self.params = {"temperature": 1, "seed": 0, **params}

    def match(self, sample: Sample, preds: Mapping[str, DifferencePrediction]) -> Judgement:
        pool, kept, dropped, empty = _prepare(sample, preds, self.model)
        if empty is not None:
            return empty
        gt_keys, pred_keys = sorted_keys(pool), sorted_keys(kept)
        prompt = PAPER_MATCH_PROMPT.format(
            action=sample.info.action_description,
            reference=json.dumps({k: pool[k] for k in gt_keys}, ensure_ascii=False),
            candidates=json.dumps({k: kept[k].description for k in pred_keys}, ensure_ascii=False),
            gt_keys=json.dumps(gt_keys),
            pred_keys=json.dumps(pred_keys),
        )
        session = self.session_factory()
        replies: list[Any] = []
        try:
            parsed = session.complete_json(
                self.model,
                [{"role": "user", "content": prompt}],
                PAPER_MATCH_SCHEMA,
                lambda data: normalise_reply(data, pool, kept, with_opposite=False),
                **self.params,
            )
            replies.append(parsed.raw)
            pairs = [(gt, pred) for gt, pred in parsed.matches.items() if pred is not None]
            opposite = {gt: False for gt in parsed.matches}
            for start in range(0, len(pairs), self.batch_size):
                batch = pairs[start : start + self.batch_size]
                listing = json.dumps(
                    [[pool[gt], kept[pred].description] for gt, pred in batch], ensure_ascii=False
                )
                flags = session.complete_json(
                    self.opposite_model,
                    [
                        {
                            "role": "user",
                            "content": PAPER_OPPOSITE_PROMPT.format(pairs=listing, n=len(batch)),
                        }
                    ],
                    PAPER_OPPOSITE_SCHEMA,
                    _opposite_parser(len(batch)),
                    **self.params,
                )
                replies.append({"results": ["1" if f else "0" for f in flags]})
                for (gt, _), flag in zip(batch, flags):
                    opposite[gt] = flag
        except SampleFailure as exc:
            return _failed(sample, gt_keys, exc, self.model, session, replies, dropped)
        return Judgement(
            sample_key=sample.key,
            status="ok",
            matches=parsed.matches,
            opposite=opposite,
            replies=replies,
            dropped=dropped + parsed.dropped,
            model=self.model,
            usage=_usage(session),
        )


class SampleJudge(Protocol):
    """What judge_all needs: one sample's predictions -> its Judgement."""

    model: str

    def match(self, sample: Sample, preds: Mapping[str, DifferencePrediction]) -> Judgement: ...


def make_judge(
    protocol: str,
    session_factory: Callable[[], LLMSession],
    model: str | None = None,
    api_base: str | None = None,
) -> SampleJudge:
    """The judge of a protocol; `model` replaces the (matching) model, `api_base` points every
    call at an OpenAI-compatible server."""
    params: dict[str, Any] = {"api_base": api_base} if api_base else {}
    if protocol == "paper":
        return PaperJudge(session_factory, model=model or DEFAULT_JUDGE_MODEL, **params)
    if protocol == "single":
        return Judge(session_factory, model=model or DEFAULT_JUDGE_MODEL, **params)
    raise ValueError(f"unknown judge protocol {protocol!r}; known: {', '.join(JUDGE_PROTOCOLS)}")


def judge_models(protocol: str, model: str | None) -> list[str]:
    """The models a protocol calls (for the credential check)."""
    first = model or DEFAULT_JUDGE_MODEL
    return [first, PAPER_OPPOSITE_MODEL] if protocol == "paper" else [first]


def judge_label(protocol: str, model: str | None) -> str:
    """How a run's manifest names its judge: the model, and for the paper's protocol both."""
    models = judge_models(protocol, model)
    return f"paper: {' + '.join(models)}" if protocol == "paper" else models[0]


def _failed(
    sample: Sample,
    gt_keys: Sequence[str],
    exc: SampleFailure,
    model: str,
    session: LLMSession,
    replies: list[Any],
    dropped: list[str],
) -> Judgement:
    """A judge that failed for good: every reference statement unmatched (so counted wrong), the
    error and whatever replies came before it kept, for either protocol."""
    return Judgement(
        sample_key=sample.key,
        status="judge_failure",
        matches={k: None for k in gt_keys},
        opposite={k: False for k in gt_keys},
        replies=replies,
        dropped=dropped,
        error=f"{type(exc).__name__}: {exc}",
        model=model,
        usage=_usage(session),
    )


def _usage(session: LLMSession) -> Usage:
    usage = getattr(session, "usage", None)
    return usage if isinstance(usage, Usage) else Usage()


def judge_all(
    samples: Sequence[Sample],
    predictions: Mapping[str, Mapping[str, DifferencePrediction]],
    judge: SampleJudge,
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
            fh.write(json.dumps(redact(j.model_dump(mode="json")), ensure_ascii=False) + "\n")


def read_judgements(path: Any) -> dict[str, Judgement]:
    """judgements.jsonl back; a line that does not fit is a UserError naming line and field."""
    from pydantic import ValidationError

    from vidbench.errors import UserError
    from vidbench.runs import describe_validation_error
    from vidbench.untrusted import read_text

    items = []
    for n, line in enumerate(read_text(Path(path), "judgements file").splitlines(), 1):
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
    "JUDGE_PROTOCOLS",
    "Judge",
    "PaperJudge",
    "make_judge",
    "judge_models",
    "Judgement",
    "judge_all",
    "judge_pool",
    "normalise_reply",
    "read_judgements",
    "write_judgements",
]
