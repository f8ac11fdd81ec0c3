"""Run folders: created atomically (no collision under hundreds of simultaneous evals), locked
against a second writer (exit 2 naming the holder's PID), and resumable from any kill point; a
folder that cannot be resumed says why before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vidbench import runs
from vidbench.errors import UserError


def _eval(capsys, *args: str):
    return run_cli(capsys, "eval", "--method", "random", "--no-progress", *args)


def _run_dir(out: str) -> Path:
    line = [l for l in out.splitlines() if l.startswith("run folder:")][-1]
    return Path(line.split(":", 1)[1].strip())


def _records(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]


def test_300_simultaneous_creations_never_collide(tmp_path):
    files = {runs.CONFIG: {"method": "m"}, runs.MANIFEST: {"m": 1}}

    def create(i: int) -> Path:
        run_dir, lock = runs.create_run_dir(tmp_path, "random", "closed", files)
        lock.release()
        return run_dir

    with ThreadPoolExecutor(32) as pool:
        made = list(pool.map(create, range(300)))
    assert len(set(made)) == 300
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in made
    )
    for run_dir in made:  # every folder appears whole: what --resume needs is there
        assert json.loads((run_dir / runs.CONFIG).read_text()) == {"method": "m"}
        assert (run_dir / runs.MANIFEST).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".creating-")]


def test_a_failure_while_creating_leaves_no_run_folder(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = runs.write_json

    def dies_on_second_file(path, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as a kill between config.json and manifest.json would
        real(path, data)

    monkeypatch.setattr(runs, "write_json", dies_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        runs.create_run_dir(tmp_path, "random", "closed", {runs.CONFIG: {}, runs.MANIFEST: {}})
    assert list(tmp_path.iterdir()) == []


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vidbench.runs import lock_run_dir
    lock = lock_run_dir(Path(sys.argv[1]))
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def test_a_second_writer_is_refused_naming_the_holder(capsys, tmp_path):
    res = _eval(capsys, "--runs-dir", str(tmp_path), "--limit", "3")
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    before = (run / "predictions.jsonl").read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = _eval(capsys, "--resume", str(run))
        assert res.code == 2 and f"PID {holder.pid}" in res.err and "Traceback" not in res.err
        assert (run / "predictions.jsonl").read_bytes() == before
    finally:
        holder.kill()  # a killed holder leaves no stale lock behind
        holder.wait()
    res = _eval(capsys, "--resume", str(run))
    assert res.code == 0, res.err


def test_an_old_folder_killed_before_its_manifest_resumes(capsys, tmp_path):
    res = _eval(capsys, "--runs-dir", str(tmp_path), "--limit", "4")
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    expected = json.loads((run / "metrics.json").read_text())
    for name in ("manifest.json", "predictions.jsonl", "metrics.json", "report.md"):
        (run / name).unlink()
    res = _eval(capsys, "--resume", str(run))
    assert res.code == 0, res.err
    assert json.loads((run / "manifest.json").read_text())["method"]["name"] == "random"
    assert json.loads((run / "metrics.json").read_text())["splits"] == expected["splits"]
    (run / "manifest.json").write_text('{"torn": ')
    res = _eval(capsys, "--resume", str(run))
    assert res.code == 0, res.err
    assert json.loads((run / "manifest.json").read_text())["mode"] == "closed"


@pytest.mark.parametrize(
    "config, needle",
    [
        (b"null", "null"),
        (b"[]", "a list"),
        (b'{"method": "random"}', "does not fit"),
        (b'{"method": "random", "mode": "closed", "dataset": "demo", "selection": 5}', "fit"),
        (b"\xff\xfe{", "UTF-8"),
        (b"[" * 100_000, "nested deeper"),
        (
            b'{"method": "random", "mode": "closed", "dataset": "demo", "revision": 1'
            + b"9" * 5000,
            "number",
        ),
    ],
)
def test_a_folder_that_cannot_be_resumed_says_why_before_running(capsys, tmp_path, config, needle):
    res = _eval(capsys, "--runs-dir", str(tmp_path), "--limit", "2")
    run = _run_dir(res.out)
    (run / "predictions.jsonl").unlink()
    (run / "config.json").write_bytes(config)
    res = _eval(capsys, "--resume", str(run))
    assert res.code == 2 and needle in res.err and "Traceback" not in res.err, res.err
    assert not (run / "predictions.jsonl").exists()  # nothing ran
    res = run_cli(capsys, "score", str(run))
    assert res.code == 2 and "Traceback" not in res.err


def test_lock_refuses_a_missing_folder(tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        runs.lock_run_dir(tmp_path / "nope")
    assert not os.path.exists(tmp_path / "nope")


def test_staging_folders_left_by_kills_are_swept(tmp_path):
    old = time.time() - 3600
    abandoned = tmp_path / ".creating-1-dead"
    abandoned.mkdir()
    (abandoned / "config.json").write_text("{}")
    os.utime(abandoned, (old, old))
    alive = tmp_path / ".creating-2-alive"
    alive.mkdir()
    held = runs.lock_run_dir(alive)  # its creator is still writing it
    os.utime(alive, (old, old))
    fresh = tmp_path / ".creating-3-fresh"  # just made: its creator may not have locked it yet
    fresh.mkdir()
    try:
        run_dir, lock = runs.create_run_dir(tmp_path, "random", "closed", {runs.CONFIG: {}})
        lock.release()
        assert not abandoned.exists() and alive.exists() and fresh.exists()
        assert run_dir.is_dir()
    finally:
        held.release()


def test_an_unreadable_run_file_suggests_what_works(capsys, tmp_path):
    import vidbench

    run = vidbench.evaluate("random", "demo", runs_dir=tmp_path / "runs").run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "from_the_future": 1}))
    res = run_cli(capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"))
    assert res.code == 2 and f"vidbench score {run}" in res.err
    assert run_cli(capsys, "score", str(run)).code == 0  # what the fix said works

    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "from_the_future": 1}))
    res = run_cli(capsys, "score", str(run))
    assert res.code == 2 and "from_the_future" in res.err
    fix = res.err.split("fix:", 1)[1]
    assert "vidbench score" not in fix and "vidbench eval" in fix
    assert f"vidbench {manifest['vidbench_version']}" in fix
