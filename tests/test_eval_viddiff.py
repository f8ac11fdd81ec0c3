"""`vidbench eval --method viddiff` through the CLI on the demo benchmark: the registry, the
harness, the tiny CLIP model, the local server as proposer/differencer/judge, and the oracle
ablation flagged from manifest to leaderboard."""

import csv
import json
import re
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

pytest.importorskip("torch")
pytest.importorskip("open_clip")

STAGES = ["setup", "descent", "bottom", "ascent"]


def respond(body: dict) -> str:
    fmt = body["response_format"]["json_schema"]
    text = json.dumps(body["messages"])
    if "matches" in fmt["schema"].get("properties", {}):  # the open-set judge
        user = body["messages"][-1]["content"]
        reference = json.loads(user.split("G (reference statements):\n", 1)[1].split("\n\nP (")[0])
        return json.dumps(
            {
                "matches": [
                    {"gt_key": k, "pred_key": "0" if i == 0 else None, "opposite": False}
                    for i, k in enumerate(reference)
                ]
            }
        )
    if fmt["name"] == "viddiff_differences":
        return json.dumps(
            {
                "differences": [
                    {"name": "depth", "description": "deeper squat", "num_frames": "1"},
                    {"name": "speed", "description": "faster descent", "num_frames": "gt_1"},
                ]
            }
        )
    if fmt["name"] == "viddiff_plan":
        ids = re.findall(r'- id \\"([^"\\]+)\\"', text)
        return json.dumps(
            {
                "stages": [
                    {
                        "name": s,
                        "description": f"the {s}",
                        "captions": [f"A photo of a person in the {s} {j}" for j in range(5)],
                    }
                    for s in STAGES
                ],
                "links": [
                    {"difference": k, "stages": [STAGES[i % len(STAGES)]], "num_frames": "1"}
                    for i, k in enumerate(ids)
                ],
            }
        )
    assert fmt["name"] == "viddiff_answer"
    return json.dumps({"reasoning": "compared the frames", "answer": "a"})


def _viddiff(server, localizer: str) -> list[str]:
    return [
        "--method",
        "viddiff",
        "-M",
        "preset=vidbench",  # the scripted server answers the merged proposer call
        "-M",
        "proposer_model=openai/proposer",
        "-M",
        "differencer_model=openai/vlm",
        "-M",
        f"api_base={server.base_url}",
        "-M",
        "clip_model=viddiff-tiny",
        "-M",
        "clip_pretrained=null",
        "-M",
        "clip_device=cpu",
        "-M",
        "clip_workers=1",
        "-M",
        f"localizer={localizer}",
        "--no-progress",
        "--action",
        "fitness_0",
        "--limit",
        "2",
    ]


def _run_dir(out: str) -> Path:
    return Path(
        [l for l in out.splitlines() if l.startswith("run folder:")][-1].split(":", 1)[1].strip()
    )


@pytest.mark.parametrize("localizer", ["viterbi", "oracle"])
def test_viddiff_closed_through_the_cli(capsys, tmp_path, openai_server, localizer):
    openai_server.respond_with(respond)
    res = run_cli(capsys, "eval", *_viddiff(openai_server, localizer), "--runs-dir", str(tmp_path))
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    records = [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records), records
    for r in records:
        assert set(r["localization"]) == set(r["predictions"])
        # Every localised frame is also recorded as a timestamp: index / the video's own rate.
        assert set(r["localization_seconds"]) == set(r["localization"])
        for v in range(2):
            pairs = [
                (i, t)
                for k, frames in r["localization"].items()
                for i, t in zip(frames[v], r["localization_seconds"][k][v])
            ]
            i_max, t_max = max(pairs)
            rate = i_max / t_max if t_max else 1.0  # one rate per video
            assert all(abs(i / rate - t) < 1e-3 for i, t in pairs)
        assert r["details"]["transcript"] and r["usage"]["calls"] >= 1 + len(r["predictions"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert "localization" in metrics
    assert (metrics["oracle"] is not None) is (localizer == "oracle")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"]["uses_ground_truth"] is (localizer == "oracle")
    if localizer == "oracle":
        # Items without ground-truth frames are counted and explained in metrics and report.
        missing = {
            (r["sample_key"], item.split(":")[0])
            for r in records
            for item in r["details"]["oracle_fallback"]
        }
        oracle = metrics["oracle"]
        assert oracle["items"] == sum(len(r["predictions"]) for r in records)
        assert oracle["items_without_ground_truth"] == len(missing)
        assert "uniform" in oracle["fallback"]
        assert "had no ground-truth frames" in (run / "report.md").read_text()
        res = run_cli(
            capsys, "leaderboard", str(run), "--out-dir", str(tmp_path / "lb"), "--include-partial"
        )
        assert res.code == 0, res.err
        rows = list(csv.DictReader(open(tmp_path / "lb" / "closed.csv")))
        ours = [r for r in rows if r["source"] == "reproduced"]
        assert len(ours) == 1 and ours[0]["oracle"] == "True" and "oracle" in ours[0]["model_name"]


def test_viddiff_open_is_judged(capsys, tmp_path, openai_server):
    openai_server.respond_with(respond)
    res = run_cli(
        capsys,
        "eval",
        *_viddiff(openai_server, "uniform"),
        "--mode",
        "open",
        "--judge-protocol",
        "single",
        "--judge",
        "openai/judge",
        "--judge-api-base",
        openai_server.base_url,
        "--runs-dir",
        str(tmp_path),
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    records = [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" and len(r["predictions"]) == 2 for r in records)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "open" and metrics["judge_failures"] == 0
    assert metrics.get("localization") is None  # open-mode keys are not ground-truth keys


def test_oracle_refuses_open_mode(capsys, tmp_path):
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "viddiff",
        "-M",
        "localizer=oracle",
        "--mode",
        "open",
        "--runs-dir",
        str(tmp_path),
    )
    assert res.code == 2 and "no open mode" in res.err
