"""LLM-backed runs through the real CLI, the real client and a real local server: the LMM
baseline in both modes, the open-set judge, the budget stop and resume, and secrets."""

import json
from pathlib import Path

from tests.cli_helpers import run_cli
from tests.openai_server import Fault

SECRET = "sk-test-SECRET-0123456789"


def answer_everything(body: dict) -> str:
    """A scripted model: closed -> 'a' for every key asked; open -> two differences; judge ->
    match ground truth '0'-like keys to prediction '0'."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    props = schema.get("properties", {})
    if "matches" in props:  # the judge
        user = body["messages"][-1]["content"]
        reference = user.split("G (reference statements):\n", 1)[1].split("\n\nP (", 1)[0]
        gt_keys = list(json.loads(reference))
        return json.dumps(
            {
                "matches": [
                    {"gt_key": k, "pred_key": "0" if i == 0 else None, "opposite": False}
                    for i, k in enumerate(gt_keys)
                ]
            }
        )
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


def _run_dir(out: str) -> Path:
    return Path(
        [l for l in out.splitlines() if l.startswith("run folder:")][-1].split(":", 1)[1].strip()
    )


def _lmm(server) -> list[str]:
    return [
        "--method",
        "lmm",
        "-M",
        "model=openai/test-vlm",
        "-M",
        f"api_base={server.base_url}",
        "-M",
        "max_images=4",
        "-M",
        "max_side=64",
        "-M",
        "preset=vidbench",  # subsample to the cap, JPEG (the paper preset refuses)
        "--no-progress",
    ]


def test_lmm_closed_run_sends_frames_and_scores(capsys, tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    openai_server.respond_with(answer_everything)
    res = run_cli(
        capsys,
        "eval",
        *_lmm(openai_server),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--max-concurrency",
        "4",
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    records = [json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" for r in records)
    assert len(openai_server.requests) == len(records)
    # 2 frames of A then 2 of B, each labelled.
    req = openai_server.requests[0]
    assert len(req.image_urls()) == 4
    labels = [t for t in req.texts() if t.startswith("Video ")]
    assert [l.split(",")[0] for l in labels] == ["Video A", "Video A", "Video B", "Video B"]
    # The key travels in the Authorization header only, and never reaches disk or output.
    assert SECRET not in json.dumps(req.body)
    for path in list(run.rglob("*")) + list(Path(tmp_path).rglob("*")):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in res.out + res.err

    # A re-run is served from the cache: no new request.
    before = len(openai_server.requests)
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--runs-dir", str(tmp_path / "runs2"))
    assert res.code == 0 and len(openai_server.requests) == before


def test_open_run_is_judged_and_rescored_from_cache(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_everything)
    judge = [
        "--judge",
        "openai/test-judge",
        "--judge-protocol",
        "single",  # the scripted judge answers the one-call protocol
        "--judge-api-base",
        openai_server.base_url,
    ]
    res = run_cli(
        capsys, "eval", *_lmm(openai_server), "--mode", "open", *judge, "--runs-dir", str(tmp_path)
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    judgements = [json.loads(l) for l in (run / "judgements.jsonl").read_text().splitlines()]
    assert judgements and all(j["status"] == "ok" for j in judgements)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "open"
    for fig in metrics["splits"].values():
        assert 0.0 <= fig["recall"] <= 1.0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["judge"] == "openai/test-judge"

    # `vidbench score RUN` re-judges through the cache: same numbers, no request.
    before = len(openai_server.requests)
    out = tmp_path / "rescored.json"
    res = run_cli(capsys, "score", str(run), "--out", str(out))
    assert res.code == 0, res.err
    assert len(openai_server.requests) == before
    assert json.loads(out.read_text())["splits"] == metrics["splits"]


def test_budget_stops_new_work_and_resume_finishes(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_everything)
    # 100 prompt + 10 completion tokens per reply at $100/M each: $0.011 a call.
    price = ["--price", "openai/test-vlm=100,100"]
    res = run_cli(
        capsys,
        "eval",
        *_lmm(openai_server),
        *price,
        "--max-cost",
        "0.02",
        "--max-concurrency",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert res.code == 4, res.err  # stopped by the budget
    assert "--max-cost MORE" in res.err and "--resume" in res.err
    run = _run_dir(res.out)
    first = (run / "predictions.jsonl").read_text().splitlines()
    assert 1 <= len(first) <= 3
    res = run_cli(
        capsys,
        "eval",
        "--resume",
        str(run),
        "--no-progress",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert res.code == 0, res.err
    manifest = json.loads((run / "manifest.json").read_text())
    final = (run / "predictions.jsonl").read_text().splitlines()
    assert len(final) == manifest["dataset"]["n_samples"]


def test_api_failures_become_statuses(capsys, tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("VIDBENCH_LLM_BACKOFF_S", "0.01")
    openai_server.respond_with(lambda body: Fault.bad_request("model does not exist", 404))
    res = run_cli(
        capsys,
        "eval",
        *_lmm(openai_server),
        "--limit",
        "2",
        "--runs-dir",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert res.code == 3, res.err  # finished with failed samples
    assert "2 api_error" in res.err and "vidbench eval --resume" in res.err
    records = [
        json.loads(l) for l in (_run_dir(res.out) / "predictions.jsonl").read_text().splitlines()
    ]
    assert [r["status"] for r in records] == ["api_error", "api_error"]
    assert all(r["predictions"] == {} for r in records)
    metrics = json.loads((_run_dir(res.out) / "metrics.json").read_text())
    assert metrics["pooled"] == 0.0 and metrics["coverage"]["ok"] == 0


def test_dry_run_counts_images_and_makes_no_call(capsys, openai_server):
    res = run_cli(
        capsys, "eval", *_lmm(openai_server), "--dry-run", "--price", "openai/test-vlm=1,1"
    )
    assert res.code == 0, res.err
    assert "lmm-closed" in res.out and "estimated cost" in res.out
    assert openai_server.requests == []


def test_image_limits_checked_up_front(capsys, tmp_path):
    res = run_cli(
        capsys,
        "eval",
        "--method",
        "lmm",
        "-M",
        "model=gpt-4o-2024-08-06",
        "-M",
        "max_images=600",
        "--dry-run",
    )
    assert res.code == 2 and "at most 500 images" in res.err
    # A method whose plan exceeds a provider's limit is flagged by the dry run.
    method = tmp_path / "greedy.py"
    method.write_text(
        "from vidbench.contracts import Method, MethodOutput, PlannedCall\n"
        "class Greedy(Method):\n"
        "    modes = ('closed',)\n"
        "    def closed(self, task, llm):\n"
        "        return MethodOutput({})\n"
        "    def plan(self, info, mode, n, frames):\n"
        "        return [PlannedCall('compare', 'anthropic/claude-3-5-sonnet-20241022',"
        " images=150)]\n"
    )
    res = run_cli(capsys, "eval", "--method", f"{method}:Greedy", "--dry-run")
    assert res.code == 0, res.err
    assert "limit problem" in res.out and "accepts 100" in res.out


def test_bad_price_is_a_user_error(capsys):
    res = run_cli(capsys, "eval", "--method", "random", "--price", "model-without-numbers")
    assert res.code == 2 and "MODEL=IN,OUT" in res.err


def test_manifest_command_line_never_keeps_a_key(monkeypatch):
    import sys

    from vidbench.runs import redacted_command

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setattr(
        sys, "argv", ["vidbench", "eval", "-M", "api_key=sk-live-abcdef123456", "--judge", SECRET]
    )
    command = redacted_command()
    assert SECRET not in command and "sk-live-abcdef123456" not in command
    assert command.startswith("vidbench eval")
