"""`vidbench eval` end to end on the demo benchmark: run folders, statuses, resume, both orders,
and clear errors for bad input."""

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

FLAKY_METHOD = textwrap.dedent('''
    import os
    from vidbench.contracts import DifferencePrediction, FrameSpec, Method, MethodOutput
    from vidbench.errors import ApiError

    class Flaky(Method):
        """Fails on every other sample while FLAKY_FAIL is set; answers from the video path."""
        name = "flaky"

        def frame_spec(self, info):
            return FrameSpec(num_frames=2, max_side=32)

        def closed(self, task, llm):
            if os.environ.get("FLAKY_FAIL") and task.info.sample_hash % 2:
                raise ApiError("scripted outage")
            assert task.frames[0].arrays.shape[0] == 2 and task.frames[0].arrays.shape[-1] == 3
            answer = "a" if len(task.info.videos[0].path) % 2 else "b"
            return MethodOutput({k: DifferencePrediction(v, answer)
                                 for k, v in task.statements.items()})
''')


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def _run_dir(out: str) -> Path:
    line = [l for l in out.splitlines() if l.startswith("run folder:")][-1]
    return Path(line.split(":", 1)[1].strip())


def test_random_on_demo_writes_a_complete_run_folder(capsys, tmp_path):
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "random",
        "--dataset",
        "demo",
        "--split",
        "all",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    for name in ("config.json", "manifest.json", "predictions.jsonl", "metrics.json", "report.md"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dataset"]["repo_id"] and manifest["dataset"]["revision"]
    assert manifest["method"]["name"] == "random" and manifest["frame_specs"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "closed"
    assert set(metrics["splits"]) <= {"easy", "medium", "hard"} and metrics["splits"]
    for fig in metrics["splits"].values():
        assert 0.0 <= fig["accuracy"] <= 1.0 and fig["n"] > 0
    records = _records(run)
    assert len(records) == manifest["dataset"]["n_samples"]
    assert all(r["status"] == "ok" for r in records)
    assert all(r["frames"]["a"]["indices"] and r["frames"]["a"]["timestamps"] for r in records)


def test_constant_a_scores_the_share_of_a_labels(capsys, tmp_path):
    from vidbench.dataset import load_benchmark

    res = run_cli(
        capsys, "eval", "--method", "constant-a", "--runs-dir", str(tmp_path), "--no-progress"
    )
    assert res.code == 0, res.err
    metrics = json.loads((_run_dir(res.out) / "metrics.json").read_text())
    labels = [l for s in load_benchmark("demo").samples for l in s.scored_labels().values()]
    assert metrics["pooled"] == pytest.approx(labels.count("a") / len(labels))


def test_failures_are_statuses_and_resume_runs_only_them(capsys, tmp_path, monkeypatch):
    method_file = tmp_path / "flaky.py"
    method_file.write_text(FLAKY_METHOD)
    spec = f"{method_file}:Flaky"
    monkeypatch.setenv("FLAKY_FAIL", "1")
    res = run_cli(
        capsys, "eval", "--method", spec, "--runs-dir", str(tmp_path / "runs"), "--no-progress"
    )
    assert res.code == 3, res.err  # finished with failed samples
    run = _run_dir(res.out)
    first = _records(run)
    failed = [r for r in first if r["status"] != "ok"]
    assert failed and all(r["status"] == "api_error" and not r["predictions"] for r in failed)
    assert "scripted outage" in failed[0]["error"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["coverage"]["ok"] == len(first) - len(failed)

    # A crash mid-write leaves a torn line: it must be ignored, not fatal.
    with open(run / "predictions.jsonl", "a") as fh:
        fh.write('{"sample_key": "torn')
    monkeypatch.delenv("FLAKY_FAIL")
    res = run_cli(capsys, "eval", "--resume", str(run), "--no-progress")
    assert res.code == 0, res.err
    final = _records(run)
    assert len(final) == len(first)  # one record per sample, never duplicated
    assert all(r["status"] == "ok" for r in final)
    ok_before = {r["sample_key"]: r["predictions"] for r in first if r["status"] == "ok"}
    assert all(
        r["predictions"] == ok_before[r["sample_key"]]
        for r in final
        if r["sample_key"] in ok_before
    )

    # The resumed run equals an uninterrupted one.
    res = run_cli(
        capsys, "eval", "--method", spec, "--runs-dir", str(tmp_path / "runs2"), "--no-progress"
    )
    clean = {r["sample_key"]: r["predictions"] for r in _records(_run_dir(res.out))}
    assert clean == {r["sample_key"]: r["predictions"] for r in final}
    m1 = json.loads((run / "metrics.json").read_text())
    m2 = json.loads((_run_dir(res.out) / "metrics.json").read_text())
    assert m1["splits"] == m2["splits"]


def test_both_orders_exposes_position_bias(capsys, tmp_path):
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "constant-a",
        "--both-orders",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    records = _records(run)
    assert sum(r["swapped"] for r in records) == len(records) // 2
    swapped = [r for r in records if r["swapped"]]
    # 'a' given with the videos swapped means 'b' in the dataset's order.
    assert all(p["prediction"] == "b" for r in swapped for p in r["predictions"].values())
    order = json.loads((run / "metrics.json").read_text())["order"]
    assert order["consistency"] == 0.0 and order["accuracy_both_orders"] == 0.0


def test_dry_run_makes_no_run_folder(capsys, tmp_path):
    res = run_cli(capsys, "eval", "--method", "random", "--dry-run", "--runs-dir", str(tmp_path))
    assert res.code == 0, res.err
    assert "dry run" in res.out and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--method", "no-such-method"], "unknown method"),
        (["--method", "random", "-M", "sead=3"], "sead"),
        (["--method", "random", "--split", "hardest"], "unknown split"),
        (["--method", "random", "--mode", "sideways"], "unknown mode"),
        (["--method", "constant-a", "--mode", "open", "--both-orders"], "--both-orders"),
        (["--method", "random", "--dataset", "./nowhere"], "neither"),
        (["--method", "random", "--resume", "/nonexistent/run"], "config.json"),
    ],
)
def test_bad_input_exits_2_without_traceback(capsys, tmp_path, args, needle):
    res = run_cli(capsys, "eval", *args, "--runs-dir", str(tmp_path), "--no-progress")
    assert res.code == 2
    assert needle in res.err and "Traceback" not in res.err + res.out


def test_missing_videos_named_before_any_work(capsys, tmp_path):
    from tests.hub_fixture import make_row, write_hub_folder

    folder = write_hub_folder(tmp_path / "ds", [make_row("fitness_0_x")])
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "random",
        "--dataset",
        str(folder),
        "--video-root",
        str(tmp_path / "videos"),
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 2
    assert "fitness_0_x" in res.err and "a.mp4" in res.err and "vidbench data download" in res.err
    assert not (tmp_path / "runs").exists()


def test_methods_lists_registry(capsys):
    res = run_cli(capsys, "methods")
    assert res.code == 0
    for name in ("random", "constant-a", "lmm", "viddiff", "gpt-4o", "qwen2-vl-7b"):
        assert name in res.out


def test_user_method_file_errors_are_clear(capsys, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom at import')\n")
    res = run_cli(capsys, "eval", "--method", f"{bad}:X", "--runs-dir", str(tmp_path))
    assert res.code == 2 and "boom at import" in res.err and "Traceback" not in res.err


def test_data_info_and_doctor_on_demo(capsys):
    res = run_cli(capsys, "data", "info", "--json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["total"]["pairs"] > 0 and info["total"]["scored"] > 0
    res = run_cli(capsys, "data", "doctor", "--all")
    assert res.code == 0, res.out + res.err
    assert " 0 broken" in res.out


def test_doctor_flags_corrupt_and_missing_videos(capsys, tmp_path):
    from tests.hub_fixture import make_row, write_hub_folder

    folder = write_hub_folder(tmp_path / "ds", [make_row("fitness_0_x")])
    (tmp_path / "videos" / "fitness_0_x").mkdir(parents=True)
    (tmp_path / "videos" / "fitness_0_x" / "a.mp4").write_bytes(b"not a video at all")
    res = run_cli(
        capsys, "data", "doctor", "--dataset", str(folder), "--video-root", str(tmp_path / "videos")
    )
    assert res.code == 1
    assert "2 broken" in res.out and "a.mp4" in res.out


@pytest.mark.parametrize(
    "args, key",
    [
        (["--method", "gpt-4o"], "OPENAI_API_KEY"),
        (["--method", "claude-3.5-sonnet"], "ANTHROPIC_API_KEY"),
        (["--method", "random", "--mode", "open"], "OPENAI_API_KEY"),  # the default judge
    ],
)
def test_missing_api_key_is_named_before_any_work(capsys, tmp_path, monkeypatch, args, key):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = run_cli(capsys, "eval", *args, "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert res.code == 2 and key in res.err and "api_base" in res.err
    assert not (tmp_path / "runs").exists()


def test_viddiff_without_clip_extra_says_how_to_install(capsys, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "open_clip") else real(name, *a),
    )
    res = run_cli(capsys, "eval", "--method", "viddiff", "--runs-dir", str(tmp_path / "runs"))
    assert res.code == 2 and ".[clip]" in res.err and "localizer=uniform" in res.err
    assert not (tmp_path / "runs").exists()


def test_methods_shows_one_methods_options(capsys):
    res = run_cli(capsys, "methods", "viddiff")
    assert res.code == 0
    assert "-M localizer=" in res.out and "oracle" in res.out and "ViT-bigG-14" in res.out
    res = run_cli(capsys, "methods", "gemini-1.5-pro")
    assert "video_input" in res.out and "'video'" in res.out  # the named configuration's default
    assert run_cli(capsys, "methods", "nope").code == 2
