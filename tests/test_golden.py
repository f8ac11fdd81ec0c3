"""Golden outputs: fixed predictions (and a fixed scripted judge for the open set) in, byte-exact
metrics.json, report.md and leaderboards/*.csv out, compared with the files in tests/golden/.

Regenerate after an intended change of an output format or of a number:

    VIDBENCH_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

then review the diff of tests/golden/ like code. What varies between machines and days (the
vidbench version, git commit, creation time, date) is replaced by placeholders before comparing;
run folders are passed as relative paths so no absolute path is written.

Also here: a run written by the real eval loop (`vidbench eval`, LMM method against the local
OpenAI-compatible server) read back through `vidbench leaderboard`, every column filled.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

import vidbench
from tests.cli_helpers import run_cli
from vidbench import runs
from vidbench.contracts import Manifest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("VIDBENCH_UPDATE_GOLDEN") == "1"


def normalise(text: str, manifest: Manifest) -> str:
    """Replace what differs between machines and days with placeholders."""
    for value, placeholder in (
        (manifest.created, "<created>"),
        (manifest.created[:10], "<date>"),
        (manifest.git_commit, "<commit>"),
        (f"vidbench {vidbench.__version__}", "vidbench <version>"),
        (f",{vidbench.__version__},", ",<version>,"),
    ):
        if value:
            text = text.replace(value, placeholder)
    return text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} missing: run with VIDBENCH_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from tests/golden/{name}; if the change is intended, regenerate with "
        "VIDBENCH_UPDATE_GOLDEN=1 and review the diff"
    )


def scripted_judge(body: dict) -> str:
    """A fixed judge: the i-th reference statement matches the i-th predicted one, while both
    lists last; every third match is flagged opposite."""
    user = body["messages"][-1]["content"]
    reference, predicted = user.split("G (reference statements):\n", 1)[1].split("\n\nP (", 1)
    gt_keys = list(json.loads(reference))
    pred_keys = list(json.loads(predicted.split(":\n", 1)[1]))
    return json.dumps(
        {
            "matches": [
                {
                    "gt_key": k,
                    "pred_key": pred_keys[i] if i < len(pred_keys) else None,
                    "opposite": i < len(pred_keys) and i % 3 == 2,
                }
                for i, k in enumerate(gt_keys)
            ]
        }
    )


def score_into(capsys, mode: str, *extra: str) -> Path:
    run = Path(f"{mode}_run")
    res = run_cli(
        capsys,
        "score",
        str(GOLDEN / f"{mode}_predictions.json"),
        "--mode",
        mode,
        "--dataset",
        "demo",
        "--into",
        str(run),
        "--name",
        f"golden-{mode}",
        *extra,
    )
    assert res.code == 0, res.err
    return run


def test_golden_metrics_report_and_leaderboards(capsys, tmp_path, monkeypatch, openai_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-golden-0000000000")
    openai_server.respond_with(scripted_judge)
    judge = ["--judge", "openai/golden-judge", "--judge-api-base", openai_server.base_url]
    judge += ["--judge-protocol", "single"]  # the scripted judge answers the one-call protocol
    folders = [
        score_into(capsys, "closed"),
        score_into(capsys, "open", *judge, "--cache-dir", str(tmp_path / "cache")),
    ]
    for run in folders:
        manifest = runs.read_model(run / runs.MANIFEST, Manifest)
        for name in (runs.METRICS, runs.REPORT):
            text = normalise((run / name).read_text(encoding="utf-8"), manifest)
            check_golden(f"{run.name}_{name}", text)
    res = run_cli(capsys, "leaderboard", *map(str, folders), "--out-dir", "lb", "--include-partial")
    assert res.code == 0, res.err
    for mode in ("closed", "open"):
        text = (tmp_path / "lb" / f"{mode}.csv").read_text(encoding="utf-8")
        manifest = runs.read_model(folders[0] / runs.MANIFEST, Manifest)
        check_golden(f"leaderboard_{mode}.csv", normalise(text, manifest))


def lmm_and_judge(body: dict) -> str:
    """The LMM method's replies (every statement 'a'; two open differences) and the judge's."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    props = schema.get("properties", {})
    if "matches" in props:
        return scripted_judge(body)
    if "differences" in props:
        return json.dumps(
            {
                "differences": [
                    {"description": "deeper squat", "prediction": "a"},
                    {"description": "wider stance", "prediction": "b"},
                ]
            }
        )
    return json.dumps({k: "a" for k in props})


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_eval_run_read_back_by_the_leaderboard(capsys, tmp_path, monkeypatch, openai_server, mode):
    """No hand-written manifest: `vidbench eval` writes the run, `vidbench leaderboard` reads it,
    and every column the leaderboard prints is filled (judge: open set only)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-e2e-0000000000")
    openai_server.respond_with(lmm_and_judge)
    server = openai_server.base_url
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "gpt-4o",
        "-M",
        f"api_base={server}",
        "-M",
        "max_images=4",
        "-M",
        "max_side=64",
        "-M",
        "over_budget=subsample",  # 4 frames: subsample instead of the paper's refusal
        "--mode",
        mode,
        "--dataset",
        "demo",
        "--split",
        "easy",
        "--limit",
        "2",
        "--judge",
        "gpt-4o-2024-08-06",
        "--judge-protocol",
        "single",
        "--judge-api-base",
        server,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    )
    assert res.code == 0, res.err
    run = next((tmp_path / "runs").iterdir())
    res = run_cli(
        capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
    )
    assert res.code == 0, res.err
    with open(tmp_path / "lb" / f"{mode}.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["source"] == "reproduced")
    empty = {k for k, v in row.items() if v == ""}
    # Easy only was run, so Med and Hard (and their n/ci/statsig) are legitimately empty.
    expected_empty = {c for c in row if c.endswith(("Med", "Hard", "-med", "-hard"))}
    expected_empty.add("rank")  # a demo run is partial: shown with --include-partial, never ranked
    if mode == "closed":
        expected_empty.add("judge")
    assert empty == expected_empty, row
    assert row["status"].startswith("partial: the built-in demo dataset")
    assert row["report"].endswith("report.md")
    assert row["model_link"] == "https://openai.com/index/hello-gpt-4o/"
    assert row["dataset"] == "vidbench/demo" and row["dataset_revision"]
    assert row["coverage"].startswith("2/") and float(row["cost_usd"]) > 0
    if mode == "open":
        assert row["judge"] == "gpt-4o-2024-08-06"
