"""Feedback while it works: --version, run.log in the run folder (stages, failures, the end),
progress bars only when the CLI asks for them."""

from __future__ import annotations

import json
from pathlib import Path

import vidbench
from tests.cli_helpers import run_cli
from vidbench import feedback


def test_version(capsys):
    res = run_cli(capsys, "--version")
    assert res.code == 0 and res.out.strip() == f"vidbench {vidbench.__version__}"


def test_run_log_records_stages_failures_and_the_end(capsys, tmp_path):
    res = run_cli(capsys, "eval", "--split", "easy", "--no-progress", "--runs-dir", str(tmp_path))
    assert res.code == 0, res.err
    run = Path(res.out.rsplit("run folder: ", 1)[1].split()[0])
    text = (run / "run.log").read_text()
    assert "running 4 of 4 samples" in text and "scoring" in text and "done: 4 records" in text

    # A sample that fails on resume-able grounds is named in the log of the run that saw it.
    record = json.loads((run / "predictions.jsonl").read_text().splitlines()[0])
    bad = {**record, "status": "api_error", "error": "HTTP 500 from the server"}
    with open(run / "predictions.jsonl", "a") as fh:
        fh.write(json.dumps(bad) + "\n")
    res = run_cli(capsys, "eval", "--no-progress", "--resume", str(run))
    assert res.code == 0, res.err
    text = (run / "run.log").read_text()
    assert "running 1 of 4 samples (3 done before)" in text
    assert text.count("done: 4 records") == 2


def test_bars_only_when_the_cli_turns_progress_on(capsys):
    assert list(feedback.bar(range(3), 3, "judging")) == [0, 1, 2]
    assert "judging" not in capsys.readouterr().err
    with feedback.progress_on(True):
        feedback.stage("loading dataset demo")
        assert list(feedback.bar(range(3), 3, "judging")) == [0, 1, 2]
    assert "judging" in capsys.readouterr().err
    assert list(feedback.bar(range(2), 2, "judging")) == [0, 1]  # off again after
    assert "judging" not in capsys.readouterr().err


def test_score_run_writes_the_run_folders_metrics_as_the_leaderboard_hint_says(capsys, tmp_path):
    run = vidbench.evaluate("random", "demo", runs_dir=tmp_path).run_dir
    before = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()
    (run / "report.md").unlink()
    res = run_cli(
        capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
    )
    assert res.code == 2 and "vidbench score" in res.err
    res = run_cli(capsys, "score", str(run))
    assert res.code == 0, res.err
    assert json.loads((run / "metrics.json").read_text())["splits"] == before["splits"]
    assert (run / "report.md").is_file()
    res = run_cli(
        capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
    )
    assert res.code == 0, res.err

    # Scored on another split: printed, the run's own metrics untouched.
    res = run_cli(capsys, "score", str(run), "--split", "easy")
    assert res.code == 0 and "easy" in res.out
    assert json.loads((run / "metrics.json").read_text())["splits"] == before["splits"]


def test_the_localizers_embedding_shows_a_bar_when_progress_is_on(capsys):
    import pytest

    pytest.importorskip("open_clip")
    from tests.test_localizer import TINY, _videos
    from vidbench_methods.viddiff import embedder

    clip = embedder.load_clip(TINY, None, "cpu")
    video = _videos()[0]
    with feedback.progress_on(True):
        with_bar = embedder.embed_video(clip, video, range(0, 48, 2), workers=1)
    assert "embedding frames" in capsys.readouterr().err
    without = embedder.embed_video(clip, video, range(0, 48, 2), workers=1)
    assert "embedding frames" not in capsys.readouterr().err
    assert (with_bar == without).all()


class _WithModel(vidbench.Method):
    """A method whose options name a model, as every LMM's do."""

    name = "with-model"
    modes = ("closed",)

    class Config(vidbench.MethodConfig):
        model: str = "openai/some-vlm-2025"

    def closed(self, task, llm):
        answer = vidbench.DifferencePrediction
        return vidbench.MethodOutput({k: answer(s, "a") for k, s in task.statements.items()})


def test_report_and_terminal_name_the_model_and_show_localisation(capsys, tmp_path):
    run = vidbench.evaluate(_WithModel, "demo", runs_dir=tmp_path).run_dir
    report = (run / "report.md").read_text()
    assert report.splitlines()[0] == "# with-model (openai/some-vlm-2025) - closed set"
    res = run_cli(capsys, "score", str(run))
    assert res.out.splitlines()[0] == (
        "with-model (openai/some-vlm-2025) - closed set on vidbench/demo @ demo-v1"
    )
    assert "## Localisation" not in report

    # Records that chose frames (as VidDiff's do) get a localisation section once scored.
    bench = vidbench.load_benchmark("demo")
    with_truth = {s.key: s for s in bench.samples if any(s.retrieval_frames[0].values())}
    lines = []
    for line in (run / "predictions.jsonl").read_text().splitlines():
        record = json.loads(line)
        sample = with_truth.get(record["sample_key"])
        if sample is not None:
            keys = [k for k, f in sample.retrieval_frames[0].items() if f]
            record["localization"] = {k: [[0], [0]] for k in keys}
        lines.append(json.dumps(record))
    (run / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    assert run_cli(capsys, "score", str(run)).code == 0
    report = (run / "report.md").read_text()
    assert "## Localisation" in report and "within 0.5 s %" in report and "| overall |" in report
    res = run_cli(
        capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
    )
    assert res.code == 0, res.err
    page = (tmp_path / "lb" / "index.html").read_text()
    assert "Localisation: distance to the ground-truth key frame" in page


def test_open_set_tables_have_no_chance_or_majority_columns(capsys, tmp_path, openai_server):
    from tests.test_eval_llm import answer_everything

    openai_server.respond_with(answer_everything)
    run = vidbench.evaluate(
        "random",
        "demo",
        mode="open",
        runs_dir=tmp_path,
        judge="openai/test-judge",
        judge_protocol="single",
        judge_api_base=openai_server.base_url,
    )
    assert "p vs 0.5" not in run.summary() and "majority %" not in run.summary()
    assert "recall %" in (run.run_dir / "report.md").read_text()
    assert "p vs 0.5" not in (run.run_dir / "report.md").read_text()
    closed = vidbench.evaluate("random", "demo", runs_dir=tmp_path)
    assert "p vs 0.5" in closed.summary()
