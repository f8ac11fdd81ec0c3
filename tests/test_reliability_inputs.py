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
