"""Every reader of untrusted input turns malformed input into exit 2 with a message: dataset rows
and files (here), prediction files, run folders and leaderboard inputs."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli
from tests.hub_fixture import make_row, write_hub_folder


def _bad_row(field: str, value):
    row = make_row("fitness_0_bad")
    if field.startswith("videos."):
        videos = json.loads(row["videos"])
        videos[0][field.split(".", 1)[1]] = value
        row["videos"] = json.dumps(videos)
    else:
        row[field] = value
    return row


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("videos", "[" * 50_000 + "]" * 50_000, "nested deeper"),
        ("videos", "[" + "9" * 5000 + "]", "number"),
        ("differences_gt", "null", "should decode to a dict"),
        ("differences_gt", '{"0": NaN}', "NaN"),
        ("videos.frames_trim", ["x", None], "malformed"),
        ("videos.fps_original", {"a": 1}, "malformed"),
        ("videos", json.dumps([1, 2]), "needs a 'path'"),
        ("sample_hash", "not a number", "malformed"),
        ("retrieval_frames", json.dumps(["x", "y"]), "malformed"),
    ],
)
def test_malformed_dataset_rows_are_exit_2(capsys, tmp_path, field, value, needle):
    if field == "sample_hash":
        row = make_row("fitness_0_bad")
        folder = write_hub_folder(tmp_path / "ds", [row])
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = next((folder / "data").glob("*.parquet"))
        table = pq.read_table(file)
        index = table.schema.get_field_index("sample_hash")
        table = table.set_column(index, "sample_hash", pa.array([value]))
        pq.write_table(table, file)
    else:
        folder = write_hub_folder(tmp_path / "ds", [_bad_row(field, value)])
    res = run_cli(capsys, "data", "info", "--dataset", str(folder))
    assert res.code == 2, res.out + res.err
    assert needle in res.err and "Traceback" not in res.err, res.err


def test_a_damaged_parquet_file_is_exit_2(capsys, tmp_path):
    folder = write_hub_folder(tmp_path / "ds", [make_row("fitness_0_x")])
    file = next((folder / "data").glob("*.parquet"))
    file.write_bytes(file.read_bytes()[:200] + b"\0" * 100)
    res = run_cli(capsys, "data", "info", "--dataset", str(folder))
    assert res.code == 2 and "cannot read dataset file" in res.err and "Traceback" not in res.err


# -- prediction files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"null", "holds null"),
        (b"\xff\xfe\x00{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"x": ' + b"9" * 5000 + b"}", "5,000 characters"),
        (b'{"x": NaN}', "NaN"),
        ('{"²": {"²": "a", "٣": "b"}}'.encode(), "unknown sample key"),
        (b"", "malformed JSON"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "score"])
def test_hostile_prediction_files_are_exit_2(capsys, tmp_path, content, needle, command):
    path = tmp_path / "preds.json"
    path.write_bytes(content)
    res = run_cli(capsys, command, str(path), "--mode", "closed")
    assert res.code == 2, res.out
    assert needle in res.err and "Traceback" not in res.err, res.err[-2000:]


def test_odd_difference_keys_are_problems_not_crashes(capsys, tmp_path):
    from vidbench.dataset import load_benchmark

    key = load_benchmark("demo").samples[0].key
    path = tmp_path / "preds.json"
    path.write_text(json.dumps({key: {"²": "a", "9" * 5000: "b", "": "a"}}, ensure_ascii=False))
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 2 and "unknown difference key" in res.err and "Traceback" not in res.err


def test_an_oversized_file_is_refused_before_reading(capsys, tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024**2)  # 50 MB (sparse: no time spent writing it)
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 2 and "over the limit" in res.err and "52,428,800 bytes" in res.err


def test_a_million_problems_are_listed_up_to_a_cap(capsys, tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps({f"nope_{i}": {} for i in range(300_000)}))
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 2
    lines = res.err.splitlines()
    assert len(lines) < 300 and "more problem(s) of this kind not listed" in res.err
    assert "300,000" in res.err or "299,800" in res.err
    res = run_cli(capsys, "score", str(path), "--mode", "closed")
    assert res.code == 2 and len(res.err.splitlines()) < 100


# -- leaderboard inputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows, needle",
    [
        ("null", "not an object"),
        ('[{"mode": "closed"}]', "missing field"),
        ('[1, "x"]', "row 1 is a string"),
        (
            '[{"mode": "closed", "model_name": "m", "model_link": "", "easy": "x", '
            '"medium": 1, "hard": 1, "average": 1}]',
            "not a percentage",
        ),
        (
            '[{"mode": "closed", "model_name": "m", "model_link": "", "easy": 1e308, '
            '"medium": 1, "hard": 1, "average": 1}]',
            "not a percentage",
        ),
        ('{"mode": "closed", "bogus": 1}', "unknown field"),
        ("\xff", "not UTF-8"),
    ],
)
def test_bad_extra_leaderboard_rows_are_exit_2(capsys, tmp_path, rows, needle):
    path = tmp_path / "extra.json"
    path.write_bytes(rows.encode("latin-1") if rows == "\xff" else rows.encode())
    res = run_cli(capsys, "leaderboard", str(path), "--out-dir", str(tmp_path / "lb"))
    assert res.code == 2 and needle in res.err and "Traceback" not in res.err, res.err


def test_a_damaged_judgements_file_is_a_user_error(tmp_path):
    from vidbench.errors import UserError
    from vidbench.judge import read_judgements

    path = tmp_path / "judgements.jsonl"
    path.write_bytes(b'{"sample_key": "\xff"}\n')
    with pytest.raises(UserError, match="not UTF-8"):
        read_judgements(path)
    path.write_text("[" * 100_000 + "\n")
    with pytest.raises(UserError, match="line 1"):
        read_judgements(path)
