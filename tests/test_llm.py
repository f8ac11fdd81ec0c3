"""vidbench.llm against a real OpenAI-compatible server on loopback (tests/openai_server.py)."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.openai_server import Fault, Reply
from vidbench.cache import Cache
from vidbench.errors import ApiError, BudgetExceeded, ParseError
from vidbench.llm import LLMClient, _hash_data_urls, request_key
from vidbench.messages import image_part, text_part
from vidbench.secrets import redact_text as redact

MODEL = "openai/test-model"  # unknown to litellm's price map
KNOWN = "openai/gpt-4o-2024-08-06"  # priced by litellm's local map
SECRET = "sk-test-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch):
    # The openai client refuses to send a request without some key; this one must never leak.
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def make_client(tmp_path: Path, **kw) -> LLMClient:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("timeout_s", 5)
    return LLMClient(Cache(tmp_path / "cache"), **kw)


def ask(session, server, text="hello", model=MODEL, **params):
    return session.complete(
        model, [{"role": "user", "content": text}], api_base=server.base_url, **params
    )


def parse_ab(value):
    if not isinstance(value, dict) or set(value) != {"0"} or value["0"] not in ("a", "b"):
        raise ValueError(f"expected {{'0': 'a'|'b'}}, got {value!r}")
    return value["0"]


SCHEMA = {
    "type": "object",
    "properties": {"0": {"type": "string", "enum": ["a", "b"]}},
    "required": ["0"],
    "additionalProperties": False,
}


def ask_json(session, server, **params):
    return session.complete_json(
        MODEL,
        [{"role": "user", "content": "which?"}],
        SCHEMA,
        parse_ab,
        api_base=server.base_url,
        **params,
    )


def test_success_records_usage_and_request(tmp_path, openai_server):
    client = make_client(tmp_path)
    session = client.session()
    openai_server.script(Reply("hi there", prompt_tokens=12, completion_tokens=3))
    reply = ask(session, openai_server, temperature=0.0, max_tokens=50)
    assert reply.text == "hi there" and not reply.cached
    assert (session.usage.calls, session.usage.prompt_tokens, session.usage.completion_tokens) == (
        1,
        12,
        3,
    )
    body = openai_server.requests[0].body
    assert body["model"] == "test-model" and body["temperature"] == 0.0 and body["max_tokens"] == 50
    assert client.usage.calls == 1


def test_cache_hit_makes_no_request_and_images_are_hashed(tmp_path, openai_server):
    client = make_client(tmp_path)
    img = np.zeros((16, 16, 3), np.uint8)
    messages = [{"role": "user", "content": [text_part("look"), image_part(img)]}]
    first = client.session().complete(MODEL, messages, api_base=openai_server.base_url)
    s2 = client.session()
    second = s2.complete(MODEL, messages, api_base=openai_server.base_url)
    assert len(openai_server.requests) == 1
    assert second.cached and second.text == first.text == "ok"
    assert (s2.usage.calls, s2.usage.cached_calls, s2.usage.cost_usd) == (1, 1, 0.0)
    # A different image (same shape, same text) misses.
    changed = [{"role": "user", "content": [text_part("look"), image_part(img + 1)]}]
    client.session().complete(MODEL, changed, api_base=openai_server.base_url)
    assert len(openai_server.requests) == 2
    # The key holds a digest, not the image bytes.
    assert "base64" not in json.dumps(_hash_data_urls(messages))


def test_cache_key_covers_endpoint_params_and_provider(monkeypatch):
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    messages = [{"role": "user", "content": "hi"}]

    def key(model=MODEL, **params):
        return request_key("text", model, messages, params)

    key_x = key(api_base="http://x/v1")
    assert key_x != key(api_base="http://y/v1")  # another server answers differently
    assert key_x != key()  # the provider's public endpoint is another endpoint
    # One endpoint, spelled differently or with credentials: one key.
    assert key_x == key(api_base="HTTP://user:pw@X:80/v1/")
    assert (
        key_x
        == key(api_base="http://x/v1", api_key="k1", timeout=3)
        == key(api_base="http://x/v1", api_key="k2")
    )
    assert key_x != key(api_base="http://x/v1", temperature=1.0)
    assert key_x != key(api_base="http://x/v1", max_tokens=10)
    assert key_x != key(api_base="http://x/v1", extra_headers={"anthropic-beta": "x"})
    assert key(api_base="http://x/v1", extra_headers={"Authorization": "Bearer a"}) == key(
        api_base="http://x/v1", extra_headers={"Authorization": "Bearer b"}
    )
    assert key("openai/m", api_base="http://x/v1") != key("hosted_vllm/m", api_base="http://x/v1")
    # An endpoint from the environment counts like an explicit one.
    monkeypatch.setenv("OPENAI_API_BASE", "http://x/v1")
    assert key() == key_x


def test_cached_cost_is_zero_for_the_run_but_original_kept(tmp_path, openai_server):
    client = make_client(tmp_path)
    first = ask(client.session(), openai_server, model=KNOWN)
    assert first.usage.cost_usd and first.usage.cost_usd > 0
    again = ask(client.session(), openai_server, model=KNOWN)
    assert again.cached and again.usage.cost_usd == 0.0
    assert again.original_cost_usd == pytest.approx(first.usage.cost_usd)
    assert client.spent_usd == pytest.approx(first.usage.cost_usd)
    assert client.saved_usd == pytest.approx(first.usage.cost_usd)


def test_429_retry_after_is_honoured(tmp_path, openai_server):
    client = make_client(tmp_path)
    openai_server.script(Fault.rate_limit(retry_after="1"), "after the wait")
    start = time.monotonic()
    reply = ask(client.session(), openai_server)
    elapsed = time.monotonic() - start
    assert reply.text == "after the wait" and len(openai_server.requests) == 2
    assert 0.9 <= elapsed < 4  # backoff base is 10 ms: only Retry-After explains a 1 s wait


def test_429_retry_after_http_date(tmp_path, openai_server):
    from email.utils import formatdate

    client = make_client(tmp_path)
    openai_server.script(
        Fault.rate_limit(retry_after=formatdate(time.time() + 2, usegmt=True)), "ok"
    )
    start = time.monotonic()
    ask(client.session(), openai_server)
    assert time.monotonic() - start >= 0.9  # an HTTP date has 1 s resolution


def test_500_then_success(tmp_path, openai_server):
    client = make_client(tmp_path)
    openai_server.script(Fault.server_error(500), Fault.server_error(503), Fault.garbage(), "fine")
    assert ask(client.session(), openai_server).text == "fine"
    assert len(openai_server.requests) == 4


def test_timeouts_retried_then_api_error(tmp_path, openai_server):
    client = make_client(tmp_path, timeout_s=0.3, max_attempts=3)
    openai_server.respond_with(lambda body: Fault.slow(2.0))
    start = time.monotonic()
    with pytest.raises(ApiError, match="gave up after 3 attempts"):
        ask(client.session(), openai_server)
    assert len(openai_server.requests) == 3
    assert time.monotonic() - start < 3


def test_slow_reply_then_success(tmp_path, openai_server):
    client = make_client(tmp_path, timeout_s=0.3)
    openai_server.script(Fault.slow(1.0), "quick")
    assert ask(client.session(), openai_server).text == "quick"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_bad_requests_not_retried(tmp_path, openai_server, status):
    client = make_client(tmp_path)
    openai_server.respond_with(lambda body: Fault.bad_request("model does not exist", status))
    with pytest.raises(ApiError, match="not retried"):
        ask(client.session(), openai_server)
    assert len(openai_server.requests) == 1


def test_malformed_json_reasked_with_error_then_success(tmp_path, openai_server):
    client = make_client(tmp_path)
    openai_server.script("not json at all", '{"0": "c"}', '```json\n{"0": "b"}\n```')
    session = client.session()
    assert ask_json(session, openai_server) == "b"
    assert len(openai_server.requests) == 3 and session.usage.calls == 3
    first, second, third = (r.body for r in openai_server.requests)
    assert first["messages"] == second["messages"]  # plain retry
    assert third["messages"][-2] == {"role": "assistant", "content": '{"0": "c"}'}
    assert "expected {'0': 'a'|'b'}" in third["messages"][-1]["content"]
    # The schema went out as strict json_schema.
    rf = first["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"] == SCHEMA
    # The validated answer is cached under the original request: a rerun makes no request.
    again = client.session()
    assert ask_json(again, openai_server) == "b" and len(openai_server.requests) == 3
    assert again.usage.cached_calls == 1


def test_always_malformed_raises_parse_error_and_caches_nothing(tmp_path, openai_server):
    client = make_client(tmp_path)
    openai_server.respond_with(lambda body: '{"0": "maybe"}')
    with pytest.raises(ParseError, match="maybe"):
        ask_json(client.session(), openai_server)
    assert len(openai_server.requests) == 3
    assert client.cache.count("llm") == 0
    with pytest.raises(ParseError):  # nothing cached: it asks again
        ask_json(client.session(), openai_server)
    assert len(openai_server.requests) == 6


def test_truncated_reply_is_invalid_json_and_not_cached(tmp_path, openai_server):
    client = make_client(tmp_path)
    # Even a complete-looking JSON is rejected when the model says it stopped at max_tokens.
    openai_server.script(Reply('{"0": "a"}', finish_reason="length"), '{"0": "a"}')
    assert ask_json(client.session(), openai_server) == "a"
    assert len(openai_server.requests) == 2
    # Plain completions return a truncated reply but do not cache it.
    openai_server.script(Reply("cut", finish_reason="length"))
    reply = ask(client.session(), openai_server, text="other")
    assert reply.text == "cut" and reply.finish_reason == "length"
    ask(client.session(), openai_server, text="other")
    assert len(openai_server.requests) == 4


def test_budget_exceeded_but_cache_still_served(tmp_path, openai_server):
    client = make_client(tmp_path, budget_usd=1e-9)
    ask(client.session(), openai_server, model=KNOWN)  # spends more than the budget
    assert client.spent_usd > 1e-9
    with pytest.raises(BudgetExceeded):
        ask(client.session(), openai_server, text="new question", model=KNOWN)
    assert ask(client.session(), openai_server, model=KNOWN).cached
    assert len(openai_server.requests) == 1


def test_prices_for_unknown_models(tmp_path, openai_server):
    client = make_client(tmp_path)
    reply = ask(client.session(), openai_server)
    assert reply.usage.cost_usd is None and client.usage.cost_usd is None  # unknown, never 0
    priced = make_client(tmp_path / "p", prices={"test-model": (2.0, 10.0)})
    openai_server.script(Reply("x", prompt_tokens=1000, completion_tokens=100))
    reply = ask(priced.session(), openai_server, text="priced")
    assert reply.usage.cost_usd == pytest.approx((2.0 * 1000 + 10.0 * 100) / 1e6)


def test_concurrency_limit_respected(tmp_path, openai_server):
    client = make_client(tmp_path, max_concurrency=3)
    openai_server.latency_s = 0.1
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: ask(client.session(), openai_server, text=f"q{i}"), range(12)))
    assert len(openai_server.requests) == 12
    assert openai_server.max_in_flight == 3
    assert client.usage.calls == 12


def test_api_key_never_leaks(tmp_path, openai_server):
    client = make_client(tmp_path, max_attempts=2)
    ask(client.session(), openai_server)
    ask_json(client.session(), openai_server.script('{"0": "a"}'))
    request = openai_server.requests[0]
    assert request.headers.get("authorization") == f"Bearer {SECRET}"  # sent where it belongs
    assert all(SECRET.encode() not in r.raw for r in openai_server.requests)
    # A provider error echoing the key (as some proxies do) is redacted.
    openai_server.respond_with(lambda body: Fault.bad_request(f"invalid key {SECRET}", 401))
    with pytest.raises(ApiError) as info:
        ask(client.session(), openai_server, text="again")
    assert SECRET not in str(info.value) and "<redacted>" in str(info.value)
    openai_server.respond_with(
        lambda body: Fault(
            500, body=json.dumps({"error": {"message": f"upstream said Bearer {SECRET}"}})
        )
    )
    with pytest.raises(ApiError) as info:
        ask(client.session(), openai_server, text="again and again")
    assert SECRET not in str(info.value)
    # A key passed explicitly is redacted too, and is not part of the cache.
    explicit = "explicit-key-value-42"
    openai_server.respond_with(lambda body: Fault.bad_request(f"bad key {explicit}", 401))
    with pytest.raises(ApiError) as info:
        ask(client.session(), openai_server, text="explicit", api_key=explicit)
    assert explicit not in str(info.value)
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and explicit.encode() not in data


def test_redact_patterns():
    assert "sk-abcdefgh123" not in redact("key sk-abcdefgh123 here")
    assert redact("plain message") == "plain message"


def test_image_part_is_a_jpeg_data_url():
    part = image_part(np.full((8, 12, 3), 200, np.uint8))
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1])[:3] == b"\xff\xd8\xff"
    png = image_part(np.zeros((4, 4, 3), np.uint8), fmt="png")["image_url"]["url"]
    assert base64.b64decode(png.split(",", 1)[1])[:4] == b"\x89PNG"


def test_sessions_are_thread_safe(tmp_path, openai_server):
    client = make_client(tmp_path, max_concurrency=8)
    session = client.session()
    threads = [
        threading.Thread(target=ask, args=(session, openai_server, f"t{i}")) for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert session.usage.calls == 16 == client.usage.calls


def test_identical_requests_in_flight_make_one_call(tmp_path, openai_server):
    # Two samples asking the same question at once: one paid call, the other served from the
    # cache once it lands, whatever the timing (a run's cached count must be reproducible).
    openai_server.latency_s = 0.3
    openai_server.default = "same answer"
    client = make_client(tmp_path, max_concurrency=4)
    sessions = [client.session() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda s: ask(s, openai_server, text="identical"), sessions))
    assert len(openai_server.requests) == 1
    assert [r.text for r in replies] == ["same answer"] * 4
    assert sorted(r.cached for r in replies) == [False, True, True, True]
    # Different requests still run side by side.
    openai_server.reset()
    openai_server.latency_s = 0.3
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: ask(sessions[i], openai_server, text=f"q{i}"), range(4)))
    assert len(openai_server.requests) == 4 and openai_server.max_in_flight > 1
