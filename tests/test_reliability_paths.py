"""Dataset rows are untrusted: a video path must stay inside the video root (the user's own
symlinks there are followed), and only regular files and folders are opened (a FIFO would block
the run forever). Refusals are per-sample `video_error` statuses, never a crash or a hang."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.hub_fixture import make_row, write_hub_folder
from tests.videos import write_image_folder, write_video
from vidbench.contracts import VideoRef
from vidbench.errors import VideoError
from vidbench.video import open_video, probe


def _row(key: str, path_a: str) -> dict:
    return make_row(
        key,
        videos=[
            {"path": path_a, "fps_original": 30, "frames_trim": [0, None]},
            {"path": "ok/b.mp4", "fps_original": 30, "frames_trim": [0, None]},
        ],
    )


@pytest.fixture
def layout(tmp_path):
    """A video root holding ok/, a symlink to a folder outside it, and a secret outside it."""
    root = tmp_path / "root"
    write_video(root / "ok" / "a.mp4", 12)
    write_video(root / "ok" / "b.mp4", 12)
    outside = tmp_path / "outside"
    write_video(outside / "secret.mp4", 12)
    write_video(tmp_path / "linked" / "a.mp4", 12)
    (root / "mine").symlink_to(tmp_path / "linked", target_is_directory=True)
    return tmp_path, root


@pytest.mark.parametrize(
    "path_a, refused",
    [
        ("ok/a.mp4", False),
        ("mine/a.mp4", False),  # the user's own symlink inside the root: followed
        ("../outside/secret.mp4", True),
        ("ok/../../outside/secret.mp4", True),
        ("ABSOLUTE", True),
        ("ok/a.mp4\x00.png", True),
    ],
)
def test_video_paths_stay_inside_the_root(layout, path_a, refused):
    tmp, root = layout
    if path_a == "ABSOLUTE":
        path_a = str(tmp / "outside" / "secret.mp4")
    ref = VideoRef(path_a, 30.0)
    if refused:
        with pytest.raises(VideoError, match="outside the video root|NUL"):
            open_video(ref, root, sample_key="s", use_cache=False)
        assert probe(ref, root).error
    else:
        assert open_video(ref, root, sample_key="s", use_cache=False).num_frames == 12


def _in_thread(fn, *args):
    """Run fn in a daemon thread; a hang (the bug) fails the test instead of blocking CI."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "hung on a FIFO"
    return box


def test_a_fifo_is_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    box = _in_thread(open_video, VideoRef("pipe.mp4", 30.0), tmp_path)
    assert isinstance(box.get("error"), VideoError)
    assert "not a regular file" in str(box["error"])
    folder = write_image_folder(tmp_path / "frames", 3)
    os.mkfifo(folder / "000009.png")
    box = _in_thread(open_video, VideoRef("frames", 30.0), tmp_path)
    assert isinstance(box.get("error"), VideoError) and "000009.png" in str(box["error"])
    assert "not a regular file" in (probe(VideoRef("pipe.mp4", 30.0), tmp_path).error or "")


def test_eval_refuses_escaping_and_fifo_samples_per_sample(capsys, layout):
    tmp, root = layout
    os.mkfifo(root / "ok" / "pipe.mp4")
    rows = [
        _row("fitness_0_ok", "ok/a.mp4"),
        _row("fitness_0_link", "mine/a.mp4"),
        _row("fitness_0_climb", "../outside/secret.mp4"),
        _row("fitness_0_abs", str(tmp / "outside" / "secret.mp4")),
        _row("fitness_0_fifo", "ok/pipe.mp4"),
    ]
    folder = write_hub_folder(tmp / "ds", rows)
    args = ["eval", "--method", "random", "--dataset", str(folder), "--video-root", str(root)]
    args += ["--runs-dir", str(tmp / "runs"), "--no-progress"]
    box = _in_thread(run_cli, capsys, *args)
    res = box["value"]
    assert res.code == 3, res.err  # finished, with failed (video_error) samples
    run = next((tmp / "runs").iterdir())
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    status = {r["sample_key"]: r["status"] for r in records}
    assert status == {
        "fitness_0_ok": "ok",
        "fitness_0_link": "ok",
        "fitness_0_climb": "video_error",
        "fitness_0_abs": "video_error",
        "fitness_0_fifo": "video_error",
    }
    errors = {r["sample_key"]: r.get("error") or "" for r in records}
    assert "outside the video root" in errors["fitness_0_climb"]
    assert "not a regular file" in errors["fitness_0_fifo"]


def test_doctor_reports_escaping_paths_without_reading_them(capsys, layout):
    tmp, root = layout
    folder = write_hub_folder(tmp / "ds", [_row("fitness_0_climb", "../outside/secret.mp4")])
    res = run_cli(capsys, "data", "doctor", "--dataset", str(folder), "--video-root", str(root))
    assert res.code == 1 and "outside the video root" in res.out
    assert Path(tmp / "outside" / "secret.mp4").exists()
