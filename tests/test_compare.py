"""`vidbench compare`: discordant counts, exact McNemar and the paired interval on real run
folders; open-set runs compared through their judgements; configuration warnings."""

from __future__ import annotations

import json
import math

import pytest

import vidbench
from tests.cli_helpers import run_cli
from tests.test_eval_llm import answer_everything
from vidbench.compare import compare_runs
from vidbench.contracts import DifferencePrediction, FrameSpec, Method, MethodOutput


class Truth(Method):
    """Answers the ground truth (read from the demo by key): right on every scored item."""

    name = "truth"
    modes = ("closed",)
    labels: dict[str, dict[str, str]] = {}

    def frame_spec(self, info):  # the trivial methods' spec, so only the method differs
        return FrameSpec(num_frames=1, max_side=64)

    def closed(self, task, llm):
        known = self.labels[task.info.key]
        return MethodOutput(
            {k: DifferencePrediction(s, known.get(k, "a")) for k, s in task.statements.items()}
        )


@pytest.fixture(scope="module")
def demo_labels():
    bench = vidbench.load_benchmark("demo")
    return {s.key: dict(s.scored_labels()) for s in bench.samples}


def test_truth_vs_constant_a_counts_and_mcnemar(tmp_path, demo_labels, capsys):
    Truth.labels = demo_labels
    truth = vidbench.evaluate(Truth, "demo", runs_dir=tmp_path)
    const = vidbench.evaluate("constant-a", "demo", runs_dir=tmp_path)
    result = compare_runs(truth.run_dir, const.run_dir)

    n_b = sum(v == "b" for labels in demo_labels.values() for v in labels.values())
    n = sum(len(labels) for labels in demo_labels.values())
    pooled = result["pooled"]
    assert (pooled["n"], pooled["only_a_right"], pooled["only_b_right"]) == (n, n_b, 0)
    assert pooled["difference"] == pytest.approx(n_b / n)
    assert pooled["p_mcnemar"] == pytest.approx(min(1.0, 2 * 0.5**n_b))
    lo, hi = pooled["interval"]
    assert 0 < lo <= pooled["difference"] <= hi <= 1
    assert set(result["splits"]) == {"easy", "medium", "hard"}
    assert sum(b["n"] for b in result["splits"].values()) == n
    assert result["warnings"] == []  # same dataset, same frame spec

    res = run_cli(capsys, "compare", str(truth.run_dir), str(const.run_dir))
    assert res.code == 0, res.err
    assert "McNemar p" in res.out and "pooled" in res.out and "truth" in res.out
    res = run_cli(capsys, "compare", str(const.run_dir), str(truth.run_dir), "--json")
    flipped = json.loads(res.out)["pooled"]
    assert flipped["only_a_right"] == 0 and flipped["difference"] == pytest.approx(-n_b / n)


class TruthAtOneFps(Truth):
    def frame_spec(self, info):
        return FrameSpec(fps=1.0, max_side=64)


def test_only_shared_samples_are_compared_and_spec_changes_warn(tmp_path, demo_labels):
    Truth.labels = demo_labels
    full = vidbench.evaluate(Truth, "demo", runs_dir=tmp_path)
    part = vidbench.evaluate(TruthAtOneFps, "demo", split="hard", runs_dir=tmp_path)
    result = compare_runs(full.run_dir, part.run_dir)
    assert list(result["splits"]) == ["hard"]
    assert result["pooled"]["only_a_right"] == result["pooled"]["only_b_right"] == 0
    assert result["pooled"]["p_mcnemar"] is None
    assert any("frame spec differs on" in w for w in result["warnings"])


def test_open_runs_compare_through_judgements(tmp_path, openai_server, capsys):
    openai_server.respond_with(answer_everything)
    judge = {
        "judge": "openai/test-judge",
        "judge_api_base": openai_server.base_url,
        "judge_protocol": "single",  # what the scripted judge answers
    }
    one = vidbench.evaluate("random", "demo", mode="open", runs_dir=tmp_path, **judge)
    two = vidbench.evaluate("random", "demo", mode="open", runs_dir=tmp_path, seed=1, **judge)
    result = compare_runs(one.run_dir, two.run_dir)
    assert result["mode"] == "open" and result["pooled"]["p_mcnemar"] is None
    for run, rate in ((one, "rate_a"), (two, "rate_b")):
        assert math.isclose(result["pooled"][rate], run.metrics.pooled)
    (two.run_dir / "judgements.jsonl").unlink()
    res = run_cli(capsys, "compare", str(one.run_dir), str(two.run_dir))
    assert res.code == 2 and "vidbench score" in res.err

    closed = vidbench.evaluate("random", "demo", runs_dir=tmp_path)
    res = run_cli(capsys, "compare", str(one.run_dir), str(closed.run_dir))
    assert res.code == 2 and "closed-set" in res.err
