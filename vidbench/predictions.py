"""Predictions in, every problem out.

The native file format is one JSON object keyed by sample_key:

    {"fitness_12": {"3": {"description": "...", "prediction": "a"}, ...}, ...}

Closed mode also accepts the shorthand `{"3": "a"}`. The reference code's list format (a JSON
list, one dict of differences per dataset row, aligned by position) is converted, with a warning:
position is all that ties a list entry to a pair, so a list written for another row order scores
silently wrong, which is why the keyed form is the native one.

`load_predictions` never stops at the first problem: a submission is checked completely and every
problem is returned with where it is and how to fix it, so one round trip fixes a file.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench.contracts import (
    DifferencePrediction,
    Mode,
    PredictionRecord,
    Predictions,
    Sample,
    Status,
    latest_records,
    sorted_keys,
)
from vidbench.errors import UserError
from vidbench.untrusted import parse_json, read_text

ANSWERS = ("a", "b")
MAX_LISTED_PROBLEMS = 50  # a UserError lists this many, then says how many more there are
# Per source of problems (unknown sample keys, one sample's difference keys) at most this many are
# kept, then one line counts the rest: a hostile 30 MB file cannot make millions of objects.
MAX_PROBLEMS_PER_SOURCE = 200
# The whole benchmark's open-set predictions with long descriptions are ~10 MB.
MAX_FILE_BYTES = 32 * 1024**2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a predictions file: where it is, what is wrong, how to fix it."""

    where: str
    what: str
    fix: str
    count: int = 1  # a line standing for many problems of one kind (see _Capped)

    def render(self) -> str:
        return f"{self.where}: {self.what} ({self.fix})"


class _Capped:
    """Collects one source's problems (a file's unknown sample keys, one sample's differences)
    into `problems`, at most MAX_PROBLEMS_PER_SOURCE of them, then counts the rest in one line."""

    def __init__(self, problems: list[Problem], where: str):
        self.problems, self.where = problems, where
        self.kept = self.skipped = 0

    def append(self, problem: Problem) -> None:
        if self.kept < MAX_PROBLEMS_PER_SOURCE:
            self.problems.append(problem)
            self.kept += 1
        else:
            self.skipped += 1

    def close(self) -> None:
        if self.skipped:
            self.problems.append(
                Problem(
                    self.where,
                    f"{self.skipped:,} more problem(s) of this kind not listed",
                    "fix the listed ones; the rest are probably the same mistake",
                    count=self.skipped,
                )
            )


class _Obj(dict):
    """A decoded JSON object that remembers keys it saw more than once (json keeps the last)."""

    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj(pairs)
    counts = Counter(k for k, _ in pairs)
    obj.duplicates = sorted(k for k, c in counts.items() if c > 1)
    return obj


def cap_open_predictions(
    sample: Sample, preds: Mapping[str, DifferencePrediction]
) -> tuple[dict[str, DifferencePrediction], list[str]]:
    """Keep at most the sample's max_differences predictions (first in key order); return
    (kept, dropped).

    The reference scorer never enforced the cap, so a method could raise recall by listing more
    differences; here the extra ones are simply never shown to the judge.
    """
    keys = sorted_keys(preds)
    limit = max(0, sample.info.max_differences)
    return {k: preds[k] for k in keys[:limit]}, keys[limit:]


def _where(sample_key: str, diff_key: str | None = None) -> str:
    if diff_key is None:
        return f"sample {_short(sample_key)}"
    return f"sample {_short(sample_key)} difference {_short(diff_key)}"


def _short(value: Any, limit: int = 60) -> str:
    """repr for a message, cut: a key or answer can be megabytes in a hostile file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _read(path_or_obj: Any) -> tuple[Any, str, list[Problem]]:
    """Decode the input; returns (data, a name for messages, problems). data None = unusable.
    Files are untrusted: size, encoding, nesting and number limits (vidbench.untrusted)."""
    if isinstance(path_or_obj, (str, os.PathLike)):
        path = Path(path_or_obj)
        name = str(path)
        try:
            text = read_text(path, "predictions file", MAX_FILE_BYTES)
            data = parse_json(text, name, pairs_hook=_pairs_hook)
        except UserError as exc:
            problem = Problem(exc.where or name, exc.what, exc.fix or "fix the file and retry")
            return None, name, [problem]
    else:
        data, name = path_or_obj, "predictions"
    if data is None:
        problem = Problem(name, "the file holds null", "write an object keyed by sample_key")
        return None, name, [problem]
    return data, name, []


def _list_to_keyed(
    data: list[Any], samples: Sequence[Sample], name: str
) -> tuple[dict[str, Any], list[Problem], list[str]]:
    """The reference list format: entry i belongs to samples[i]."""
    problems: list[Problem] = []
    warnings = [
        f"{name}: list format aligned to the samples by position only (entry i = the i-th "
        "sample in dataset order); a list written for another order or subset scores "
        "wrongly. Prefer an object keyed by sample_key."
    ]
    if len(data) != len(samples):
        problems.append(
            Problem(
                name,
                f"list has {len(data)} entries but there are {len(samples)} samples",
                "write one entry per sample, in "
                "dataset order, or use an object keyed by sample_key",
            )
        )
    keyed: dict[str, Any] = {}
    for sample, entry in zip(samples, data):
        keyed[sample.key] = entry
    return keyed, problems, warnings


def _parse_closed_value(value: Any, where: str, odd: list[Problem]) -> DifferencePrediction:
    if isinstance(value, Mapping):
        answer = value.get("prediction")
        description = value.get("description") or ""
        if not isinstance(description, str):
            description = str(description)
    else:
        answer, description = value, ""
    if answer not in ANSWERS:
        odd.append(_odd_answer(where, answer))
        answer = None
    return DifferencePrediction(description, answer)


def _odd_answer(where: str, answer: Any) -> Problem:
    """An answer other than a/b: wrong, as the reference scores it (a problem under --strict)."""
    return Problem(
        where,
        f"prediction is {_short(answer)}, not 'a' or 'b': scored as wrong",
        'use "a" or "b" (or leave the difference out: it counts as wrong)',
    )


def _parse_open_value(
    value: Any, where: str, problems: _Capped, odd: list[Problem]
) -> DifferencePrediction:
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                where,
                f"expected an object, got {type(value).__name__}",
                'write {"description": "...", "prediction": "a" or "b"}',
            )
        )
        return DifferencePrediction("", None)
    description, answer = value.get("description"), value.get("prediction")
    if not isinstance(description, str) or not description.strip():
        problems.append(
            Problem(
                where,
                "empty or missing description",
                "give each predicted difference a non-empty description",
            )
        )
        description = description if isinstance(description, str) else ""
    if answer not in ANSWERS:
        odd.append(_odd_answer(where, answer))
        answer = None
    return DifferencePrediction(description, answer)


def _check_sample(
    sample: Sample,
    entry: Any,
    mode: Mode,
    problems: list[Problem],
    odd: list[Problem],
) -> tuple[dict[str, DifferencePrediction], int]:
    """Parse one sample's entry; returns (predictions, number of askable differences left out).
    Answers other than a/b go to `odd` (warnings, or problems under --strict)."""
    capped = _Capped(problems, _where(sample.key))
    try:
        return _check_entry(sample, entry, mode, capped, odd)
    finally:
        capped.close()


def _check_entry(
    sample: Sample, entry: Any, mode: Mode, problems: _Capped, odd: list[Problem]
) -> tuple[dict[str, DifferencePrediction], int]:
    key = sample.key
    if not isinstance(entry, Mapping):
        problems.append(
            Problem(
                _where(key),
                f"expected an object of differences, got {type(entry).__name__}",
                "map difference keys to predictions",
            )
        )
        return {}, 0
    for dup in getattr(entry, "duplicates", []):
        problems.append(
            Problem(
                _where(key, dup),
                "difference key appears more than once",
                "keep one prediction per difference key",
            )
        )
    out: dict[str, DifferencePrediction] = {}
    if mode == "closed":
        asked = sample.closed_statements()
        for dkey in sorted_keys(str(k) for k in entry):
            where = _where(key, dkey)
            diff = sample.differences.get(dkey)
            if diff is None:
                problems.append(
                    Problem(where, "unknown difference key", f"use one of {sorted_keys(asked)}")
                )
                continue
            if dkey not in asked:
                problems.append(
                    Problem(
                        where,
                        "this difference has a null label (or no statement) and is not asked",
                        "remove it",
                    )
                )
                continue
            out[dkey] = _parse_closed_value(entry[dkey], where, odd)
        return out, len(set(asked) - set(out))
    limit = sample.info.max_differences
    # Parsing stops a little past the limit: a million keys must not make a million objects.
    for dkey in sorted_keys(str(k) for k in entry)[: limit + MAX_PROBLEMS_PER_SOURCE]:
        out[dkey] = _parse_open_value(entry[dkey], _where(key, dkey), problems, odd)
    if len(entry) > limit:
        problems.append(
            Problem(
                _where(key),
                f"{len(entry)} differences predicted, more than this "
                f"pair's limit n_differences_open_prediction = "
                f"{sample.info.max_differences}",
                f"keep at most {sample.info.max_differences} differences",
            )
        )
    return out, 0


def load_submission(
    path_or_obj: str | os.PathLike[str] | Mapping[str, Any] | list[Any],
    samples: Sequence[Sample],
    mode: Mode,
    strict: bool = False,
) -> tuple[Predictions, list[Problem], list[str], str]:
    """Read and check predictions for `samples`; returns (predictions, problems, warnings,
    format) where format is "keyed" (the native form) or "list" (the reference's).

    An answer other than a/b ('c', null, 'A', ...) is scored as wrong, as the reference scorer
    does, and listed as a warning (up to MAX_LISTED_PROBLEMS, then a count); `strict` makes each
    one a problem instead.

    `path_or_obj` is a JSON file path or already-decoded JSON. Every problem is listed: malformed
    JSON (with line and column), unknown / duplicate / missing sample keys; closed mode: unknown or
    unasked difference keys; open mode: empty descriptions, more differences than the pair's
    max_differences. Predictions that could
    be read are returned even when there are problems (answers that are not a/b become None,
    i.e. wrong).
    """
    data, name, problems = _read(path_or_obj)
    warnings: list[str] = []
    if data is None:
        return {}, problems, warnings, "unreadable"
    fmt = "list" if isinstance(data, list) else "keyed"
    if isinstance(data, list):
        data, more, warnings = _list_to_keyed(data, samples, name)
        problems.extend(more)
    elif not isinstance(data, Mapping):
        problems.append(
            Problem(
                name,
                f"top level is a JSON {type(data).__name__}",
                "write an object keyed by sample_key",
            )
        )
        return {}, problems, warnings, fmt

    by_key = {s.key: s for s in samples}
    top = _Capped(problems, name)
    for dup in getattr(data, "duplicates", []):
        top.append(
            Problem(_where(dup), "sample key appears more than once", "keep one entry per sample")
        )
    unknown = sorted(k for k in data if k not in by_key)
    for key in unknown:
        top.append(
            Problem(
                _where(key),
                "unknown sample key (not in the evaluated samples)",
                "remove it, or check the dataset revision and split",
            )
        )
    top.close()

    predictions: Predictions = {}
    odd: list[Problem] = []
    left_out = 0
    for sample in samples:
        if sample.key not in data:
            problems.append(
                Problem(
                    _where(sample.key),
                    "no predictions for this sample",
                    "add it (an empty object counts every difference wrong)",
                )
            )
            continue
        predictions[sample.key], missing = _check_sample(
            sample, data[sample.key], mode, problems, odd
        )
        left_out += missing
    if left_out:
        warnings.append(f"{left_out} asked differences have no prediction; they count as wrong")
    if strict:
        problems.extend(odd)
    else:
        warnings += [p.render() for p in odd[:MAX_LISTED_PROBLEMS]]
        if len(odd) > MAX_LISTED_PROBLEMS:
            warnings.append(
                f"... and {len(odd) - MAX_LISTED_PROBLEMS} more answers other than a/b "
                "(scored as wrong)"
            )
    return predictions, problems, warnings, fmt


def load_predictions(
    path_or_obj: str | os.PathLike[str] | Mapping[str, Any] | list[Any],
    samples: Sequence[Sample],
    mode: Mode,
    strict: bool = False,
) -> tuple[Predictions, list[Problem], list[str]]:
    """`load_submission` without the format: (predictions, problems, warnings)."""
    predictions, problems, warnings, _ = load_submission(path_or_obj, samples, mode, strict)
    return predictions, problems, warnings


def count_problems(problems: Iterable[Problem]) -> int:
    """How many problems there are, counting those a summary line stands for."""
    return sum(p.count for p in problems)


def validate_or_raise(
    path_or_obj: str | os.PathLike[str] | Mapping[str, Any] | list[Any],
    samples: Sequence[Sample],
    mode: Mode,
    strict: bool = False,
) -> tuple[Predictions, list[str]]:
    """`load_predictions`, raising one UserError that lists every problem (`vidbench score`)."""
    predictions, problems, warnings = load_predictions(path_or_obj, samples, mode, strict)
    if problems:
        shown = [p.render() for p in problems[:MAX_LISTED_PROBLEMS]]
        if len(problems) > MAX_LISTED_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
        name = str(path_or_obj) if isinstance(path_or_obj, (str, os.PathLike)) else "predictions"
        raise UserError(
            f"{count_problems(problems):,} problem(s) in the {mode}-set predictions:\n    "
            + "\n    ".join(shown),
            where=name,
            fix="fix every listed entry and run `vidbench score` again",
        )
    return predictions, warnings


def records_to_predictions(
    records: Iterable[PredictionRecord], swapped: bool = False
) -> Predictions:
    """Predictions of a run folder: only records with status OK give predictions.

    A failed sample is simply absent, so the scorer counts its differences wrong (strict). The
    log is append-only and a retry appends, so the last record of a sample wins. `swapped`
    selects the B/A pass of --both-orders (its predictions are already mapped back to A/B).
    """
    return {
        key: dict(rec.predictions)
        for key, rec in latest_records(records, swapped).items()
        if rec.status == Status.OK
    }
