"""Loading VidDiffBench rows into typed samples, faithfully, and rejecting bad datasets clearly."""

import json
import subprocess
import sys
import time

import pytest

from tests.hub_fixture import make_row, write_hub_folder
from vidbench.dataset import Selection, load_benchmark, resolve_source
from vidbench.errors import UserError


@pytest.fixture
def hub_folder(tmp_path):
    rows = [
        make_row("fitness_0_a", action="fitness_0"),
        make_row("fitness_0_b", action="fitness_0"),
        make_row(
            "ballsports_1_a",
            action="ballsports_1",
            domain="ballsports",
            split="medium",
            videos=[
                {"path": "bs/a.mov", "fps_original": 30, "frames_trim": [10, -5]},
                {"path": "bs/b.mov", "fps_original": 30, "frames_trim": [None, 50]},
            ],
        ),
        make_row("surgery_0_a", action="surgery_0", domain="surgery", split="hard"),
    ]
    return write_hub_folder(tmp_path / "ds", rows)


def test_loading_a_hub_folder_does_not_import_pandas(hub_folder):
    # pyarrow's read_table imports pandas (~0.5 s): start-up time on the GIL that the model
    # client's background import needs (issue 13). Checked in a fresh interpreter.
    code = (
        "import sys; from vidbench.dataset import load_benchmark; "
        f"b = load_benchmark({str(hub_folder)!r}); "
        "print(len(b.samples), 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "False"]


def test_round_trip_keeps_nulls_c_and_noncontiguous_keys(hub_folder):
    bench = load_benchmark(str(hub_folder))
    s = bench.by_key()["fitness_0_a"]
    assert list(s.differences) == ["0", "3", "7", "9"]
    assert s.differences["0"].label == "a" and s.differences["3"].label == "c"
    assert s.differences["7"].label is None and s.differences["7"].description is None
    assert s.differences["9"].description == "wider stance"
    assert s.differences["3"].num_frames == "gt_1"
    assert s.scored_labels() == {"0": "a", "9": "b"}
    # 'c' items are asked (a method cannot know they are 'c'); null-labelled ones are not.
    assert s.closed_statements() == {
        "0": "deeper squat",
        "3": "faster descent",
        "9": "wider stance",
    }
    assert s.info.max_differences == 5  # ceil(1.5 * 3 non-null labels)
    assert s.retrieval_frames[0]["0"] == [5, 6] and s.retrieval_frames[0]["3"] is None
    a, b = s.info.videos
    assert a.trim == (2, 40) and a.fps_original == 30.0
    assert b.path.endswith("b_frames") and b.trim == (0, None) and b.fps_original == 8.0


def test_mov_and_trims_at_both_ends(hub_folder):
    s = load_benchmark(str(hub_folder)).by_key()["ballsports_1_a"]
    assert s.info.videos[0].path == "bs/a.mov" and s.info.videos[0].trim == (10, -5)
    assert s.info.videos[1].trim == (None, 50)
    assert s.split == "medium" and s.domain == "ballsports"


def test_fixture_is_also_readable_by_datasets(hub_folder):
    from datasets import load_dataset

    ds = load_dataset(str(hub_folder), split="test")
    assert len(ds) == 4 and "vid0_thumbnail" in ds.column_names


def test_filters(hub_folder):
    assert [
        s.key for s in load_benchmark(str(hub_folder), selection=Selection(split="easy")).samples
    ] == ["fitness_0_a", "fitness_0_b"]
    assert len(load_benchmark(str(hub_folder), selection=Selection(per_action=1)).samples) == 3
    assert len(load_benchmark(str(hub_folder), selection=Selection(limit=2)).samples) == 2
    only = load_benchmark(str(hub_folder), selection=Selection(sample_ids=("surgery_0_a",)))
    assert [s.key for s in only.samples] == ["surgery_0_a"]
    dom = load_benchmark(str(hub_folder), selection=Selection(domains=("ballsports",)))
    assert [s.key for s in dom.samples] == ["ballsports_1_a"]


@pytest.mark.parametrize(
    "selection, word",
    [
        (Selection(split="medium-hard"), "split"),
        (Selection(domains=("cooking",)), "domain"),
        (Selection(actions=("fitness_99",)), "action"),
        (Selection(sample_ids=("nope",)), "sample id"),
    ],
)
def test_unknown_filter_values_are_user_errors(hub_folder, selection, word):
    with pytest.raises(UserError, match=word):
        load_benchmark(str(hub_folder), selection=selection)


def test_missing_column_is_named(tmp_path):
    folder = write_hub_folder(tmp_path / "bad", [make_row("x")], drop=("differences_gt",))
    with pytest.raises(UserError, match="differences_gt"):
        load_benchmark(str(folder))


def test_invalid_json_column_names_column_and_sample(tmp_path):
    row = make_row("broken_1")
    row["videos"] = "{not json"
    folder = write_hub_folder(tmp_path / "bad", [row])
    with pytest.raises(UserError) as err:
        load_benchmark(str(folder))
    assert "videos" in str(err.value) and "broken_1" in str(err.value)


def test_bad_label_value_is_rejected(tmp_path):
    folder = write_hub_folder(
        tmp_path / "bad", [make_row("x", gt={"0": "A", "3": "c", "7": None, "9": "b"})]
    )
    with pytest.raises(UserError, match="expected a, b, c or null"):
        load_benchmark(str(folder))


def test_empty_folder_says_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="no parquet"):
        load_benchmark(str(tmp_path))


def test_hub_offline_fails_fast_with_remedy(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        resolve_source("jmhb/VidDiffBench", "main")
    assert time.monotonic() - start < 10
    assert "--dataset" in err.value.render() and "jmhb/VidDiffBench" in err.value.render()


def test_non_repo_name_is_rejected():
    with pytest.raises(UserError, match="neither"):
        resolve_source("no_such_folder_or_repo")


def test_json_columns_may_already_be_decoded(tmp_path):
    # Some exports store JSON columns as strings, a few tools decode them: accept both.
    from vidbench.dataset import sample_from_row

    row = make_row("x")
    row["differences_gt"] = json.loads(row["differences_gt"])
    assert sample_from_row(row).differences["0"].label == "a"
