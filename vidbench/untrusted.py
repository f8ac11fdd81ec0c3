"""Reading files vidbench did not write itself, or that may be damaged: prediction files, run
folders, leaderboard inputs. Every way such a file can be malformed (too big, not UTF-8, not JSON,
nested too deep, numbers too long, the wrong kind of value) becomes a UserError naming the file
and the place (exit 2), never a traceback. Limits are far above anything vidbench writes: the
full benchmark's predictions are < 1 MB, its deepest record 6 levels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidbench.errors import UserError

MAX_FILE_BYTES = 256 * 1024**2
MAX_DEPTH = 48
MAX_NUMBER_CHARS = 40  # digits of an int / characters of a float literal (~1e308 needs 5)
MAX_PROBLEMS_SHOWN = 50


def _number(kind: type, limit: int = MAX_NUMBER_CHARS) -> Any:
    def parse(text: str) -> Any:
        if len(text) > limit:
            raise ValueError(f"a number of {len(text):,} characters (the limit is {limit})")
        return kind(text)

    return parse


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_text(path: Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's text, refused when it is missing, not a regular file, too big or not UTF-8."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UserError(f"{what} {path} is not a regular file")
        if size > max_bytes:
            raise UserError(
                f"{what} {path} is {size:,} bytes, over the limit of {max_bytes:,}",
                fix="check that this is the right file",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte {exc.start:,}, line {line})",
            fix="save the file as UTF-8 JSON",
        ) from None


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a decoded JSON value (1 for a scalar), counting no further than limit+1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(text: str, where: str, pairs_hook: Any = None) -> Any:
    """Decode JSON with limits on nesting and number size; NaN and Infinity are refused."""
    try:
        value = json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_constant,
            object_pairs_hook=pairs_hook,
        )
    except json.JSONDecodeError as exc:
        raise UserError(
            f"malformed JSON: {exc.msg}",
            where=f"{where} line {exc.lineno} column {exc.colno}",
            fix="fix the JSON syntax at that position",
        ) from None
    except RecursionError:
        raise UserError(f"{where} is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise UserError(f"{where} holds {exc}") from None
    if depth_of(value) > MAX_DEPTH:
        raise UserError(f"{where} is nested deeper than {MAX_DEPTH} levels")
    return value


def load_json(path: Path, what: str, expect: type = dict, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """A whole JSON file whose top level must be `expect` (an object by default, never null)."""
    value = parse_json(read_text(path, what, max_bytes), f"{what} {path}")
    if not isinstance(value, expect):
        raise UserError(
            f"{what} {path} holds {json_kind(value)}, expected {json_kind(expect())}",
        )
    return value


def iter_json_lines(path: Path, what: str) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value or the UserError saying why not) per non-blank line; a
    caller decides whether a bad line (e.g. torn by a crash) is fatal."""
    text = read_text(path, what)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, parse_json(line, f"{what} {path} line {number}")
        except UserError as exc:
            yield number, exc


def json_kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def capped(problems: list[str], cap: int = MAX_PROBLEMS_SHOWN) -> list[str]:
    """The first `cap` problems plus one line counting the rest (a 50 MB file of mistakes must
    not print millions of lines)."""
    if len(problems) <= cap:
        return problems
    return [*problems[:cap], f"... and {len(problems) - cap:,} more problem(s) not shown"]
