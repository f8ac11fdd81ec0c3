"""A real OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

The server answers `POST /v1/chat/completions` with OpenAI's response JSON and records every
request (parsed body, headers, raw bytes) so a test can check exactly what the client sent.

How it answers, in order:
1. the next item of the script queue (`server.script(reply, reply, ...)`), if any;
2. else the responder callable (`server.respond_with(fn)`), called with the parsed request body;
3. else `server.default` (the text "ok").

A reply is either a plain string (the assistant's text, finish_reason "stop") or a `Reply` /
`Fault` object for everything else:

    server.script(Fault.rate_limit(retry_after="1"), "hello")      # 429 then success
    server.script(Fault.server_error(), Reply('{"0": "a"}'))         # 500 then success
    server.script(Fault.slow(5.0))                                  # sleeps past the client timeout
    server.script(Reply("{\"0\": ", finish_reason="length"))         # truncated reply
    server.script(Fault.garbage())                                  # HTTP 200 with a non-JSON body
    server.respond_with(lambda body: json.dumps({"0": "a"}))         # computed from the request

`server.latency_s` adds a delay to every reply (benchmarks). `server.max_in_flight` is the largest
number of requests handled at the same time (concurrency checks).

Use the `openai_server` pytest fixture (one server per test), or `OpenAIServer()` as a context
manager outside pytest. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

import pytest


@dataclass
class Reply:
    """A successful completion. `delay_s` sleeps before answering (on top of `latency_s`)."""

    text: str | None
    finish_reason: str = "stop"
    prompt_tokens: int = 100
    completion_tokens: int = 10
    delay_s: float = 0.0


@dataclass
class Fault:
    """A failed or abnormal answer: an HTTP error status, a non-JSON body, or a long sleep."""

    status: int = 500
    body: str | None = None  # raw response body; None = an OpenAI-style error JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    then: Reply | None = None  # after the delay, answer this instead of the error status

    @staticmethod
    def rate_limit(retry_after: str | None = "1") -> Fault:
        """HTTP 429, with a Retry-After header (seconds or an HTTP date) unless None."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Fault(429, headers=headers)

    @staticmethod
    def server_error(status: int = 500) -> Fault:
        return Fault(status)

    @staticmethod
    def bad_request(message: str = "invalid request", status: int = 400) -> Fault:
        return Fault(
            status,
            body=json.dumps(
                {"error": {"message": message, "type": "invalid_request_error", "code": None}}
            ),
        )

    @staticmethod
    def slow(delay_s: float, text: str = "late") -> Fault:
        """Sleep `delay_s`, then answer `text` (a client with a shorter timeout never sees it)."""
        return Fault(200, delay_s=delay_s, then=Reply(text))

    @staticmethod
    def garbage(body: str = "<html>this is not json</html>") -> Fault:
        """HTTP 200 whose body is not JSON at all (a broken proxy)."""
        return Fault(200, body=body)


Answer = Union[str, Reply, Fault]
Responder = Callable[[dict[str, Any]], Answer]


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]

    def image_urls(self) -> list[str]:
        """Every image_url of every message, in order."""
        urls = []
        for part in iter_parts(self.body):
            if part.get("type") == "image_url":
                image = part["image_url"]
                urls.append(image["url"] if isinstance(image, dict) else image)
        return urls

    def texts(self) -> list[str]:
        """Every text part (and plain string content) of every message, in order."""
        out = []
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
        for part in iter_parts(self.body):
            if part.get("type") == "text":
                out.append(part["text"])
        return out


def iter_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The content parts (dicts) of all messages of a chat request, in order."""
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            yield from (p for p in content if isinstance(p, dict))


class OpenAIServer:
    """The server object: see the module docstring for the API."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Answer = "ok"
        self.latency_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Answer] = deque()
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True, name="openai-test-server"
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a slow fault
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as `api_base`: http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *answers: Answer) -> OpenAIServer:
        """Queue answers; each request consumes the next one."""
        with self._lock:
            self._queue.extend(answers)
        return self

    def respond_with(self, fn: Responder | None) -> OpenAIServer:
        """Answer with `fn(request_body)` whenever the script queue is empty."""
        self._responder = fn
        return self

    def reset(self) -> None:
        """Forget recorded requests, queued answers, the responder and the counters."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._responder = None
            self.default = "ok"
            self.latency_s = 0.0
            self.max_in_flight = 0

    @property
    def pending(self) -> int:
        """Queued answers not consumed yet (a test can assert its script was used up)."""
        return len(self._queue)

    def _next_answer(self, body: dict[str, Any]) -> Answer:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._responder is not None:
            return self._responder(body)
        return self.default

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def completion_json(reply: Reply, model: str) -> dict[str, Any]:
    """OpenAI's chat.completion response object for one reply."""
    return {
        "id": f"chatcmpl-test-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": reply.finish_reason,
                "logprobs": None,
                "message": {"role": "assistant", "content": reply.text},
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _make_handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do (the client pools connections)
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every reply.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:  # noqa: N802
            # Counters for a client in another process (benchmarks run the server separately).
            if self.path.rstrip("/").endswith("/_stats"):
                self._send(
                    200,
                    json.dumps(
                        {"requests": len(server.requests), "max_in_flight": server.max_in_flight}
                    ),
                )
            else:
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
            server.requests.append(
                RecordedRequest(self.path, dict(self.headers.items()), raw, body)
            )
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                return
            server._enter()
            try:
                answer = server._next_answer(body)
                if server.latency_s:
                    server._closing.wait(server.latency_s)
                self._answer(answer, str(body.get("model", "test-model")))
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass
            finally:
                server._leave()

        def _answer(self, answer: Answer, model: str) -> None:
            if isinstance(answer, str):
                answer = Reply(answer)
            if answer.delay_s:
                server._closing.wait(answer.delay_s)
            if isinstance(answer, Reply):
                self._send(200, json.dumps(completion_json(answer, model)))
            elif answer.then is not None:
                self._send(200, json.dumps(completion_json(answer.then, model)))
            else:
                body = (
                    answer.body
                    if answer.body is not None
                    else json.dumps(
                        {
                            "error": {
                                "message": f"test fault {answer.status}",
                                "type": "server_error",
                                "code": None,
                            }
                        }
                    )
                )
                self._send(answer.status, body, answer.headers)

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def serve_forever(default: str = "ok", latency_s: float = 0.0) -> None:
    """Run a server in this process until killed, printing its base URL (benchmarks start it as
    a subprocess so that its work does not compete with the client for the GIL)."""
    server = OpenAIServer()
    server.default, server.latency_s = default, latency_s
    server.start()
    print(server.base_url, flush=True)
    threading.Event().wait()


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh OpenAI-compatible server on 127.0.0.1 for one test."""
    with OpenAIServer() as server:
        yield server
