"""Leaderboards: reference columns first, significance recomputed, everything escaped."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.test_scoring import make_sample
from vidbench import runs
from vidbench.contracts import (
    DatasetInfo,
    DifferencePrediction,
    Judgement,
    MethodInfo,
    Metrics,
    PredictionRecord,
    SelectionConfig,
    Status,
    Usage,
)
from vidbench.errors import UserError
from vidbench.leaderboard import build_leaderboards, columns
from vidbench.reported import REPORTED_CLOSED, SCORED_ITEMS
from vidbench.scoring import score_closed, score_localization, score_open
from vidbench.stats import binomial_p_greater

EVIL = '<script>alert("x")</script> | pipe'


def write_run(root: Path, name: str, metrics: Metrics, method: MethodInfo, judge=None) -> Path:
    """A run folder written by the run writers (typed manifest, no hand-written JSON); the
    end-to-end test in test_golden.py writes one through the real eval loop instead."""
    run = root / name
    run.mkdir(parents=True)
    manifest = runs.build_manifest(
        method=method,
        mode=metrics.mode,
        dataset=DatasetInfo(
            kind="hub",
            repo_id="jmhb/VidDiffBench",
            revision="abc123",
            folder="/data",
            split="all",
            selection=SelectionConfig(),
            n_samples=30,
            split_samples=40,
        ),
        judge=judge,
    )
    metrics.usage = Usage(calls=3, cost_usd=1.234)
    runs.write_model(run / runs.MANIFEST, manifest)
    runs.write_model(run / runs.METRICS, metrics)
    return run


def make_runs(root: Path) -> list[Path]:
    samples = [
        make_sample(f"e{i}", {"0": "a", "1": "b"}, "fitness_0", retrieval=({"0": [4]}, {"0": [8]}))
        for i in range(20)
    ]
    samples += [make_sample(f"h{i}", {"0": "a"}, "music_0") for i in range(10)]
    preds = {
        s.key: {"0": DifferencePrediction("", "a"), "1": DifferencePrediction("", "b")}
        for s in samples
    }
    records = [
        PredictionRecord(s.key, "closed", Status.OK, preds[s.key], localization={"0": ([4], [10])})
        for s in samples
    ]
    closed = score_closed(samples, preds, records=records, n_resamples=100)
    closed.localization = score_localization(samples, records)
    opened = score_open(
        samples,
        preds,
        {
            s.key: Judgement(
                sample_key=s.key, status="ok", matches={"0": "0"}, opposite={"0": False}
            )
            for s in samples
        },
        n_resamples=100,
    )
    return [
        write_run(
            root,
            "run_closed",
            closed,
            MethodInfo(name=EVIL, config={"model": "m-1"}, link="javascript:alert(1)"),
        ),
        write_run(
            root,
            "run_oracle",
            closed,
            MethodInfo(name="oracle-frames", uses_ground_truth=True),
        ),
        write_run(root, "run_open", opened, MethodInfo(name="opener"), judge="gpt-4o-2024-08-06"),
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_closed_csv_columns_rows_and_statsig(tmp_path):
    runs = make_runs(tmp_path / "runs")
    out = build_leaderboards(runs, tmp_path / "lb", include_partial=True)
    header = (tmp_path / "lb" / "closed.csv").read_text().splitlines()[0].split(",")
    assert header[:10] == [
        "model_name",
        "model_link",
        "Easy",
        "Med",
        "Hard",
        "Average",
        "statsig-easy",
        "statsig-med",
        "statsig-hard",
        "statsig-avg",
    ]
    assert header == columns("closed")
    rows = read_csv(out["closed"])
    assert len(rows) == len(REPORTED_CLOSED) + 2
    gpt = next(r for r in rows if r["model_name"] == "GPT-4o")
    assert (gpt["Easy"], gpt["Average"], gpt["source"]) == ("58.3", "53.5", "reported")
    # Recomputed from 58.3% of 357 and 48.9% of 871.
    assert gpt["statsig-easy"] == str(binomial_p_greater(round(0.583 * 357), 357) < 0.05) == "True"
    assert gpt["statsig-hard"] == "False" and gpt["n-easy"] == str(SCORED_ITEMS["easy"])
    mine = next(r for r in rows if r["model_name"].startswith("<script>"))
    # easy 40/40, medium absent, hard 10/10: Average 100.0 (mean of present splits).
    assert (mine["Easy"], mine["Med"], mine["Hard"], mine["Average"]) == (
        "100.0",
        "",
        "100.0",
        "100.0",
    )
    assert mine["statsig-easy"] == "True" and mine["statsig-med"] == ""
    assert mine["source"] == "reproduced" and mine["oracle"] == "False"
    assert (mine["dataset_revision"], mine["cost_usd"], mine["coverage"]) == (
        "abc123",
        "1.2340",
        "30/40",
    )
    assert mine["date"] == datetime.now(timezone.utc).date().isoformat()
    oracle = next(r for r in rows if r["oracle"] == "True")
    assert "[oracle: uses ground truth]" in oracle["model_name"]
    # Ranked rows (the published ones here) first, best Average first; the partial runs after
    # them (coverage 30/40), marked and without a rank.
    full = [r for r in rows if not r["status"].startswith("partial")]
    partial = [r for r in rows if r["status"].startswith("partial")]
    assert rows == full + partial and len(partial) == 2
    assert [r["rank"] for r in full] == [str(i) for i in range(1, len(full) + 1)]
    assert all(r["rank"] == "" and "30 of 40 samples answered" in r["status"] for r in partial)
    averages = [float(r["Average"]) for r in full]
    assert averages == sorted(averages, reverse=True)


def test_open_csv_and_localization(tmp_path):
    out = build_leaderboards(make_runs(tmp_path / "runs"), tmp_path / "lb", include_partial=True)
    rows = read_csv(out["open"])
    assert "statsig-easy" not in rows[0]
    opener = next(r for r in rows if r["model_name"] == "opener")
    assert opener["judge"] == "gpt-4o-2024-08-06" and opener["Easy"] == "50.0"
    assert opener["precision"] == "50.0"  # 20 of 40 easy predictions + 10 of 20 hard correct
    loc = read_csv(out["localization"])
    both = next(
        r
        for r in loc
        if r["split"] == "overall"
        and r["video"] == "both"
        and r["model_name"] == "oracle-frames [oracle: uses ground truth]"
    )
    # video A exact, video B 2 frames at 8 fps = 0.25 s off: mean 0.125 s.
    assert both["n"] == "40" and both["mean_abs_s"] in ("0.12", "0.13")
    assert both["within_0.5s"] == "100.0"


def test_everything_escaped_and_deterministic(tmp_path):
    runs = make_runs(tmp_path / "runs")
    out = build_leaderboards(runs, tmp_path / "lb", include_partial=True)
    page = out["html"].read_text()
    assert page.count("<script>") == 1 and "&lt;script&gt;" in page  # only the page's sort script
    assert 'href="javascript:' not in page  # only http(s) links become anchors
    assert '<a href="https://openai.com/index/hello-gpt-4o/">' in page
    md = out["readme"].read_text()
    assert "\\| pipe" in md  # a | in a cell must not split the markdown table
    first = {k: p.read_bytes() for k, p in out.items()}
    again = build_leaderboards(list(reversed(runs)), tmp_path / "lb", include_partial=True)
    assert {k: p.read_bytes() for k, p in again.items()} == first


def test_missing_metrics_is_user_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    with pytest.raises(UserError) as info:
        build_leaderboards([run], tmp_path / "lb")
    # An empty manifest (an older vidbench's, say) names the file and the first missing field.
    assert info.value.where == str(run / "manifest.json")
    assert "vidbench_version" in str(info.value)


def test_stale_metrics_field_is_user_error(tmp_path):
    run = make_runs(tmp_path / "runs")[0]
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["splits"]["easy"]["acc"] = metrics["splits"]["easy"].pop("accuracy")
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(UserError) as info:
        build_leaderboards([run], tmp_path / "lb")
    assert info.value.where == str(run / "metrics.json")
    assert "splits.easy" in str(info.value)


def test_extra_results_rows(tmp_path):
    extra = tmp_path / "extra.json"
    extra.write_text(
        json.dumps(
            [
                {
                    "mode": "closed",
                    "model_name": "Other",
                    "model_link": "",
                    "easy": 60,
                    "medium": 55,
                    "hard": 50,
                    "average": 55,
                }
            ]
        )
    )
    out = build_leaderboards([], tmp_path / "lb", [extra])
    other = next(r for r in read_csv(out["closed"]) if r["model_name"] == "Other")
    assert other["source"] == "external" and other["Average"] == "55.0"
    assert "localization" not in out
