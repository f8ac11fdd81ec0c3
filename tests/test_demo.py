"""The built-in demo: Hub layout and schema, decodable JSON columns, and labels that hold in the
rendered pixels (measured from decoded frames, not just recomputed from the design)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from vidbench import demo
from vidbench.contracts import FrameSpec, VideoRef
from vidbench.video import open_video

COLUMNS = [
    "sample_key",
    "vid0_thumbnail",
    "vid1_thumbnail",
    "videos",
    "action",
    "action_name",
    "action_description",
    "source_dataset",
    "sample_hash",
    "retrieval_frames",
    "differences_annotated",
    "differences_gt",
    "domain",
    "split",
    "n_differences_open_prediction",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return demo.ensure_demo(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture(scope="module")
def rows(demo_dir):
    table = pq.read_table(demo_dir / demo.PARQUET)
    return table.to_pylist()


def _json(row, column):
    return json.loads(row[column])


def test_hub_layout_and_card(demo_dir):
    assert (demo_dir / "data" / "test-00000-of-00001.parquet").is_file()
    card = (demo_dir / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["configs"] == [
        {"config_name": "default", "data_files": [{"split": "test", "path": "data/test-*"}]}
    ]
    assert (demo_dir / demo.STAMP).read_text() == demo.DEMO_REVISION
    assert demo.DEMO_REPO_ID == "vidbench/demo"


def test_loads_with_datasets_and_has_the_real_schema(demo_dir):
    from datasets import load_dataset

    ds = load_dataset(str(demo_dir), split="test")
    assert ds.column_names == COLUMNS and len(ds) == 12
    assert ds.features["sample_hash"].dtype == "int64"
    assert ds.features["n_differences_open_prediction"].dtype == "int64"
    assert type(ds.features["vid0_thumbnail"]).__name__ == "Image"
    thumb = ds[0]["vid1_thumbnail"]
    assert thumb.size == (64, 48) and thumb.mode == "RGB"
    for column in ("videos", "retrieval_frames", "differences_annotated", "differences_gt"):
        assert isinstance(ds[0][column], str)


def test_json_columns_decode_to_the_documented_shapes(rows):
    assert {r["split"] for r in rows} == {"easy", "medium", "hard"}
    assert len({r["sample_key"] for r in rows}) == len(rows)
    for row in rows:
        assert row["sample_key"].startswith(row["domain"])
        videos = _json(row, "videos")
        assert len(videos) == 2
        for v in videos:
            assert set(v) == {"path", "fps_original", "frames_trim"} and len(v["frames_trim"]) == 2
        retrieval = _json(row, "retrieval_frames")
        annotated = _json(row, "differences_annotated")
        labels = _json(row, "differences_gt")
        assert len(retrieval) == 2 and set(annotated) == set(labels)
        for note in annotated.values():
            if note is not None:
                assert set(note) == {"name", "description", "query_string", "num_frames"}
                assert note["num_frames"] in ("1", "gt_1")
                # Direction-free statements: the direction lives in the label only.
                assert "video" not in note["description"].lower()
        assert set(labels.values()) <= {"a", "b", "c", None}
        n_labelled = sum(v is not None for v in labels.values())
        assert row["n_differences_open_prediction"] == math.ceil(1.5 * n_labelled)


def test_the_demo_exercises_the_awkward_cases(rows):
    keys = [[int(k) for k in _json(r, "differences_gt")] for r in rows]
    assert any(k != list(range(len(k))) for k in keys)  # non-contiguous keys
    labels = [v for r in rows for v in _json(r, "differences_gt").values()]
    assert labels.count(None) >= 2 and labels.count("c") >= 3
    assert labels.count("a") >= 5 and labels.count("b") >= 5
    null_notes = [
        k for r in rows for k, v in _json(r, "differences_annotated").items() if v is None
    ]
    assert len(null_notes) == 1
    trims = [tuple(v["frames_trim"]) for r in rows for v in _json(r, "videos")]
    assert any(s and s > 0 and e is not None for s, e in trims)  # both ends trimmed
    assert any(e is None for _, e in trims)
    frames = [f for r in rows for side in _json(r, "retrieval_frames") for f in side.values()]
    assert None in frames and any(f and len(f) == 3 for f in frames)
    paths = [v["path"] for r in rows for v in _json(r, "videos")]
    assert any(p.endswith(".mp4") for p in paths) and any("." not in p for p in paths)


def test_retrieval_frames_lie_inside_the_trimmed_videos(rows, demo_dir):
    for row in rows:
        labels = _json(row, "differences_gt")
        for v, side in zip(_json(row, "videos"), _json(row, "retrieval_frames")):
            ref = VideoRef(v["path"], v["fps_original"], tuple(v["frames_trim"]))
            video = open_video(ref, demo_dir / "videos", use_cache=False)
            for key, frames in side.items():
                if labels[key] is None:
                    assert frames is None
                if frames is not None:
                    assert all(0 <= f < video.num_frames for f in frames)
                    video.read(frames)  # readable


def _design(rows):
    by_key = {p.sample_key: p for p in demo.demo_design()}
    return [(row, by_key[row["sample_key"]]) for row in rows]


def test_labels_follow_the_parameters(rows):
    for row, pair in _design(rows):
        labels = _json(row, "differences_gt")
        for spec in pair.action.differences:
            label = labels[spec.key]
            if label is None:
                continue
            a, b = (m.value(spec.param) * spec.sign for m in pair.motions)
            assert label == ("c" if a == b else "a" if a > b else "b"), (row["sample_key"], spec)


def _marker_rows(arrays: np.ndarray, colour: tuple[int, int, int]) -> list[tuple[float, float]]:
    """Per frame: (mean y, horizontal spread) of pixels close to `colour`."""
    out = []
    dist = np.abs(arrays.astype(np.int16) - np.array(colour, dtype=np.int16)).sum(axis=-1)
    for mask in dist < 90:
        ys, xs = np.nonzero(mask)
        out.append((ys.mean(), float(xs.max() - xs.min())) if len(ys) else (np.nan, np.nan))
    return out


def _measure(row, demo_dir, video: int, what: str) -> float:
    v = _json(row, "videos")[video]
    ref = VideoRef(v["path"], v["fps_original"], tuple(v["frames_trim"]))
    frames = open_video(ref, demo_dir / "videos", use_cache=False).sample(FrameSpec(fps=30))
    if what == "head_drop":  # squat depth: how far the head goes down
        ys = [y for y, _ in _marker_rows(frames.arrays, demo.HEAD)]
        return float(np.nanmax(ys) - np.nanmin(ys))
    if what == "feet_spread":  # stance width
        return float(np.nanmedian([s for _, s in _marker_rows(frames.arrays, demo.FEET)]))
    if what == "ball_top":  # bounce height: the highest the ball gets (smaller y = higher)
        return -float(np.nanmin([y for y, _ in _marker_rows(frames.arrays, demo.BALL)]))
    if what == "hand_top":  # drum lift height
        return -float(np.nanmin([y for y, _ in _marker_rows(frames.arrays, demo.HANDS)]))
    raise ValueError(what)


MEASURED = {
    ("fitness_0", "0"): "head_drop",
    ("fitness_0", "5"): "feet_spread",
    ("ballsports_0", "0"): "ball_top",
    ("music_0", "1"): "hand_top",
}


def test_labels_hold_in_the_decoded_pixels(rows, demo_dir):
    checked = 0
    for row in rows:
        labels = _json(row, "differences_gt")
        for (action, key), what in MEASURED.items():
            if row["action"] != action or labels.get(key) is None:
                continue
            a, b = _measure(row, demo_dir, 0, what), _measure(row, demo_dir, 1, what)
            label = labels[key]
            if label == "c":
                assert abs(a - b) < 2.0, (row["sample_key"], key, a, b)
            else:
                more, less = (a, b) if label == "a" else (b, a)
                assert more > less + 3.0, (row["sample_key"], key, label, a, b)
            checked += 1
    assert checked >= 12


def test_squat_depth_key_frame_is_the_bottom_of_the_squat(rows, demo_dir):
    for row in rows:
        if row["action"] != "fitness_0":
            continue
        for v, side in zip(_json(row, "videos"), _json(row, "retrieval_frames")):
            if side["0"] is None:
                continue
            ref = VideoRef(v["path"], v["fps_original"], tuple(v["frames_trim"]))
            frames = open_video(ref, demo_dir / "videos", use_cache=False).sample(FrameSpec(fps=8))
            head_y = [y for y, _ in _marker_rows(frames.arrays, demo.HEAD)]
            assert head_y[side["0"][0]] >= np.nanmax(head_y) - 1.5, row["sample_key"]


def test_both_kinds_of_video_decode(rows, demo_dir):
    kinds = set()
    for row in rows:
        for v in _json(row, "videos"):
            ref = VideoRef(v["path"], v["fps_original"], tuple(v["frames_trim"]))
            video = open_video(ref, demo_dir / "videos", use_cache=False)
            frames = video.sample(FrameSpec(fps=4, max_side=64))
            assert frames.arrays.shape[1:] == (48, 64, 3) and len(frames.indices) >= 2
            kinds.add("folder" if video.path.is_dir() else video.path.suffix)
    assert kinds == {"folder", ".mp4"}


def test_deterministic_idempotent_and_regenerated_when_stale(demo_dir, tmp_path):
    parquet = demo_dir / demo.PARQUET
    before = parquet.stat().st_mtime_ns
    assert demo.ensure_demo(demo_dir) == demo_dir
    assert parquet.stat().st_mtime_ns == before  # current: nothing rebuilt

    other = demo.ensure_demo(tmp_path / "again")
    columns = [
        "sample_key",
        "videos",
        "retrieval_frames",
        "differences_annotated",
        "differences_gt",
        "sample_hash",
        "n_differences_open_prediction",
    ]
    assert (
        pq.read_table(other / demo.PARQUET, columns=columns).to_pylist()
        == pq.read_table(parquet, columns=columns).to_pylist()
    )

    (other / demo.STAMP).write_text("demo-v0")
    (other / "videos" / "stray.txt").write_text("left by an old version")
    demo.ensure_demo(other)
    assert (other / demo.STAMP).read_text() == demo.DEMO_REVISION
    assert not (other / "videos" / "stray.txt").exists()


def test_default_location_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDBENCH_DEMO_DIR", str(tmp_path / "envdemo"))
    assert demo.default_demo_dir() == tmp_path / "envdemo"
    monkeypatch.delenv("VIDBENCH_DEMO_DIR")
    assert demo.default_demo_dir().parts[-3:] == (".cache", "vidbench", "demo")


def test_concurrent_first_use_leaves_one_complete_demo(tmp_path):
    target = tmp_path / "shared" / "demo"
    code = f"from vidbench.demo import ensure_demo; ensure_demo({str(target)!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert (target / demo.STAMP).read_text() == demo.DEMO_REVISION
    assert pq.read_table(target / demo.PARQUET).num_rows == 12
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo"]  # no temp folders left
