"""`vidbench judge-agreement`: a finished open run re-judged by the paper's protocol through the
CLI, against the loopback server (hand-computed kappa cases are in test_judge.py)."""

from __future__ import annotations

import json

from tests.cli_helpers import run_cli
from tests.test_eval_llm import _lmm, _run_dir, answer_everything


def paper_or_single(body: dict) -> str:
    """The single judge and the paper judge, scripted to make the same matches: the first
    ground-truth statement of a sample goes to prediction "0", never an opposite."""
    user = body["messages"][-1]["content"]
    if isinstance(user, str) and "Reference statements (G), by key:" in user:
        reference = user.split("Reference statements (G), by key:\n", 1)[1].split("\n\n", 1)[0]
        keys = list(json.loads(reference))
        return json.dumps(
            {
                "matches": [
                    {"gt_key": k, "pred_key": "0" if i == 0 else "None"} for i, k in enumerate(keys)
                ]
            }
        )
    if isinstance(user, str) and "pairs of statements" in user:
        n = len(json.loads(user.split("\n\n")[1]))
        return json.dumps({"results": ["0"] * n})
    return answer_everything(body)


def test_judge_agreement_of_a_finished_run(capsys, tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-agreement-000000")
    openai_server.respond_with(paper_or_single)
    judge = ["--judge-protocol", "single", "--judge-api-base", openai_server.base_url]
    res = run_cli(
        capsys, "eval", *_lmm(openai_server), "--mode", "open", *judge, "--runs-dir", str(tmp_path)
    )
    assert res.code == 0, res.err
    run = _run_dir(res.out)
    requests_before = len(openai_server.requests)

    out = tmp_path / "agreement.json"
    res = run_cli(capsys, "judge-agreement", str(run), "--with", "paper", "--out", str(out))
    assert res.code == 0, res.err
    result = json.loads(out.read_text())
    assert result["run_judge"] == "gpt-4o-2024-08-06"
    assert result["other_judge"] == "paper: gpt-4o-2024-08-06 + gpt-4o-mini"
    assert result["pair_agreement"] == 1.0 and result["match_kappa"] == 1.0
    assert result["recall_difference"] == 0.0 and result["recall_difference_95"] == [0.0, 0.0]
    assert "Cohen's kappa 1.000" in res.out
    # The paper's protocol really ran: matching calls and opposite checks at the server.
    models = {r.body["model"] for r in openai_server.requests[requests_before:]}
    assert models == {"gpt-4o-2024-08-06", "gpt-4o-mini"}


def test_judge_agreement_refuses_a_closed_run(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_everything)
    res = run_cli(capsys, "eval", *_lmm(openai_server), "--runs-dir", str(tmp_path))
    run = _run_dir(res.out)
    res = run_cli(capsys, "judge-agreement", str(run), "--with", "single")
    assert res.code == 2 and "open-set" in res.err and "Traceback" not in res.err
