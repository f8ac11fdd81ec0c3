"""What makes runs fast, checked for what it must not change: frames prepared in worker
processes are the frames prepared in-thread, a rerun sends the same bytes from the frame cache
without decoding, and the console script's quick exit still writes everything and keeps the
exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.cli_helpers import run_cli
from tests.hub_fixture import make_row, write_hub_folder
from tests.test_eval_llm import _lmm, _run_dir, answer_everything
from tests.videos import write_video
from vidbench.framecache import frame_cache_info


def _image_urls(server) -> list[list[str]]:
    """The image data URLs of every request, in a stable order (requests arrive concurrently)."""
    bodies = [r.body for r in server.requests if r.path.endswith("/chat/completions")]
    per_request = [
        [p["image_url"]["url"] for p in b["messages"][0]["content"] if p["type"] == "image_url"]
        for b in bodies
    ]
    return sorted(per_request)


def test_worker_frames_equal_in_thread_frames_and_cache_hits_send_the_same_bytes(
    capsys, tmp_path, openai_server, monkeypatch
):
    from vidbench import cache as cache_module

    # --cache-dir repoints the process-wide cache: put it back afterwards for the next tests.
    monkeypatch.setattr(cache_module, "_shared", cache_module._shared)
    openai_server.respond_with(answer_everything)
    runs = ["--runs-dir", str(tmp_path / "runs")]

    monkeypatch.setenv("VIDBENCH_FRAME_WORKERS", "0")  # prepared in the loop's threads
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--cache-dir", str(tmp_path / "c0"), *runs)
    assert res.code == 0, res.err
    in_thread = _image_urls(openai_server)
    n_requests = len(in_thread)
    assert n_requests > 0 and all(in_thread)

    openai_server.reset()
    openai_server.respond_with(answer_everything)
    monkeypatch.setenv("VIDBENCH_FRAME_WORKERS", "2")  # prepared in worker processes
    cold_cache = tmp_path / "c1"
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--cache-dir", str(cold_cache), *runs)
    assert res.code == 0, res.err
    assert _image_urls(openai_server) == in_thread  # byte for byte the same images
    info = frame_cache_info(cold_cache)
    # One entry per video file (the demo's image-folder videos are read, not cached).
    assert 0 < info["entries"] <= 2 * n_requests and 0 < info["bytes"] <= info["max_bytes"]
    first = [json.loads(line) for line in (_run_dir(res.out) / "predictions.jsonl").open()]

    # Same cache, LLM answers removed: every request is sent again, its frames from the cache.
    (cold_cache / "cache.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{cold_cache / 'cache.sqlite3'}{suffix}").unlink(missing_ok=True)
    openai_server.reset()
    openai_server.respond_with(answer_everything)
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--cache-dir", str(cold_cache), *runs)
    assert res.code == 0, res.err
    assert _image_urls(openai_server) == in_thread
    again = [json.loads(line) for line in (_run_dir(res.out) / "predictions.jsonl").open()]
    key = lambda r: r["sample_key"]  # noqa: E731
    assert [r["frames"] for r in sorted(again, key=key)] == [
        r["frames"] for r in sorted(first, key=key)
    ]


def _console(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "VIDBENCH_CACHE": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "vidbench.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_console_script_writes_everything_before_its_quick_exit(tmp_path):
    done = _console(tmp_path, "eval", "--method", "random", "--dataset", "demo", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("vidbench: loading dataset demo ...")
    run_dir = tmp_path / done.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    for name in ("config.json", "manifest.json", "predictions.jsonl", "metrics.json", "report.md"):
        assert (run_dir / name).stat().st_size > 0, name
    assert "coverage:" in done.stdout  # the metrics table was flushed before the exit

    bad = _console(tmp_path, "eval", "--method", "no-such-method", "--dataset", "demo")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "no-such-method" in bad.stderr


def test_a_video_that_fails_in_a_worker_is_that_samples_status(capsys, tmp_path, monkeypatch):
    from vidbench import cache as cache_module

    monkeypatch.setattr(cache_module, "_shared", cache_module._shared)
    monkeypatch.setenv("VIDBENCH_FRAME_WORKERS", "2")
    root = tmp_path / "videos"
    rows = []
    for key in ("good", "bad"):
        for side in "ab":
            write_video(root / key / f"{side}.mp4", 20, fps=10, gop=5)
        refs = [
            {"path": f"{key}/{s}.mp4", "fps_original": 10, "frames_trim": [0, None]} for s in "ab"
        ]
        rows.append(make_row(key, videos=refs))
    (root / "bad" / "b.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    dataset = write_hub_folder(tmp_path / "ds", rows)
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "constant-a",
        "--dataset",
        str(dataset),
        "--video-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert res.code in (0, 3), res.err  # 3: some samples failed (where that exit code exists)
    records = {
        r["sample_key"]: r
        for r in map(json.loads, (_run_dir(res.out) / "predictions.jsonl").open())
    }
    assert records["good"]["status"] == "ok"
    assert records["bad"]["status"] == "video_error"
    assert "'bad'" in records["bad"]["error"] and "b.mp4" in records["bad"]["error"]


def test_failed_worker_processes_fall_back_to_the_main_process(tmp_path, monkeypatch, caplog):
    from concurrent.futures.process import BrokenProcessPool

    from vidbench import framepool
    from vidbench.contracts import FrameSpec, VideoRef

    class Broken:
        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a worker died")

    monkeypatch.setenv("VIDBENCH_FRAME_WORKERS", "2")
    monkeypatch.setattr(framepool, "_get_pool", lambda workers: Broken())
    monkeypatch.setattr(framepool, "_in_thread", threading.Event())
    for side in "ab":
        write_video(tmp_path / f"{side}.mp4", 12, fps=10, gop=4)
    refs = [VideoRef(f"{side}.mp4", 10.0) for side in "ab"]
    spec = FrameSpec(fps=5, max_side=64, image_format="jpeg")
    _, frames = framepool.sample_pair(refs, tmp_path, spec, sample_key="k")
    assert [len(f.encoded("jpeg", 90)) for f in frames] == [6, 6]
    assert framepool._in_thread.is_set() and "main process" in caplog.text
    # From then on no pool is asked for at all.
    monkeypatch.setattr(framepool, "_get_pool", lambda workers: 1 / 0)
    framepool.sample_pair(refs, tmp_path, spec, sample_key="k")


def _prepares(
    capsys, tmp_path, openai_server, monkeypatch, importing, workers: int = 2
) -> tuple[int, list[float]]:
    """Run the lmm eval on the demo with `workers` frame workers and the client seen as
    importing while `importing()`; the most samples prepared at once, and when each began."""
    import importlib

    from vidbench import cache as cache_module

    # The module, not the package's `vidbench.evaluate` function of the same name.
    evaluate = importlib.import_module("vidbench.evaluate")
    monkeypatch.setattr(cache_module, "_shared", cache_module._shared)
    monkeypatch.setattr(evaluate, "client_importing", importing)
    monkeypatch.setattr(evaluate, "frame_workers", lambda: workers)
    monkeypatch.setenv("VIDBENCH_FRAME_WORKERS", "0")  # prepared in the loop's threads
    openai_server.respond_with(answer_everything)
    prepare, lock = evaluate.Evaluator.prepare, threading.Lock()
    now, most, began = [0], [0], []

    def counted(self, *args):  # the real preparation, held long enough for overlaps to show
        with lock:
            began.append(time.monotonic())
            now[0] += 1
            most[0] = max(most[0], now[0])
        try:
            return prepare(self, *args)
        finally:
            time.sleep(0.1)
            with lock:
                now[0] -= 1

    monkeypatch.setattr(evaluate.Evaluator, "prepare", counted)
    runs = ["--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "c")]
    res = run_cli(capsys, "eval", *_lmm(openai_server), *runs)
    assert res.code == 0, res.err
    return most[0], began


def test_while_the_client_imports_one_frame_worker_is_left_idle(
    capsys, tmp_path, openai_server, monkeypatch
):
    # litellm's import is most of the start-up and on the first request's path: it gets a core.
    most, _ = _prepares(capsys, tmp_path, openai_server, monkeypatch, lambda: True)
    assert most == 1
    most, _ = _prepares(capsys, tmp_path / "2", openai_server, monkeypatch, lambda: False)
    assert most > 1
    # One core: only the first sample is prepared until the import ends, then all the rest.
    ends = time.monotonic() + 1.0
    most, began = _prepares(
        capsys, tmp_path / "3", openai_server, monkeypatch, lambda: time.monotonic() < ends, 1
    )
    assert len(began) > 2 and sum(t < ends for t in began) == 1


def test_a_run_whose_frames_do_not_fit_the_frame_cache_says_so(
    capsys, tmp_path, openai_server, monkeypatch
):
    from vidbench import cache as cache_module

    monkeypatch.setattr(cache_module, "_shared", cache_module._shared)
    openai_server.respond_with(answer_everything)
    runs = ["--runs-dir", str(tmp_path / "runs")]
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--cache-dir", str(tmp_path / "c1"), *runs)
    assert res.code == 0, res.err
    assert "frame cache is full" not in res.err
    monkeypatch.setenv("VIDBENCH_FRAME_CACHE_MB", "0.001")  # no frame set fits in 1 kB
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--cache-dir", str(tmp_path / "c2"), *runs)
    assert res.code == 0, res.err
    assert "the frame cache is full (0 MB)" in res.err and "VIDBENCH_FRAME_CACHE_MB" in res.err
    assert frame_cache_info(tmp_path / "c2")["entries"] == 0
