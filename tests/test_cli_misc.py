"""CLI paths not covered elsewhere: validate/score on prediction files, method plugins and
config files, a run against a faulty server, and `data download` failures."""

import json
import sys
import textwrap
import zipfile

import pytest

from tests.cli_helpers import run_cli
from tests.openai_server import Fault
from vidbench.dataset import load_benchmark


def _truth_predictions() -> dict:
    """Closed predictions equal to the demo's labels (a/b items), 'a' for the 'c' items."""
    preds = {}
    for s in load_benchmark("demo").samples:
        preds[s.key] = {
            k: {
                "description": d.description,
                "prediction": d.label if d.label in ("a", "b") else "a",
            }
            for k, d in s.differences.items()
            if d.askable
        }
    return preds


def test_validate_and_score_a_clean_file(capsys, tmp_path):
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(_truth_predictions()))
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 0 and "valid" in res.out
    assert "checked against dataset demo" in res.err and "--dataset" in res.err
    res = run_cli(capsys, "validate", str(path), "--mode", "closed", "--dataset", "demo")
    assert res.code == 0 and "checked against" not in res.err
    out = tmp_path / "m.json"
    res = run_cli(capsys, "score", str(path), "--mode", "closed", "--out", str(out))
    assert res.code == 0, res.err
    assert "checked against dataset demo" in res.err
    metrics = json.loads(out.read_text())
    assert metrics["pooled"] == 1.0 and metrics["average"] == 1.0


def test_validate_lists_every_problem_with_where(capsys, tmp_path):
    preds = _truth_predictions()
    first, second = list(preds)[:2]
    preds["not_a_sample"] = {"0": "a"}
    preds[first]["0"] = {"description": "x", "prediction": "maybe"}
    preds[second]["999"] = "a"
    del preds[list(preds)[2]]
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 2
    for needle in ("not_a_sample", "maybe", "999", "no predictions for this sample"):
        assert needle in res.err, needle
    res = run_cli(capsys, "score", str(path), "--mode", "closed")
    assert res.code == 2 and "problem" in res.err and "Traceback" not in res.err


def test_malformed_json_gives_line_and_column(capsys, tmp_path):
    path = tmp_path / "preds.json"
    path.write_text('{"a": {"0": "a"},\n  "b": {"0": "a",}}')
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 2 and "line 2" in res.err and "column" in res.err


def test_reference_list_format_is_converted_with_warning(capsys, tmp_path):
    samples = load_benchmark("demo").samples
    truth = _truth_predictions()
    path = tmp_path / "list.json"
    path.write_text(json.dumps([truth[s.key] for s in samples]))
    res = run_cli(capsys, "validate", str(path), "--mode", "closed")
    assert res.code == 0 and "position" in res.err


def test_method_from_entry_point_and_yaml_config(capsys, tmp_path, monkeypatch):
    (tmp_path / "plugin_mod.py").write_text(
        textwrap.dedent("""
        from vidbench.contracts import (DifferencePrediction, FrameSpec, Method, MethodConfig,
                                        MethodOutput)

        class Config(MethodConfig):
            answer: str = "a"

        class Always(Method):
            name = "always"
            summary = "answers one letter"
            Config = Config
            modes = ("closed",)

            def frame_spec(self, info):
                return FrameSpec(num_frames=1, max_side=16)

            def closed(self, task, llm):
                return MethodOutput({k: DifferencePrediction(v, self.config.answer)
                                     for k, v in task.statements.items()})
    """)
    )
    dist = tmp_path / "plugin_mod-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-mod\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vidbench.methods]\nalways = plugin_mod:Always\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = run_cli(capsys, "methods")
    assert "always" in res.out
    config = tmp_path / "always.yaml"
    config.write_text("answer: b\n")
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "always",
        "--method-config",
        str(config),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert res.code == 0, res.err
    run = next((tmp_path / "runs").iterdir())
    records = [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]
    assert {p["prediction"] for r in records for p in r["predictions"].values()} == {"b"}
    config.write_text("answr: b\n")
    res = run_cli(capsys, "eval", "--method", "always", "--method-config", str(config))
    assert res.code == 2 and "answr" in res.err
    sys.modules.pop("plugin_mod", None)


def test_run_against_a_faulty_server_completes(capsys, tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("VIDBENCH_LLM_BACKOFF_S", "0.01")
    calls = {"n": 0}

    def flaky(body):
        calls["n"] += 1
        if calls["n"] % 3 == 1:
            return Fault.rate_limit(retry_after="0") if calls["n"] % 2 else Fault.server_error()
        return json.dumps(
            {k: "a" for k in body["response_format"]["json_schema"]["schema"]["properties"]}
        )

    openai_server.respond_with(flaky)
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "lmm",
        "-M",
        "model=openai/flaky",
        "-M",
        f"api_base={openai_server.base_url}",
        "-M",
        "max_images=2",
        "-M",
        "over_budget=subsample",
        "--runs-dir",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
        "--max-concurrency",
        "2",
    )
    assert res.code == 0, res.err
    run = next(tmp_path.glob("*-lmm-closed"))
    records = [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" for r in records)
    assert calls["n"] > len(records)  # the faults were really served and retried


def test_data_download_offline_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = run_cli(capsys, "data", "download", "--video-root", str(tmp_path / "v"))
    assert res.code == 2
    assert "videos_fitness.zip" in res.err and "viddiff/VidDiffBench" in res.err
    assert "Traceback" not in res.err
    # A local-cache miss offline is not a wrong file name; the fix names today's `hf` command.
    assert "not in that repo" not in res.err and "local Hugging Face cache" in res.err
    assert "hf download" in res.err and "huggingface-cli" not in res.err


def test_archive_extraction_refuses_path_escape(tmp_path):
    from vidbench.datatools import extract_archive
    from vidbench.errors import UserError

    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("fitness/a/frame_000.jpg", b"x")
    extract_archive(good, tmp_path / "root")
    assert (tmp_path / "root" / "fitness" / "a" / "frame_000.jpg").is_file()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.txt", b"x")
    with pytest.raises(UserError, match="escape"):
        extract_archive(bad, tmp_path / "root")
    assert not (tmp_path / "escape.txt").exists()


def test_gated_sources_note_names_take_count():
    from vidbench.datatools import gated_sources_note

    note = gated_sources_note(__import__("pathlib").Path("/videos"))
    assert "98 takes" in note and "egoexo" in note and "FineDiving" in note


def test_score_into_never_overwrites_an_eval_run(capsys, tmp_path):
    import vidbench

    path = tmp_path / "preds.json"
    path.write_text(json.dumps(_truth_predictions()))
    run = vidbench.evaluate("random", "demo", runs_dir=tmp_path / "runs").run_dir
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    res = run_cli(capsys, "score", str(path), "--mode", "closed", "--into", str(run))
    assert res.code == 2 and "already holds a run" in res.err and "--into" in res.err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    # a folder an earlier `score --into` wrote may be rewritten
    sub = tmp_path / "sub"
    for _ in range(2):
        res = run_cli(capsys, "score", str(path), "--mode", "closed", "--into", str(sub))
        assert res.code == 0, res.err
