"""Property-based fuzzing (hypothesis) of the two readers of untrusted files: the predictions
validator/scorer and the run-folder reader (score, eval --resume, leaderboard). Whatever the
bytes, the answer is exit 0 or exit 2 with a message, never a traceback. Bounded to well under a
minute."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from vidbench.dataset import load_benchmark

# CI runs a fixed, small set; VIDBENCH_FUZZ_EXAMPLES=2000 explores (randomly) for longer.
EXAMPLES = int(os.environ.get("VIDBENCH_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 40,
    deadline=None,
    derandomize=not EXAMPLES,  # the same examples in CI every time: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ODD_KEYS = ["0", "1", "²", "٣", "-1", "01", " 3", "1e3", "", "\x00", "🙂", "9" * 5000]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(ODD_KEYS), children, max_size=4)
    ),
    max_leaves=16,
)


@pytest.fixture(scope="module")
def sample_keys() -> list[str]:
    return [s.key for s in load_benchmark("demo").samples]


def _prediction_files(keys: list[str]) -> st.SearchStrategy[bytes]:
    answer = st.sampled_from(["a", "b", "c", "A", "", None, 1]) | json_values
    entry = answer | st.fixed_dictionaries(
        {"description": json_values, "prediction": answer}, optional={"extra": json_values}
    )
    per_sample = st.dictionaries(st.sampled_from(ODD_KEYS) | st.text(max_size=4), entry)
    keyed = st.dictionaries(st.sampled_from(keys) | st.text(max_size=10), per_sample, max_size=6)
    structured = (keyed | st.lists(per_sample, max_size=4) | json_values).map(
        lambda v: json.dumps(v).encode()
    )
    hostile = st.sampled_from(
        [
            b"null",
            b"\xff\xfe\x00{",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"x": ' + b"9" * 10_000 + b"}",
            b'{"a": NaN}',
            b"",
            '{"\u00b2": {"\u00b2": "a"}}'.encode(),
            json.dumps({"x": {"²": "a"}}, ensure_ascii=False).encode(),
        ]
    )
    return structured | hostile | st.binary(max_size=200)


def _check(res) -> None:
    assert res.code in (0, 2), (res.code, res.err[-2000:])
    assert "Traceback" not in res.err
    if res.code == 2:
        # Status lines ("vidbench: loading ...") may come first; the message itself follows them.
        message = [line for line in res.err.splitlines() if not line.startswith("vidbench: ")]
        assert message and message[0].startswith(("error:", "problem:", "warning:")), res.err[:500]


@given(data=st.data())
@FUZZ
def test_validator_never_tracebacks(capsys, sample_keys, data):
    content = data.draw(_prediction_files(sample_keys))
    mode = data.draw(st.sampled_from(["closed", "open"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preds.json"
        path.write_bytes(content)
        _check(run_cli(capsys, "validate", str(path), "--mode", mode))
        if mode == "closed":  # open mode would call the judge
            _check(run_cli(capsys, "score", str(path), "--mode", mode))


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("fuzz-runs")
    import sys

    from vidbench.cli import main  # noqa: F401  (import once, outside the timed examples)

    old = sys.argv
    sys.argv = ["vidbench", "eval", "--method", "random", "--limit", "3", "--runs-dir", str(runs)]
    sys.argv += ["--no-progress"]
    try:
        main()
    except SystemExit:
        pass
    finally:
        sys.argv = old
    return next(p for p in runs.iterdir() if not p.name.startswith("."))


def _encoded(value) -> bytes:
    return json.dumps(value).encode()


def _line(value) -> bytes:
    return b"\n" + json.dumps(value).encode()


RUN_FILES = ["config.json", "manifest.json", "metrics.json", "predictions.jsonl"]


@given(data=st.data())
@FUZZ
def test_run_folder_reader_never_tracebacks(capsys, run_folder, data):
    name = data.draw(st.sampled_from(RUN_FILES))
    original = (run_folder / name).read_bytes()
    how = data.draw(st.sampled_from(["replace", "mutate", "truncate", "append", "delete"]))
    if how == "replace":
        content = data.draw(st.binary(max_size=100) | json_values.map(_encoded))
    elif how == "mutate":
        at = data.draw(st.integers(0, max(len(original) - 1, 0)))
        content = original[:at] + data.draw(st.binary(min_size=1, max_size=8)) + original[at + 1 :]
    elif how == "truncate":
        content = original[: data.draw(st.integers(0, len(original)))]
    else:
        content = original + data.draw(st.binary(max_size=50) | json_values.map(_line))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / run_folder.name
        shutil.copytree(run_folder, run)
        if how == "delete":
            (run / name).unlink()
        else:
            (run / name).write_bytes(content)
        _check(run_cli(capsys, "score", str(run)))
        _check(run_cli(capsys, "eval", "--resume", str(run), "--no-progress"))
        _check(run_cli(capsys, "leaderboard", str(run), "--out-dir", str(Path(tmp) / "lb")))
