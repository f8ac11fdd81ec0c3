"""Run files from another vidbench: refused with the file and the field named, exit 2, nothing
lost; the typed readers and writers round-trip."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_cli
from vidbench import runs
from vidbench.contracts import ClosedMetrics, Manifest, RunConfig


def eval_demo(capsys, tmp_path: Path) -> Path:
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "random",
        "--dataset",
        "demo",
        "--limit",
        "2",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert res.code == 0, res.err
    return next((tmp_path / "runs").iterdir())


def test_typed_files_round_trip(capsys, tmp_path):
    run = eval_demo(capsys, tmp_path)
    config = runs.read_model(run / runs.CONFIG, RunConfig)
    manifest = runs.read_model(run / runs.MANIFEST, Manifest)
    metrics = runs.read_metrics(run / runs.METRICS)
    assert isinstance(metrics, ClosedMetrics) and metrics.coverage.ok == 2
    assert config.method == manifest.method.name == "random"
    assert manifest.dataset.n_samples == 2 and manifest.dataset.split_samples == 12
    for name, model in ((runs.CONFIG, config), (runs.MANIFEST, manifest)):
        assert json.loads((run / name).read_text()) == model.model_dump(mode="json")


def test_old_config_refused_on_resume(capsys, tmp_path):
    run = eval_demo(capsys, tmp_path)
    config = json.loads((run / runs.CONFIG).read_text())
    config["registry_name"] = config.pop("method")  # a field an older vidbench might write
    (run / runs.CONFIG).write_text(json.dumps(config))
    before = (run / runs.PREDICTIONS).read_bytes()
    res = run_cli(capsys, "eval", "--resume", str(run), "--no-progress")
    assert res.code == 2
    assert "config.json" in res.err and "'method'" in res.err and "Traceback" not in res.err
    assert (run / runs.PREDICTIONS).read_bytes() == before  # nothing already written is lost


def test_old_metrics_refused_by_leaderboard(capsys, tmp_path):
    run = eval_demo(capsys, tmp_path)
    metrics = json.loads((run / runs.METRICS).read_text())
    del metrics["coverage"]
    (run / runs.METRICS).write_text(json.dumps(metrics))
    res = run_cli(
        capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
    )
    assert res.code == 2
    assert "metrics.json" in res.err and "'coverage'" in res.err and "Traceback" not in res.err


def test_old_prediction_record_refused_torn_last_line_ignored(capsys, tmp_path):
    run = eval_demo(capsys, tmp_path)
    log = runs.RecordLog(run / runs.PREDICTIONS)
    lines = (run / runs.PREDICTIONS).read_text().splitlines()
    (run / runs.PREDICTIONS).write_text("\n".join([*lines, '{"sample_key": "to']) + "\n")
    assert len(log.read()) == 2  # a torn last line is a crash's trace: ignored
    old = json.loads(lines[0])
    old["state"] = old.pop("status")
    (run / runs.PREDICTIONS).write_text("\n".join([json.dumps(old), lines[1]]) + "\n")
    res = run_cli(capsys, "score", str(run))
    assert res.code == 2 and "line 1" in res.err and "status" in res.err
