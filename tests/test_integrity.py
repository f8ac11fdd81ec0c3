"""Numbers you can trust: cache identity, the cache commands, secrets by value, --timeout, exit
codes and the raw evidence of every call, through the real CLI and real loopback servers."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.openai_server import Fault, OpenAIServer, Reply
from vidbench.cache import use_cache_dir
from vidbench.secrets import (
    normalise_endpoint,
    redact,
    redact_text,
    register_url,
    strip_url_credentials,
)

SECRET = "sk-test-SECRET-0123456789"
PASSWORD = "hunter2-Pa55word"


def _run_dir(out: str) -> Path:
    line = [line for line in out.splitlines() if line.startswith("run folder:")][-1]
    return Path(line.split(":", 1)[1].strip())


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]


def answer_all(letter: str):
    """A scripted model answering `letter` for every statement it is asked about."""

    def respond(body: dict) -> str:
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        return json.dumps({k: letter for k in schema.get("properties", {})})

    return respond


def lmm(base_url: str, *extra: str) -> list[str]:
    return [
        "--method",
        "lmm",
        "-M",
        "model=openai/test-vlm",
        "-M",
        f"api_base={base_url}",
        "-M",
        "max_images=2",
        "-M",
        "max_side=32",
        "-M",
        "preset=vidbench",  # subsample to the cap (the paper preset refuses over 150 frames)
        "--no-progress",
        *extra,
    ]


@pytest.fixture
def second_server():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _quick(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDBENCH_LLM_BACKOFF_S", "0.01")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    use_cache_dir(tmp_path / "cache")  # the process-wide cache, as `--cache-dir` sets it


# -- cache identity ------------------------------------------------------------------------------


def test_one_model_name_on_two_servers_gives_two_results(
    capsys, tmp_path, openai_server, second_server
):
    openai_server.respond_with(answer_all("a"))
    second_server.respond_with(answer_all("b"))
    # One at a time, so that two samples asking the same question hit the cache the same way.
    runs = ["--runs-dir", str(tmp_path / "runs"), "--limit", "4", "--max-concurrency", "1"]
    first = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs)
    second = run_cli(capsys, "eval", *lmm(second_server.base_url), *runs)
    assert first.code == second.code == 0, first.err + second.err
    asked = len(openai_server.requests)
    assert asked >= 3 and len(second_server.requests) == asked  # no cross-server hit
    answers = [
        {p["prediction"] for r in _records(_run_dir(res.out)) for p in r["predictions"].values()}
        for res in (first, second)
    ]
    assert answers == [{"a"}, {"b"}]
    # The same server again: every answer from the cache, counted in the run's usage.
    again = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs)
    assert again.code == 0 and len(openai_server.requests) == asked
    usage = json.loads((_run_dir(again.out) / "metrics.json").read_text())["usage"]
    assert usage["calls"] == usage["cached_calls"] == 4


def test_cache_refresh_calls_again_and_off_never_stores(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_all("a"))
    runs = ["--runs-dir", str(tmp_path / "runs"), "--limit", "2"]
    assert run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs).code == 0
    assert len(openai_server.requests) == 2
    # refresh: asked again and the new answer overwrites the old one.
    openai_server.respond_with(answer_all("b"))
    res = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs, "--cache", "refresh")
    assert res.code == 0 and len(openai_server.requests) == 4
    res = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs)
    assert len(openai_server.requests) == 4  # served from the refreshed cache...
    preds = {
        p["prediction"] for r in _records(_run_dir(res.out)) for p in r["predictions"].values()
    }
    assert preds == {"b"}  # ...with the refreshed answer
    # off: asks every time and writes nothing.
    cache_dir = ["--cache-dir", str(tmp_path / "other-cache")]
    for _ in range(2):
        res = run_cli(
            capsys, "eval", *lmm(openai_server.base_url), *runs, *cache_dir, "--cache", "off"
        )
        assert res.code == 0, res.err
    assert len(openai_server.requests) == 8
    res = run_cli(capsys, "cache", "info", *cache_dir)
    assert "openai/test-vlm" not in res.out
    assert run_cli(capsys, "eval", *lmm(openai_server.base_url), "--cache", "maybe").code == 2


def test_cache_info_and_clear(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_all("a"))
    runs = ["--runs-dir", str(tmp_path / "runs"), "--limit", "3"]
    assert run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs).code == 0
    info = run_cli(capsys, "cache", "info")
    assert info.code == 0
    assert str(tmp_path / "cache") in info.out
    model_line = [line for line in info.out.splitlines() if line.startswith("openai/test-vlm")]
    assert model_line and model_line[0].split()[1] == "3"
    # Nothing is older than a day; another model's answers are untouched.
    assert "removed 0 entries" in run_cli(capsys, "cache", "clear", "--older-than", "1d").out
    assert "removed 0 entries" in run_cli(capsys, "cache", "clear", "--model", "gpt-x").out
    res = run_cli(capsys, "cache", "clear", "--model", "openai/test-vlm")
    assert "removed 3 entries" in res.out
    info = run_cli(capsys, "cache", "info")
    assert "openai/test-vlm" not in info.out
    assert run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs).code == 0
    assert len(openai_server.requests) == 6  # cleared answers are asked again
    res = run_cli(capsys, "cache", "clear", "--older-than", "0s")
    assert res.code == 0 and "removed 0 entries" not in res.out
    assert "0 entries" in run_cli(capsys, "cache", "info").out
    assert run_cli(capsys, "cache", "clear", "--older-than", "soon").code == 2


# -- secrets -------------------------------------------------------------------------------------


def test_url_and_key_helpers():
    assert strip_url_credentials("https://u:p@h.io:8443/v1?key=K&x=1") == "https://h.io:8443/v1?x=1"
    assert strip_url_credentials("http://h/v1") == "http://h/v1"
    assert normalise_endpoint("HTTP://u:p@LOCALHOST:80/v1/") == "http://localhost/v1"
    assert normalise_endpoint(None) is None
    cleaned = redact(
        {
            "max_tokens": 256,
            "token_budget": 9,
            "api_key": "abcd1234",
            "judge_api_key": "efgh5678",
            "api_base": "http://u:pw@h/v1?api_key=zz",
            "key": "3",
        }
    )
    assert cleaned == {
        "max_tokens": 256,
        "token_budget": 9,
        "api_key": "<redacted>",
        "judge_api_key": "<redacted>",
        "api_base": "http://h/v1",
        "key": "3",
    }
    assert redact_text("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer <redacted>"
    assert redact_text("{'authorization': 'xyz'}") == "{'authorization': '<redacted>'}"
    assert redact_text("sent Bearer abc123def456") == "sent Bearer <redacted>"
    prose = "max_tokens=256, a token budget, basic authentication"
    assert redact_text(prose) == prose
    # A URL's password is a secret everywhere; its user name is not (it may name paths, models).
    register_url("http://soak:Secret-Pass-1@h/v1")
    assert redact_text("openai/soak-model in /tmp/soak") == "openai/soak-model in /tmp/soak"
    assert redact_text("echoed Secret-Pass-1") == "echoed <redacted>"


def test_secrets_never_reach_a_run_folder_or_the_cache(capsys, tmp_path, openai_server):
    """Password in -M api_base and --judge-api-base, a key in the environment, a server that
    echoes the Authorization header it received into its replies and its errors."""
    secret_url = openai_server.base_url.replace("http://", f"http://vbuser:{PASSWORD}@")

    def echo(body: dict) -> str | Fault:
        auth = openai_server.requests[-1].headers.get("Authorization", "")
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        props = schema.get("properties", {})
        if "matches" in props:
            return Fault.bad_request(f"judge rejects header {auth}", 401)
        if "differences" in props:
            return json.dumps(
                {"differences": [{"description": f"heard {auth}", "prediction": "a"}]}
            )
        return json.dumps({k: "a" for k in props})

    openai_server.respond_with(echo)
    res = run_cli(
        capsys,
        "eval",
        *lmm(secret_url, "--mode", "open"),
        "-M",
        "max_tokens=256",
        "--judge",
        "openai/test-judge",
        "--judge-api-base",
        secret_url,
        "--max-concurrency",
        "1",
        "--limit",
        "2",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 0, res.err
    # The credentials did travel, as Basic auth built from the URL.
    sent = openai_server.requests[0].headers.get("Authorization", "")
    assert sent.startswith("Basic ")
    assert base64.b64decode(sent.split()[1]).decode() == f"vbuser:{PASSWORD}"
    run = _run_dir(res.out)
    needles = [PASSWORD, SECRET, sent.split()[1], "vbuser:"]
    for path in list(run.rglob("*")) + list((tmp_path / "cache").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                assert needle.encode() not in data, (path, needle)
    for needle in needles:
        assert needle not in res.out + res.err
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["max_tokens"] == 256  # an option named like a token is kept
    assert config["options"]["api_base"] == openai_server.base_url
    assert config["judge_api_base"] == openai_server.base_url
    judgements = (run / "judgements.jsonl").read_text()
    assert "judge rejects header Basic <redacted>" in judgements


# -- timeout ---------------------------------------------------------------------------------------


def test_timeout_reaches_the_client(capsys, tmp_path, openai_server):
    openai_server.script(*[Fault.slow(3.0)] * 6)
    res = run_cli(
        capsys,
        "eval",
        *lmm(openai_server.base_url),
        "--limit",
        "1",
        "--timeout",
        "0.2",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 3, res.err
    record = _records(_run_dir(res.out))[0]
    assert record["status"] == "api_error" and "Timeout" in record["error"]
    assert len(openai_server.requests) == 6  # every attempt timed out, none waited 3 s to answer


# -- exit codes ------------------------------------------------------------------------------------

FLAKY = textwrap.dedent('''
    from vidbench.contracts import DifferencePrediction, FrameSpec, Method, MethodOutput
    from vidbench.errors import ApiError

    class Flaky(Method):
        """Fails every sample whose hash is divisible by `every`."""
        name = "flaky"
        every = 3

        def frame_spec(self, info):
            return FrameSpec(num_frames=2, max_side=32)

        def closed(self, task, llm):
            if task.info.sample_hash % self.every == 0:
                raise ApiError("scripted outage")
            return MethodOutput({k: DifferencePrediction(v, "a")
                                 for k, v in task.statements.items()})

    CALLS = []

    class Slow(Flaky):
        """Answers the first sample at once, then hangs (run it with --max-concurrency 1)."""
        def closed(self, task, llm):
            CALLS.append(task.info.key)
            if len(CALLS) > 1:
                import time
                time.sleep(120)
            return MethodOutput({k: DifferencePrediction(v, "a")
                                 for k, v in task.statements.items()})
''')


def test_exit_codes_for_failures_and_allow_failures(capsys, tmp_path):
    method = tmp_path / "flaky.py"
    method.write_text(FLAKY)
    args = ["--method", f"{method}:Flaky", "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    res = run_cli(capsys, "eval", *args)
    assert res.code == 3
    run = _run_dir(res.out)
    failed = sum(r["status"] != "ok" for r in _records(run))
    assert 0 < failed < 12
    assert f"{failed} api_error" in res.err and f"{12 - failed} ok" in res.err
    assert f"`vidbench eval --resume {run}`" in res.err
    fraction = failed / 12
    res = run_cli(capsys, "eval", *args, "--allow-failures", f"{fraction + 0.01:.3f}")
    assert res.code == 0, res.err
    res = run_cli(capsys, "eval", *args, "--allow-failures", f"{fraction:.6f}")
    assert res.code == 3  # not below the allowed fraction
    assert run_cli(capsys, "eval", *args, "--allow-failures", "2").code == 2
    # every selected sample ok: 0
    clean = run_cli(capsys, "eval", "--method", "random", "--runs-dir", str(tmp_path / "r2"))
    assert clean.code == 0 and clean.err.count("api_error") == 0


def test_budget_stop_exits_4(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_all("a"))
    res = run_cli(
        capsys,
        "eval",
        *lmm(openai_server.base_url),
        "--price",
        "openai/test-vlm=100,100",
        "--max-cost",
        "0.01",
        "--max-concurrency",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 4
    run = _run_dir(res.out)
    assert "not run" in res.err and f"vidbench eval --resume {run} --max-cost MORE" in res.err


def test_ctrl_c_exits_130_after_saying_what_was_saved(tmp_path):
    method = tmp_path / "slow.py"
    method.write_text(FLAKY)
    env = {**os.environ, "VIDBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidbench.cli", "eval", "--method", f"{method}:Slow"]
        + ["--max-concurrency", "1", "--no-progress", "--runs-dir", str(tmp_path / "runs")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait (without a time limit on the outcome) until a sample is saved and one hangs.
        log = None
        while log is None or not log.read_text().strip():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
            found = list((tmp_path / "runs").glob("*/predictions.jsonl"))
            log = found[0] if found else None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert len(log.read_text().splitlines()) == 1
    assert "interrupted: 1 of 12 sample(s) are saved in" in err
    assert f"vidbench eval --resume {log.parent}" in err
    assert "Traceback" not in err


# -- raw evidence ----------------------------------------------------------------------------------


def test_every_record_keeps_each_calls_raw_reply(capsys, tmp_path, openai_server):
    openai_server.script(Reply("not json at all"))
    openai_server.respond_with(answer_all("b"))
    runs = ["--runs-dir", str(tmp_path / "runs"), "--limit", "2", "--max-concurrency", "1"]
    res = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs)
    assert res.code == 0, res.err
    first, second = _records(_run_dir(res.out))
    # The first sample needed a second attempt: both replies are kept, as received.
    assert [c["text"] for c in first["llm_calls"]][0] == "not json at all"
    assert len(first["llm_calls"]) == 2 and not any(c["cached"] for c in first["llm_calls"])
    assert json.loads(second["llm_calls"][0]["text"]) == {k: "b" for k in second["predictions"]}
    assert all(c["model"] == "openai/test-vlm" and c["cache_key"] for c in first["llm_calls"])
    # A rerun from the cache names the key the answer came from.
    res = run_cli(capsys, "eval", *lmm(openai_server.base_url), *runs)
    again = {r["sample_key"]: r for r in _records(_run_dir(res.out))}
    cached = again[second["sample_key"]]["llm_calls"]
    assert cached[0]["cached"] and cached[0]["cache_key"] == second["llm_calls"][0]["cache_key"]


# -- resume ----------------------------------------------------------------------------------------


def test_resume_reaches_a_restarted_server_and_records_the_change(
    capsys, tmp_path, openai_server, second_server
):
    openai_server.respond_with(lambda body: Fault.server_error(503))  # the server goes down
    second_server.respond_with(answer_all("a"))
    options = ["-M", "max_tokens=256", "-M", "temperature=0.1", "--limit", "3"]
    res = run_cli(
        capsys,
        "eval",
        *lmm(openai_server.base_url, *options),
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 3, res.err
    run = _run_dir(res.out)
    saved = json.loads((run / "config.json").read_text())
    assert saved["options"]["max_tokens"] == 256
    res = run_cli(
        capsys,
        "eval",
        "--resume",
        str(run),
        "-M",
        f"api_base={second_server.base_url}",
        "--max-concurrency",
        "2",
        "--timeout",
        "30",
        "--no-progress",
    )
    assert res.code == 0, res.err
    assert len(second_server.requests) == 3
    assert all(r.body["max_tokens"] == 256 for r in second_server.requests)
    assert all(r["status"] == "ok" for r in _records(run))
    config = json.loads((run / "config.json").read_text())
    assert config == {**saved, "options": {**saved["options"], "api_base": second_server.base_url}}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["run_options"]["max_concurrency"] == 8
    changes = manifest["resumes"][-1]["changes"]
    assert changes["options.api_base"] == [openai_server.base_url, second_server.base_url]
    assert changes["max_concurrency"] == [8, 2] and changes["timeout_s"] == [120.0, 30.0]


def test_resume_refuses_a_changed_definition(capsys, tmp_path, openai_server):
    openai_server.respond_with(lambda body: Fault.bad_request("nope", 404))
    res = run_cli(
        capsys,
        "eval",
        *lmm(openai_server.base_url, "--limit", "2"),
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 3
    run = _run_dir(res.out)
    before = len(openai_server.requests)
    records = (run / "predictions.jsonl").read_text()
    res = run_cli(
        capsys,
        "eval",
        "--resume",
        str(run),
        "-M",
        "model=openai/another-vlm",
        "--mode",
        "open",
        "--split",
        "easy",
    )
    assert res.code == 2
    assert "-M model: saved openai/test-vlm, given openai/another-vlm" in res.err
    assert "--mode: saved closed, given open" in res.err and "--split" in res.err
    assert "Traceback" not in res.err
    assert len(openai_server.requests) == before  # nothing ran
    assert (run / "predictions.jsonl").read_text() == records


def test_every_option_of_every_builtin_method_survives_config_json(tmp_path):
    from vidbench import runs
    from vidbench.contracts import RunConfig
    from vidbench.errors import UserError
    from vidbench.registry import available_methods, build_method

    for name in available_methods():
        try:
            config = build_method(name, {}).config
        except UserError:  # a self-hosted model: it needs its server's URL
            config = build_method(name, {"api_base": "http://127.0.0.1:9/v1"}).config
        options = config.model_dump(mode="json")
        runs.write_model(
            tmp_path / "config.json", RunConfig(method=name, options=options, mode="closed")
        )
        back = runs.read_model(tmp_path / "config.json", RunConfig)
        assert back.options == options, name
        assert build_method(name, back.options).config == config, name


# -- scoring input ---------------------------------------------------------------------------------


def test_answers_other_than_a_b_score_as_wrong_with_warnings(capsys, tmp_path):
    from vidbench.dataset import Selection, load_benchmark

    samples = load_benchmark("demo", None, Selection()).samples
    all_a = {s.key: {k: "a" for k in s.closed_statements()} for s in samples}
    odd = json.loads(json.dumps(all_a))
    first = samples[0]
    odd_keys = list(first.closed_statements())
    for key, answer in zip(odd_keys, ("c", None, "A")):
        odd[first.key][key] = answer
    good_file, odd_file = tmp_path / "good.json", tmp_path / "odd.json"
    good_file.write_text(json.dumps(all_a))
    odd_file.write_text(json.dumps(odd))

    res = run_cli(capsys, "score", str(odd_file), "--mode", "closed", "--out", str(tmp_path / "m"))
    assert res.code == 0, res.err
    shown = [line for line in res.err.splitlines() if "scored as wrong" in line]
    assert len(shown) == min(3, len(odd_keys)) and "'c'" in shown[0]
    metrics = json.loads((tmp_path / "m").read_text())
    assert metrics["input_format"] == "keyed"
    assert [w for w in metrics["warnings"] if "scored as wrong" in w] == [
        line.removeprefix("warning: ") for line in shown
    ]
    # Scored exactly as wrong answers: the same as answering the opposite of the label.
    flipped = json.loads(json.dumps(all_a))
    for key in odd_keys[:3]:
        flipped[first.key][key] = "b" if first.differences[key].label == "a" else "a"
    (tmp_path / "flipped.json").write_text(json.dumps(flipped))
    res = run_cli(capsys, "score", str(tmp_path / "flipped.json"), "--mode", "closed")
    wrong = run_cli(capsys, "score", str(odd_file), "--mode", "closed")
    assert res.out == wrong.out
    # validate prints the same warnings; --strict makes them problems.
    res = run_cli(capsys, "validate", str(odd_file), "--mode", "closed")
    assert res.code == 0 and len([x for x in res.err.splitlines() if "scored as wrong" in x]) == 3
    res = run_cli(capsys, "score", str(odd_file), "--mode", "closed", "--strict")
    assert res.code == 2 and "not 'a' or 'b'" in res.err
    # The reference's list format is recorded as such.
    listed = [all_a[s.key] for s in samples]
    (tmp_path / "list.json").write_text(json.dumps(listed))
    res = run_cli(
        capsys,
        "score",
        str(tmp_path / "list.json"),
        "--mode",
        "closed",
        "--out",
        str(tmp_path / "l"),
    )
    assert res.code == 0 and "list format" in res.err
    assert json.loads((tmp_path / "l").read_text())["input_format"] == "list"


# -- leaderboard admission -------------------------------------------------------------------------


def test_leaderboard_ranks_only_full_runs_of_its_dataset(capsys, tmp_path):
    import csv
    import shutil

    from vidbench.demo import ensure_demo

    folder = tmp_path / "bench"
    shutil.copytree(ensure_demo(), folder)  # the demo's content as a plain Hub-layout folder
    method = tmp_path / "flaky.py"
    method.write_text(FLAKY)
    runs_dir = tmp_path / "runs"

    def run(*args: str) -> Path:
        res = run_cli(capsys, "eval", "--no-progress", "--runs-dir", str(runs_dir), *args)
        assert res.code in (0, 3), res.err
        return _run_dir(res.out)

    demo = run("--method", "random", "--dataset", "demo")
    limited = run("--method", "random", "--dataset", str(folder), "--limit", "3")
    partial = run("--method", f"{method}:Flaky", "--dataset", str(folder))
    old_full = run("--method", "random", "--dataset", str(folder))
    full = run("--method", "random", "--dataset", str(folder))  # same configuration, newer
    other = run("--method", "constant-a", "--dataset", str(folder))
    # Same second: order the two random runs by their manifests' creation time.
    for path, stamp in (
        (old_full, "2026-01-01T00:00:00+00:00"),
        (full, "2026-01-02T00:00:00+00:00"),
    ):
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["created"] = stamp
        (path / "manifest.json").write_text(json.dumps(manifest))
    everything = [demo, limited, partial, old_full, full, other]
    lb = tmp_path / "lb"

    res = run_cli(
        capsys, "leaderboard", *map(str, everything), "--dataset", str(folder), "--out-dir", str(lb)
    )
    assert res.code == 0, res.err
    with open(lb / "closed.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "reproduced"]
    assert sorted(r["run"] for r in rows) == sorted([str(full), str(other)])
    assert all(r["rank"] and r["status"] == "full" for r in rows)
    assert all(r["coverage"] == "12/12" and r["report"].endswith("report.md") for r in rows)
    assert "left out 3 run(s)" in res.err
    assert f"{demo}: partial: the built-in demo dataset" in res.err
    assert f"{limited}: partial: --limit 3" in res.err
    assert f"{partial}: partial:" in res.err and "samples answered" in res.err
    assert f"{old_full}: partial" not in res.err  # full, but superseded by the newer run

    res = run_cli(
        capsys,
        "leaderboard",
        *map(str, everything),
        "--dataset",
        str(folder),
        "--out-dir",
        str(lb),
        "--include-partial",
    )
    with open(lb / "closed.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ranked = [r for r in rows if r["rank"]]
    shown = [r for r in rows if r["source"] == "reproduced"]
    assert {r["run"] for r in shown} == {str(p) for p in (demo, limited, partial, full, other)}
    assert rows[: len(ranked)] == ranked  # every partial row comes after every ranked one
    assert all(r["status"].startswith("partial") for r in rows[len(ranked) :])
    assert {r["run"] for r in ranked if r["source"] == "reproduced"} == {str(full), str(other)}
    # Runs of two revisions are never ranked together: the newest full run's revision wins.
    manifest = json.loads((other / "manifest.json").read_text())
    current = manifest["dataset"]["revision"]
    manifest["dataset"]["revision"], manifest["created"] = "r-old", "2025-01-01T00:00:00+00:00"
    (other / "manifest.json").write_text(json.dumps(manifest))
    res = run_cli(
        capsys, "leaderboard", str(full), str(other), "--dataset", str(folder), "--out-dir", str(lb)
    )
    assert f"{other}: partial: revision r-old, not {current}" in res.err
    # Another revision of the leaderboard's dataset: nothing is full.
    res = run_cli(
        capsys,
        "leaderboard",
        str(full),
        "--dataset",
        str(folder),
        "--revision",
        "v9",
        "--out-dir",
        str(lb),
    )
    assert "revision" in res.err and "left out 1 run(s)" in res.err


def test_score_takes_cache_and_timeout(capsys, tmp_path, openai_server):
    from tests.test_eval_llm import answer_everything

    openai_server.respond_with(answer_everything)
    judge = ["--judge", "openai/test-judge", "--judge-api-base", openai_server.base_url]
    judge += ["--judge-protocol", "single"]  # the scripted server answers the one-call judge
    res = run_cli(
        capsys,
        "eval",
        *lmm(openai_server.base_url, "--mode", "open", "--limit", "2"),
        *judge,
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    asked = len(openai_server.requests)
    assert run_cli(capsys, "score", str(run)).code == 0
    assert len(openai_server.requests) == asked  # the judge's answers come from the cache
    res = run_cli(capsys, "score", str(run), "--cache", "off", "--timeout", "30")
    assert res.code == 0, res.err
    assert len(openai_server.requests) == asked + 2  # judged again, one call per sample
    assert run_cli(capsys, "score", str(run), "--cache", "sometimes").code == 2
