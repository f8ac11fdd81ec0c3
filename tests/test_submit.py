"""`vidbench submit`: a whole, complete run on the leaderboard's dataset becomes a submitted row;
partial, incomplete, hand-edited or other-revision runs are refused with what to do."""

from __future__ import annotations

import csv
import json

import pytest

import vidbench
from tests.cli_helpers import run_cli


@pytest.fixture
def run(tmp_path):
    return vidbench.evaluate("random", "demo", runs_dir=tmp_path / "runs").run_dir


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
    assert json.loads((lb / "dataset.json").read_text()) == {
        "repo_id": "vidbench/demo",
        "revision": "demo-v1",
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


def test_partial_incomplete_and_other_revision_runs_are_refused(capsys, tmp_path, run):
    lb = tmp_path / "lb"
    part = vidbench.evaluate("random", "demo", split="easy", runs_dir=tmp_path / "runs").run_dir
    res = run_cli(capsys, "submit", str(part), "--name", "p", "--out-dir", str(lb))
    assert res.code == 2 and "part of the benchmark (split easy)" in res.err

    lines = (run / "predictions.jsonl").read_text().splitlines()
    failed = {**json.loads(lines[0]), "status": "api_error", "error": "HTTP 500"}
    (run / "predictions.jsonl").write_text("\n".join([*lines, json.dumps(failed)]) + "\n")
    res = run_cli(capsys, "submit", str(run), "--name", "i", "--out-dir", str(lb))
    assert res.code == 2 and "not complete" in res.err and "--resume" in res.err

    (lb).mkdir(exist_ok=True)
    (lb / "dataset.json").write_text(json.dumps({"repo_id": "vidbench/demo", "revision": "v0"}))
    other = vidbench.evaluate("random", "demo", runs_dir=tmp_path / "runs2").run_dir
    res = run_cli(capsys, "submit", str(other), "--name", "o", "--out-dir", str(lb))
    assert (
        res.code == 2 and "not the leaderboard's dataset" in res.err and "--revision v0" in res.err
    )
