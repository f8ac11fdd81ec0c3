"""Throughput and overhead of vidbench.llm against the loopback OpenAI-compatible test server.

    .venv/bin/python benchmarks/bench_llm.py [--calls 200] [--concurrency 16] [--latency 0.2]

1. `calls` closed-mode-like requests (text + 8 small JPEG frames + a JSON schema) at
   `concurrency`, the server answering after `latency` s: wall time vs the ideal
   calls / concurrency * latency (target <= 1.3x).
2. The same requests again, all served from the cache (target < 1 s).
3. Per-call overhead with zero latency, sequential: the client (uncached) vs a raw httpx POST of
   the same body to the same server, measured in the same run.

The servers run in subprocesses: a real API is remote, and an in-process server would compete
with the client for the GIL and inflate the client's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from vidbench.cache import Cache  # noqa: E402
from vidbench.llm import LLMClient, _import_litellm  # noqa: E402
from vidbench.messages import image_part, text_part  # noqa: E402

MODEL = "openai/bench-vlm"
KEYS = ["0", "1", "2", "3", "4"]
SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "string", "enum": ["a", "b"]} for k in KEYS},
    "required": KEYS,
    "additionalProperties": False,
}
ANSWER = json.dumps({k: "a" for k in KEYS})


def parse(value: object) -> dict:
    if not isinstance(value, dict) or set(value) != set(KEYS):
        raise ValueError("bad answer")
    return value


def closed_like_messages(i: int, frames: list[dict]) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                text_part(f"Sample {i}: which video shows each statement more?"),
                *frames,
                text_part("Statements: " + "; ".join(f"{k}: statement {k}" for k in KEYS)),
            ],
        }
    ]


ROOT = Path(__file__).resolve().parents[1]


def start_server(latency_s: float) -> tuple[subprocess.Popen, str]:
    """tests/openai_server.py in a subprocess, answering ANSWER after `latency_s`."""
    code = (
        "from tests.openai_server import serve_forever; "
        f"serve_forever(default={ANSWER!r}, latency_s={latency_s!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def server_stats(base_url: str) -> dict:
    import httpx

    return httpx.get(base_url + "/_stats").json()


def run_batch(client: LLMClient, base_url: str, messages: list, concurrency: int) -> float:
    def one(msgs: list) -> dict:
        return client.session().complete_json(
            MODEL, msgs, SCHEMA, parse, api_base=base_url, api_key="bench"
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, messages))
    return time.perf_counter() - start


def overhead(base_url: str, n: int) -> tuple[float, float]:
    """ms/call for the client (no cache) and for a raw httpx POST, sequential, zero latency."""
    import httpx

    client = LLMClient(None, max_concurrency=1)
    msgs = [{"role": "user", "content": "hi"}]
    for _ in range(5):  # warm up connection pools and litellm's lazy paths
        client.session().complete(MODEL, msgs, api_base=base_url, api_key="bench")
    start = time.perf_counter()
    for i in range(n):
        client.session().complete(
            MODEL, [{"role": "user", "content": f"hi {i}"}], api_base=base_url, api_key="bench"
        )
    client_ms = (time.perf_counter() - start) / n * 1000
    url = base_url + "/chat/completions"
    with httpx.Client() as http:
        for _ in range(5):
            http.post(url, json={"model": "bench-vlm", "messages": msgs})
        start = time.perf_counter()
        for i in range(n):
            r = http.post(
                url,
                json={"model": "bench-vlm", "messages": [{"role": "user", "content": f"hi {i}"}]},
                headers={"Authorization": "Bearer bench"},
            )
            r.json()["choices"][0]["message"]["content"]
        raw_ms = (time.perf_counter() - start) / n * 1000
    return client_ms, raw_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--overhead-calls", type=int, default=200)
    args = parser.parse_args()

    t0 = time.perf_counter()
    _import_litellm()
    print(f"litellm import: {time.perf_counter() - t0:.2f} s (once per process, excluded below)")
    rng = np.random.default_rng(0)
    frames = [image_part(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(8)]
    messages = [closed_like_messages(i, frames) for i in range(args.calls)]

    slow, slow_url = start_server(args.latency)
    fast, fast_url = start_server(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = LLMClient(Cache(Path(tmp) / "cache"), max_concurrency=args.concurrency)
            # Warm-up outside the timing: litellm builds its HTTP client on first use.
            run_batch(client, slow_url, [closed_like_messages(-1, frames)], 1)

            wall = run_batch(client, slow_url, messages, args.concurrency)
            ideal = args.calls / args.concurrency * args.latency
            stats = server_stats(slow_url)
            print(
                f"{args.calls} calls, concurrency {args.concurrency}, "
                f"{args.latency * 1000:.0f} ms latency: {wall:.2f} s wall, ideal {ideal:.2f} s, "
                f"ratio {wall / ideal:.2f}x (target <= 1.3x); server saw max "
                f"{stats['max_in_flight']} in flight"
            )

            wall_cached = run_batch(client, slow_url, messages, args.concurrency)
            assert server_stats(slow_url)["requests"] == stats["requests"], "cache missed"
            print(
                f"same {args.calls} calls from cache: {wall_cached:.3f} s "
                f"({wall_cached / args.calls * 1000:.2f} ms/call; target < 1 s total)"
            )

        client_ms, raw_ms = overhead(fast_url, args.overhead_calls)
        print(
            f"zero-latency sequential: client {client_ms:.2f} ms/call, raw httpx POST "
            f"{raw_ms:.2f} ms/call, client overhead {client_ms - raw_ms:.2f} ms/call"
        )
    finally:
        for proc in (slow, fast):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
