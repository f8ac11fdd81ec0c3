"""The open-set judge: one-to-one matching enforced in code, failures recorded, never aborting.

The first tests use a scripted in-process session to pin the matching rules; the last ones run
the judge through the real LLMClient against the loopback OpenAI-compatible server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.openai_server import Fault, Reply
from tests.test_scoring import make_sample
from vidbench.cache import Cache
from vidbench.contracts import DifferencePrediction, Usage
from vidbench.errors import ApiError, ParseError
from vidbench.judge import (
    DEFAULT_JUDGE_MODEL,
    Judge,
    Judgement,
    judge_all,
    read_judgements,
    write_judgements,
)
from vidbench.llm import LLMClient
from vidbench.scoring import score_open


class ScriptedSession:
    """An LLMSession returning scripted decoded replies; mimics the client's retry/re-ask (3
    attempts, then ParseError). An Exception instance in the script is raised."""

    def __init__(self, replies: list[Any], calls: list[dict[str, Any]]):
        self.replies, self.calls, self.usage = replies, calls, Usage()

    def complete(self, *a: Any, **k: Any):  # pragma: no cover - the judge never uses it
        raise NotImplementedError

    def complete_json(self, model, messages, schema, parse, **params):
        for _ in range(3):
            self.calls.append({"model": model, "messages": messages, "schema": schema, **params})
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            try:
                return parse(reply)
            except ValueError:
                continue
        raise ParseError("no valid JSON answer after 3 attempts")


def scripted_judge(*replies: Any) -> tuple[Judge, list[dict[str, Any]]]:
    script, calls = list(replies), []
    return Judge(lambda: ScriptedSession(script, calls)), calls


def M(gt: str, pred: str | None, opposite: bool = False) -> dict[str, Any]:
    return {"gt_key": gt, "pred_key": pred, "opposite": opposite}


def P(desc: str, pred: str = "a") -> DifferencePrediction:
    return DifferencePrediction(desc, pred)


SAMPLE = make_sample("fitness_1", {"2": "a", "10": "b", "3": "c", "4": None}, max_differences=4)
PREDS = {"0": P("knees bend more"), "1": P("faster", "b"), "2": P("arms wider")}


def test_duplicate_claims_first_gt_in_numeric_order_wins():
    # "10" is listed first but "2" < "10" numerically, so "2" keeps prediction "0".
    judge, _ = scripted_judge({"matches": [M("10", "0", True), M("2", "0"), M("3", "1")]})
    j = judge.match(SAMPLE, PREDS)
    assert j.status == "ok"
    assert j.matches == {"2": "0", "3": "1", "10": None}
    assert j.opposite == {"2": False, "3": False, "10": False}
    assert any("already matched" in d for d in j.dropped)


def test_invented_keys_and_repeats_dropped_and_logged():
    judge, _ = scripted_judge(
        {"matches": [M("99", "0"), M("2", "7"), M("10", "1", True), M("10", "2")]}
    )
    j = judge.match(SAMPLE, PREDS)
    assert j.matches == {"2": None, "3": None, "10": "1"}
    assert j.opposite["10"] is True
    dropped = " ".join(j.dropped)
    assert "invented ground-truth key '99'" in dropped
    assert "invented prediction key '7'" in dropped
    assert "second proposal for ground truth '10'" in dropped


def test_judge_sees_statements_not_labels_and_pool_includes_c():
    judge, calls = scripted_judge({"matches": []})
    judge.match(SAMPLE, PREDS)
    (call,) = calls
    assert call["model"] == DEFAULT_JUDGE_MODEL and call["temperature"] == 0
    user = call["messages"][1]["content"]
    for k in ("2", "3", "10"):  # a, c and b items are in the pool
        assert f"statement {k}" in user
    assert "statement 4" not in user  # null label: not in the pool
    assert "prediction" not in user.lower().replace("predicted statements", "")
    assert "knees bend more" in user


def test_no_predictions_no_call():
    judge, calls = scripted_judge()
    j = judge.match(SAMPLE, {})
    assert calls == [] and j.status == "ok" and set(j.matches.values()) == {None}


def test_cap_and_empty_descriptions_never_shown():
    s = make_sample("s", {"0": "a"}, max_differences=2)
    judge, calls = scripted_judge({"matches": [M("0", "2")]})
    j = judge.match(s, {"0": P(" "), "1": P("one"), "2": P("two")})
    # "2" is beyond the cap (keys 0, 1 kept), "0" is empty: only "1" is shown, "2" is invented.
    assert "two" not in calls[0]["messages"][1]["content"]
    assert j.matches == {"0": None}
    assert any("beyond the pair's limit" in d for d in j.dropped)
    assert any("empty description" in d for d in j.dropped)


def test_structural_errors_reasked_then_failure_recorded():
    judge, calls = scripted_judge(
        {"nope": 1}, {"matches": [{"gt_key": "2"}]}, {"matches": [M("2", "0", "yes")]}
    )  # type: ignore[arg-type]
    j = judge.match(SAMPLE, PREDS)
    assert len(calls) == 3
    assert j.status == "judge_failure" and "ParseError" in j.error
    assert set(j.matches.values()) == {None}


def test_api_error_recorded_and_judge_all_continues():
    other = make_sample("fitness_2", {"0": "a"})
    judge, _ = scripted_judge(ApiError("HTTP 500"), {"matches": [M("0", "0")]})
    out = judge_all(
        [SAMPLE, other], {"fitness_1": PREDS, "fitness_2": {"0": P("x")}}, judge, max_workers=1
    )
    assert out["fitness_1"].status == "judge_failure" and "ApiError" in out["fitness_1"].error
    assert out["fitness_2"].matches == {"0": "0"}


def test_judgements_round_trip_jsonl(tmp_path):
    judge, _ = scripted_judge({"matches": [M("2", "0", True)]})
    j = judge.match(SAMPLE, PREDS)
    path = tmp_path / "judgements.jsonl"
    write_judgements(path, [j])
    back = read_judgements(path)["fitness_1"]
    assert back == j and back.model_dump(mode="json") == json.loads(path.read_text())


# ---------------------------------------------------------------- through the real client

MODEL = "openai/judge-test"


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge-0000000000")
    return LLMClient(Cache(tmp_path / "cache"), backoff_base_s=0.01, timeout_s=10)


def real_judge(client, server) -> Judge:
    return Judge(client.session, model=MODEL, api_base=server.base_url)


def test_real_client_bad_replies_normalised(client, openai_server):
    # Duplicate matches and invented keys in an otherwise valid reply: fixed in code, no re-ask.
    reply = {"matches": [M("10", "0"), M("2", "0", True), M("3", "9"), M("77", "1")]}
    openai_server.script(json.dumps(reply))
    j = real_judge(client, openai_server).match(SAMPLE, PREDS)
    assert len(openai_server.requests) == 1
    assert j.matches == {"2": "0", "3": None, "10": None} and j.opposite["2"] is True
    assert len(j.dropped) == 3
    body = openai_server.requests[0].body
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert "statement 3" in body["messages"][1]["content"]


def test_real_client_invalid_json_reasked_then_cached(client, openai_server):
    good = json.dumps({"matches": [M("2", "1"), M("10", "2", True)]})
    openai_server.script("this is {not json", Reply('{"matches": [{"gt_key": 2}]}'), good)
    j = real_judge(client, openai_server).match(SAMPLE, PREDS)
    assert j.status == "ok" and j.matches == {"2": "1", "3": None, "10": "2"}
    assert len(openai_server.requests) == 3
    # The re-ask shows the model the error of its previous reply.
    assert "could not be used" in openai_server.requests[2].body["messages"][-1]["content"]
    # Scored: gt 2 ('a') matched to pred 1 ('b') -> wrong direction; gt 10 ('b') matched to pred
    # 2 ('a') flagged opposite -> flipped to 'b' -> right.
    m = score_open([SAMPLE], {"fitness_1": PREDS}, {"fitness_1": j}, n_resamples=50)
    assert m.pooled == 0.5 and m.wrong_direction_rate == 0.5
    # A second run is served from the cache: no request.
    again = real_judge(client, openai_server).match(SAMPLE, PREDS)
    assert again.matches == j.matches and len(openai_server.requests) == 3
    assert again.usage.cached_calls == 1


def test_real_client_failure_never_aborts(client, openai_server):
    other = make_sample("fitness_2", {"0": "a"})

    def respond(body):
        # The failing sample always gets garbage; the other a valid answer.
        if "knees bend more" in body["messages"][1]["content"]:
            return "not json at all"
        return json.dumps({"matches": [M("0", "0")]})

    openai_server.respond_with(respond)
    out = judge_all(
        [SAMPLE, other],
        {"fitness_1": PREDS, "fitness_2": {"0": P("x")}},
        real_judge(client, openai_server),
        max_workers=2,
    )
    assert out["fitness_1"].status == "judge_failure" and "ParseError" in out["fitness_1"].error
    assert out["fitness_2"].status == "ok" and out["fitness_2"].matches == {"0": "0"}
    assert len(openai_server.requests) == 4  # 3 attempts for the failure, 1 for the other
    m = score_open(
        [SAMPLE, other], {"fitness_1": PREDS, "fitness_2": {"0": P("x")}}, out, n_resamples=50
    )
    assert m.judge_failures == 1 and m.pooled == pytest.approx(1 / 3)


def test_real_client_http_error_is_judge_failure(client, openai_server):
    openai_server.script(Fault.bad_request("nope"))
    j = real_judge(client, openai_server).match(SAMPLE, PREDS)
    assert j.status == "judge_failure" and "ApiError" in j.error
    assert isinstance(Judgement.model_validate(j.model_dump(mode="json")), Judgement)


def test_real_client_garbage_body_is_judge_failure(client, openai_server):
    # A broken proxy answering HTTP 200 with HTML, every time: recorded, not raised.
    client.max_attempts = 2  # retried as a server error; two attempts keep the test quick
    openai_server.respond_with(lambda body: Fault.garbage())
    j = real_judge(client, openai_server).match(SAMPLE, PREDS)
    assert j.status == "judge_failure" and "ApiError" in j.error
    assert len(openai_server.requests) == 2


# ---------------------------------------------------------------- the paper's two-step protocol

from vidbench.agreement import cohen_kappa, compare  # noqa: E402
from vidbench.judge import PaperJudge, judge_label, judge_models, make_judge  # noqa: E402

BIG = make_sample(
    "fitness_3",
    {str(k): ("a", "b", "c")[k % 3] for k in range(9)} | {"9": None},
    max_differences=12,
)
BIG_PREDS = {str(k): P(f"prediction {k}", "ab"[k % 2]) for k in range(8)}


def test_paper_protocol_two_steps_at_the_server(client, openai_server):
    def respond(body):
        name = body["response_format"]["json_schema"]["name"]
        if body["model"] == "test-match":
            # gt k -> pred k for k < 8; gt 8 unmatched ("None" as the paper's prompt spells it)
            matches = [{"gt_key": str(k), "pred_key": str(k)} for k in range(8)]
            return json.dumps({"matches": matches + [{"gt_key": "8", "pred_key": "None"}]})
        assert body["model"] == "test-mini", name
        n = len(json.loads(body["messages"][0]["content"].split("\n\n")[1]))
        return json.dumps({"results": ["1"] + ["0"] * (n - 1)})  # first pair of each batch

    openai_server.respond_with(respond)
    judge = PaperJudge(
        client.session,
        model="openai/test-match",
        opposite_model="openai/test-mini",
        api_base=openai_server.base_url,
    )
    j = judge.match(BIG, BIG_PREDS)
    bodies = [r.body for r in openai_server.requests]
    # Step 1 matches; step 2 checks the 8 matched pairs in batches of 6 and 2, in key order.
    assert [b["model"] for b in bodies] == ["test-match", "test-mini", "test-mini"]
    batches = [json.loads(b["messages"][0]["content"].split("\n\n")[1]) for b in bodies[1:]]
    assert [len(x) for x in batches] == [6, 2]
    assert batches[1][0] == ["statement 6", "prediction 6"]
    assert {b["temperature"] for b in bodies} == {1} and {b["seed"] for b in bodies} == {0}
    assert "visually similar" in bodies[0]["messages"][0]["content"]
    assert "statement 9" not in bodies[0]["messages"][0]["content"]  # unlabelled: not in the pool
    assert j.status == "ok" and j.matches["8"] is None
    assert j.matches == {**{str(k): str(k) for k in range(8)}, "8": None}
    assert [k for k, v in j.opposite.items() if v] == ["0", "6"]  # the first of each batch
    assert len(j.replies) == 3


def test_paper_protocol_enforces_one_to_one_and_checks_the_batch_length(client, openai_server):
    replies = iter(
        [
            json.dumps(
                {"matches": [{"gt_key": "2", "pred_key": "0"}, {"gt_key": "10", "pred_key": "0"}]}
            ),
            json.dumps({"results": ["0", "1"]}),  # two values for one pair: re-asked
            json.dumps({"results": ["1"]}),
        ]
    )
    openai_server.respond_with(lambda body: next(replies))
    judge = PaperJudge(
        client.session, "openai/m", opposite_model="openai/mini", api_base=openai_server.base_url
    )
    j = judge.match(SAMPLE, PREDS)
    assert j.matches == {"2": "0", "3": None, "10": None}  # "10" lost the doubly-claimed "0"
    assert j.opposite == {"2": True, "3": False, "10": False}
    assert any("already matched" in d for d in j.dropped)


def test_protocol_models_and_labels():
    assert judge_models("paper", None) == ["gpt-4o-2024-08-06", "gpt-4o-mini"]
    assert judge_models("single", "x") == ["x"]
    assert judge_label("paper", None) == "paper: gpt-4o-2024-08-06 + gpt-4o-mini"
    assert isinstance(make_judge("paper", lambda: None), PaperJudge)  # type: ignore[arg-type,return-value]
    assert isinstance(make_judge("single", lambda: None), Judge)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="protocol"):
        make_judge("three-step", lambda: None)  # type: ignore[arg-type,return-value]


# ---------------------------------------------------------------- judge agreement


def test_kappa_by_hand():
    # 4 decisions: raters agree on 3; rates 1/2 and 1/4 -> chance 1/2 -> kappa (3/4 - 1/2) / (1/2)
    assert cohen_kappa([True, False, False, True], [True, False, False, False]) == 0.5
    assert cohen_kappa([True, True], [True, True]) == 1.0
    assert cohen_kappa([], []) is None


def J(key: str, matches: dict, opposite: dict) -> Judgement:
    return Judgement(sample_key=key, status="ok", matches=matches, opposite=opposite)


def test_agreement_of_two_scripted_judges_by_hand():
    one = make_sample("fitness_5", {"0": "a", "1": "b"})
    two = make_sample("fitness_6", {"0": "a", "1": "c"})
    preds = {
        "fitness_5": {"0": P("x", "a"), "1": P("y", "b")},
        "fitness_6": {"0": P("z", "b")},
    }
    # Judge A: fitness_5 0->0, 1->1; fitness_6 0->0 flagged opposite (b flipped to a: right).
    first = {
        "fitness_5": J("fitness_5", {"0": "0", "1": "1"}, {"0": False, "1": False}),
        "fitness_6": J("fitness_6", {"0": "0", "1": None}, {"0": True, "1": False}),
    }
    # Judge B: fitness_5 0->0 only; fitness_6 1->0 (a 'c' item: never scored).
    second = {
        "fitness_5": J("fitness_5", {"0": "0", "1": None}, {"0": False, "1": False}),
        "fitness_6": J("fitness_6", {"0": None, "1": "0"}, {"0": False, "1": False}),
    }
    out = compare([one, two], preds, first, second)
    # Pairs: fitness_5 (0,0) (0,1) (1,0) (1,1) -> A T F F T, B T F F F;
    #        fitness_6 (0,0) (1,0)             -> A T F,     B F T.
    # Agreement 3/6; A matches 3/6, B 2/6 -> chance 1/2*1/3 + 1/2*2/3 = 1/2 -> kappa 0.
    assert out["n_pairs"] == 6 and out["pair_agreement"] == 0.5
    assert out["match_kappa"] == pytest.approx(0.0)
    # Scored a/b items: 3. A gets all 3 right; B only fitness_5 "0".
    assert out["recall_run"] == 1.0 and out["recall_other"] == pytest.approx(1 / 3)
    assert out["recall_difference"] == pytest.approx(-2 / 3)
    lo, hi = out["recall_difference_95"]
    assert -1.0 <= lo <= -2 / 3 <= hi <= -0.5
