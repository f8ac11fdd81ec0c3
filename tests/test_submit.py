"""`vidbench submit`: a whole, complete run on the leaderboard's dataset becomes a submitted row;
partial, incomplete, hand-edited or other-revision runs are refused with what to do."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import vidbench
from tests.cli_helpers import run_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_benchmark():
    """jmhb/VidDiffBench in the local Hub cache (the demo's rows, served offline at COMMIT), so
    runs read the leaderboard's real repo id through the real loader."""
    from huggingface_hub import constants

    from vidbench import demo

    demo_dir = demo.ensure_demo()
    repo = Path(constants.HF_HUB_CACHE) / "datasets--jmhb--VidDiffBench"
    snapshot = repo / "snapshots" / COMMIT
    if not snapshot.is_dir():
        shutil.copytree(demo_dir / "data", snapshot / "data")
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(COMMIT)
    return str(demo_dir / "videos")


def _evaluate(videos, runs_dir, method="random", **kw):
    return vidbench.evaluate(
        method, "jmhb/VidDiffBench", video_root=videos, runs_dir=runs_dir, **kw
    ).run_dir


@pytest.fixture
def run(tmp_path, hub_benchmark):
    return _evaluate(hub_benchmark, tmp_path / "runs")


def _rows(lb, mode="closed"):
    return list(csv.DictReader((lb / f"{mode}.csv").open()))


def test_a_complete_run_becomes_a_submitted_row(capsys, tmp_path, run):
    lb = tmp_path / "leaderboards"
    res = run_cli(
        capsys, "submit", str(run), "--name", "my-rnd", "--link", "https://example.org/rnd",
        "--out-dir", str(lb),
    )  # fmt: skip
    assert res.code == 0, res.err
    sub = json.loads((lb / "submissions" / "my-rnd.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert sub["metrics"]["splits"] == metrics["splits"] and len(sub["predictions_sha256"]) == 64
    # no pin: the benchmark `vidbench leaderboard` ranks, narrowed to the commit read
    assert json.loads((lb / "dataset.json").read_text()) == {
        "repo_id": "jmhb/VidDiffBench",
        "revision": COMMIT,
    }
    row = next(r for r in _rows(lb) if r["source"] == "submitted")
    assert row["model_link"] == "https://example.org/rnd"
    assert row["Average"] == f"{100 * metrics['average']:.1f}"
    assert "submitted" in (lb / "index.html").read_text()

    res = run_cli(capsys, "submit", str(run), "--name", "my-rnd", "--out-dir", str(lb))
    assert res.code == 2 and "exists" in res.err
    res = run_cli(capsys, "submit", str(run), "--name", "my-rnd", "--out-dir", str(lb), "--force")
    assert res.code == 0, res.err
    res = run_cli(capsys, "submit", str(run), "--name", "../evil", "--out-dir", str(lb))
    assert res.code == 2 and "plain name" in res.err


def test_hand_edited_metrics_are_refused(capsys, tmp_path, run):
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["splits"]["hard"]["accuracy"] = 0.99
    (run / "metrics.json").write_text(json.dumps(metrics))
    lb = tmp_path / "lb"
    res = run_cli(capsys, "submit", str(run), "--name", "x", "--out-dir", str(lb))
    assert res.code == 2
    assert "not what its predictions score to" in res.err and "splits.hard.accuracy" in res.err
    assert not (lb / "submissions").exists()
    # `vidbench score RUN` rewrites them from the predictions; then it goes through.
    assert run_cli(capsys, "score", str(run)).code == 0
    assert run_cli(capsys, "submit", str(run), "--name", "x", "--out-dir", str(lb)).code == 0


def test_partial_incomplete_and_other_revision_runs_are_refused(
    capsys, tmp_path, run, hub_benchmark
):
    lb = tmp_path / "lb"
    part = _evaluate(hub_benchmark, tmp_path / "runs", split="easy")
    res = run_cli(capsys, "submit", str(part), "--name", "p", "--out-dir", str(lb))
    assert res.code == 2 and "part of the benchmark (split easy)" in res.err

    lines = (run / "predictions.jsonl").read_text().splitlines()
    failed = {**json.loads(lines[0]), "status": "api_error", "error": "HTTP 500"}
    (run / "predictions.jsonl").write_text("\n".join([*lines, json.dumps(failed)]) + "\n")
    res = run_cli(capsys, "submit", str(run), "--name", "i", "--out-dir", str(lb))
    assert res.code == 2 and "not complete" in res.err and "--resume" in res.err

    (lb).mkdir(exist_ok=True)
    pin = {"repo_id": "jmhb/VidDiffBench", "revision": "f" * 40}
    (lb / "dataset.json").write_text(json.dumps(pin))
    other = _evaluate(hub_benchmark, tmp_path / "runs2")
    res = run_cli(capsys, "submit", str(other), "--name", "o", "--out-dir", str(lb))
    assert (
        res.code == 2
        and "not the leaderboard's dataset" in res.err
        and f"--revision {'f' * 40}" in res.err
    )


def test_a_demo_run_is_refused_and_pins_nothing(capsys, tmp_path):
    demo_run = vidbench.evaluate("random", "demo", runs_dir=tmp_path / "runs").run_dir
    lb = tmp_path / "lb"
    res = run_cli(capsys, "submit", str(demo_run), "--name", "d", "--out-dir", str(lb))
    assert res.code == 2 and "demo" in res.err and "--dataset jmhb/VidDiffBench" in res.err
    assert not lb.exists()


def test_a_password_in_api_base_reaches_no_file_submit_writes(
    capsys, tmp_path, openai_server, hub_benchmark
):
    openai_server.respond_with(lambda body: json.dumps({k: "a" for k in _asked(body)}))
    api_base = f"http://bob:hunter2pass@127.0.0.1:{openai_server.port}/v1"
    options = {"model": "openai/test-vlm", "api_base": api_base, "max_images": 4}
    run = _evaluate(
        hub_benchmark, tmp_path / "runs", "lmm", max_side=64, preset="vidbench", **options
    )
    lb = tmp_path / "lb"
    res = run_cli(capsys, "submit", str(run), "--name", "lmm", "--out-dir", str(lb))
    assert res.code == 0, res.err
    written = [p for p in lb.rglob("*") if p.is_file()]
    assert written and all("hunter2pass" not in p.read_text() for p in written)
    assert "hunter2pass" not in res.out + res.err


def _asked(body: dict) -> dict:
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    return dict(schema.get("properties", {}))
