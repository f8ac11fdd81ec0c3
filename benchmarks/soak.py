"""Soak: `vidbench eval` against a faulty API while being SIGKILLed, then resumed to completion.

    .venv/bin/python benchmarks/soak.py [--samples 40] [--fault-rate 0.35] [--random-kills 14]

A local OpenAI-compatible server (a subprocess) answers each closed-set request from a hash of
its text, so every answer is reproducible, and injects faults at `--fault-rate`: 429 with
Retry-After, 500, connection resets, timeouts (a stall past the client's --timeout), truncated
bodies and garbage bodies. vidbench runs the `lmm` method at concurrency 16 in child processes:

1. Targeted kills: the file-system writes of a run's start (staging folder, lock, config,
   manifest, publishing rename, first record) are logged once; then for every write a run is
   SIGKILLed just before it, and recovered (resumed if a run folder appeared, else started again).
2. Random kills: larger runs (both orders) SIGKILLed at random moments and resumed each time.
3. Simultaneous starts: 300 processes create run folders in one folder at the same instant.

Each scenario is resumed until every sample is ok, then checked against a fault-free run of the
same selection: records lost (an ok record seen before a kill and not kept, or a sample with no
ok record), duplicated (a sample with two records), torn (a line that is not JSON), and whether
the metrics are equal (usage aside). Prints requests, faults by kind, kills and those figures.
The kills come from the harness (a patched child process), never from hooks in vidbench.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FAULTS = ("429", "500", "reset", "timeout", "truncated", "garbage")
CLIENT_TIMEOUT_S = 1.5
# Credentials the children are given (a password in the URL, an API key in the environment); no
# file the soak leaves behind may hold them, in clear or as the Basic-auth value.
SECRET_PASS = "s0ak-PASS-9f2"
SECRET_KEY = "sk-soak-KEY-7c1"
SECRETS = (
    SECRET_PASS,
    SECRET_KEY,
    __import__("base64").b64encode(f"soak:{SECRET_PASS}".encode()).decode(),
)

# --------------------------------------------------------------------------------------------
# The faulty server (run as `soak.py --serve`, in its own process).


def answer_for(body: dict[str, Any]) -> str:
    """The same JSON answer for the same request text, whatever happened before."""
    schema = body["response_format"]["json_schema"]["schema"]
    texts = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts += [str(p.get("text")) for p in parts if isinstance(p, dict) and "text" in p]
    seed = "\n".join(texts)
    return json.dumps(
        {
            key: "ab"[hashlib.blake2b(f"{seed}|{key}".encode()).digest()[0] % 2]
            for key in schema["properties"]
        }
    )


def serve(fault_rate: float, seed: int, latency: tuple[float, float], stall_s: float) -> None:
    rng = random.Random(seed)
    lock = threading.Lock()
    counts: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                self._send(200, json.dumps(dict(counts)).encode())

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            with lock:
                counts["requests"] += 1
                fault = rng.choice(FAULTS) if rng.random() < fault_rate else None
                delay = rng.uniform(*latency)
                if fault:
                    counts[fault] += 1
            if fault == "429":
                self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
            elif fault == "500":  # like a careless proxy, it echoes the credentials it got
                echoed = json.dumps(f"internal error ({self.headers.get('Authorization')})")
                self._send(500, f'{{"error": {{"message": {echoed}}}}}'.encode())
            elif fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()  # RST: the client sees "connection reset"
                self.close_connection = True
            elif fault == "timeout":
                time.sleep(stall_s)  # past the client's timeout: it has given up
                self.close_connection = True
            elif fault == "garbage":
                self._send(200, b"<html><body>502 Bad Gateway (proxy)</body></html>")
            else:
                time.sleep(delay)
                reply = json.dumps(
                    {
                        "id": "chatcmpl-soak",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "soak"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": answer_for(body)},
                            }
                        ],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 10},
                    }
                ).encode()
                if fault == "truncated":  # promises the whole body, sends half, hangs up
                    self._send(200, reply, length=len(reply), cut=len(reply) // 2)
                    self.close_connection = True
                else:
                    self._send(200, reply)

        def _send(
            self,
            status: int,
            data: bytes,
            headers: dict[str, str] | None = None,
            length: int | None = None,
            cut: int | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length if length is not None else len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data[:cut] if cut is not None else data)

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # resets and clients that gave up are the point of this server

    server = Server(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    sys.stdin.read()  # EOF: the harness is gone (however it ended), so this server goes too


# `vidbench eval` exit codes of a run that finished: 0 all ok, 3 with failed samples (faults that
# outlasted the retries), which the next --resume runs again.
FINISHED = (0, 3)


def start_server(fault_rate: float, seed: int, stall_s: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, __file__, "--serve", "--fault-rate", str(fault_rate)]
    cmd += ["--seed", str(seed), "--stall", str(stall_s)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url.replace("http://", f"http://soak:{SECRET_PASS}@")


def files_with_secrets(work: Path) -> list[str]:
    """Every file the runs left (run folders, caches, logs) that holds a credential."""
    found = []
    for path in work.rglob("*"):
        if path.is_file() and path.parts[len(work.parts)] not in ("ds", "videos"):
            data = path.read_bytes()
            if any(secret.encode() in data for secret in SECRETS):
                found.append(str(path.relative_to(work)))
    return found


def server_stats(url: str) -> Counter[str]:
    import urllib.request

    plain = url.replace(f"soak:{SECRET_PASS}@", "")
    with urllib.request.urlopen(plain + "/_stats", timeout=10) as resp:
        return Counter(json.loads(resp.read()))


# --------------------------------------------------------------------------------------------
# The children: `vidbench eval` in a process forked from this one once litellm is imported (a
# fresh interpreter would spend most of its time importing it), with its file-system writes under
# the runs folder counted and a SIGKILL delivered just before the Nth one (kill_at; 0 = never).


def _install_write_hooks(runs: Path, kill_at: int, log: Path | None) -> None:
    import builtins
    import io

    root = os.path.realpath(runs)
    count = 0
    fds: set[int] = set()
    real_open, real_os_open = io.open, os.open

    def under_runs(path: Any) -> bool:
        real = os.path.realpath(os.fspath(path))
        return real == root or real.startswith(root + os.sep)

    def hit(op: str, path: Any) -> None:
        nonlocal count
        count += 1
        if log is not None:
            with real_open(log, "a") as fh:
                fh.write(f"{count} {op} {os.path.relpath(os.fspath(path), root)}\n")
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def patched_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            if under_runs(file):
                hit(f"open-{mode}", file)
        return real_open(file, mode, *a, **k)

    def patched_os_open(path: Any, flags: int, *a: Any, **k: Any) -> int:
        inside = under_runs(path)
        if inside and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            hit("os.open", path)
        fd = real_os_open(path, flags, *a, **k)
        if inside:
            fds.add(fd)
        return fd

    def wrap(name: str, fd_based: bool) -> None:
        real = getattr(os, name)

        def patched(first: Any, *a: Any, **k: Any) -> Any:
            if fd_based and first in fds:
                hit(name, f"{root}/<fd {first}>")
            elif not fd_based and under_runs(first):
                hit(name, first)
            return real(first, *a, **k)

        setattr(os, name, patched)

    io.open = builtins.open = patched_open  # type: ignore[assignment]
    os.open = patched_os_open  # type: ignore[assignment]
    for name in ("mkdir", "rename", "replace", "unlink", "rmdir"):
        wrap(name, fd_based=False)
    for name in ("pwrite", "ftruncate", "write"):
        wrap(name, fd_based=True)


def _die_with_parent() -> None:
    """Linux: SIGKILL this child if the harness dies, so no eval outlives an interrupted soak."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Child:
    """A forked `vidbench` process, with Popen's wait/kill/returncode (-9 when SIGKILLed)."""

    def __init__(self, argv: list[str], runs: Path, kill_at: int, log: Path | None, err: Path):
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 1
            try:
                _die_with_parent()
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
                os.environ["VIDBENCH_LLM_BACKOFF_S"] = "0.05"
                os.environ["OPENAI_API_KEY"] = SECRET_KEY
                _install_write_hooks(runs, kill_at, log)
                from vidbench.cli import main

                sys.argv = ["vidbench", *argv]
                try:
                    main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"vidbench pid {self.pid}", timeout or 0)
            else:
                time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.work = args, work
        self.rng = random.Random(args.seed)
        self.kills = Counter[str]()
        self.lost = self.duplicated = self.torn = 0
        self.unequal: list[str] = []
        self.scenarios = 0
        self.timeout_flag = _supports_timeout()
        self.kill_window = (1.0, 5.0)
        self.rounds = 0

    def eval_args(self, url: str, runs: Path, cache: Path, limit: int | None) -> list[str]:
        args = ["eval", "--method", "lmm", "-M", "model=openai/soak", "-M", f"api_base={url}"]
        args += ["-M", "preset=vidbench", "-M", "max_images=2", "--dataset", str(self.work / "ds")]
        args += ["--video-root", str(self.work / "videos"), "--runs-dir", str(runs)]
        args += ["--cache-dir", str(cache), "--no-progress", "--max-concurrency", "16"]
        if self.timeout_flag:
            args += ["--timeout", str(CLIENT_TIMEOUT_S)]
        return args + (["--limit", str(limit)] if limit else ["--both-orders"])

    def child(self, argv: list[str], runs: Path, kill_at: int = 0, log: Path | None = None):
        self.stderr = self.work / "child-stderr.log"
        return Child(argv, runs, kill_at, log, self.stderr)

    def failed(self, proc: Child) -> SystemExit:
        tail = self.stderr.read_text()[-3000:]
        return SystemExit(f"a vidbench child failed (exit {proc.returncode}):\n{tail}")

    # -- one scenario: run, kill, resume until complete ----------------------------------------
    def finish(self, base: list[str], runs: Path, seen: dict[str, Any], reference: dict) -> None:
        """Resume (or start, when no run folder appeared) until every sample is ok; check it."""
        for _ in range(12):
            run = _run_folder(runs)
            argv = base if run is None else [*base, "--resume", str(run)]
            proc = self.child(argv, runs)
            if proc.wait() not in FINISHED:
                raise self.failed(proc)
            run = _run_folder(runs)
            assert run is not None
            self.snapshot(run, seen)
            if _complete(run):
                break
        else:
            raise SystemExit(f"{runs} did not complete after 12 resumes")
        self.check(run, seen, reference)

    def snapshot(self, run: Path, seen: dict[str, Any]) -> None:
        """Remember every ok record present now: it must still be there, unchanged, at the end."""
        for record in _records(run)[0]:
            if record.get("status") == "ok":
                key = f"{record['sample_key']}|{record.get('swapped')}"
                seen.setdefault(key, record.get("predictions"))

    def check(self, run: Path, seen: dict[str, Any], reference: dict) -> None:
        self.scenarios += 1
        records, torn = _records(run)
        self.torn += torn
        counts = Counter(f"{r['sample_key']}|{r.get('swapped')}" for r in records)
        self.duplicated += sum(n - 1 for n in counts.values())
        final = {f"{r['sample_key']}|{r.get('swapped')}": r for r in records}
        self.lost += sum(
            1
            for key, preds in seen.items()
            if key not in final or final[key].get("predictions") != preds
        )
        self.lost += sum(1 for r in final.values() if r.get("status") != "ok")
        metrics = _without_usage(json.loads((run / "metrics.json").read_text()))
        if metrics != reference:
            self.unequal.append(run.name)

    # -- the phases ------------------------------------------------------------------------------
    def reference(self, url: str, limit: int | None) -> dict:
        runs = self.work / f"ref-{limit}"
        proc = self.child(self.eval_args(url, runs, self.work / f"ref-cache-{limit}", limit), runs)
        started = time.monotonic()
        proc.wait()
        # Random kills land between 10 % and 150 % of a fault-free run's time (faults make the
        # real runs longer, so most land mid-run).
        seconds = time.monotonic() - started
        self.kill_window = (0.1 * seconds, 1.5 * seconds)
        run = _run_folder(runs)
        if proc.returncode != 0 or run is None or not _complete(run):
            raise self.failed(proc)
        return _without_usage(json.loads((run / "metrics.json").read_text()))

    def targeted(self, url: str, reference: dict) -> None:
        probe_runs, log = self.work / "probe", self.work / "writes.log"
        base = self.eval_args(url, probe_runs, self.work / "probe-cache", self.args.small)
        self.child(base, probe_runs, log=log).wait()
        start = []
        for line in log.read_text().splitlines():
            start.append(line)
            if "predictions.jsonl" in line:
                break  # the first record: the run has started
        print(f"a run's start: {len(start)} writes")
        for line in start:
            print(f"    {line}")
        for n in range(1, len(start) + 1):
            runs = self.work / f"kill-at-{n}"
            base = self.eval_args(url, runs, self.work / f"cache-at-{n}", self.args.small)
            proc = self.child(base, runs, kill_at=n)
            if proc.wait() == -signal.SIGKILL:
                self.kills["targeted"] += 1
            self.finish(base, runs, {}, reference)

    def random_kills(self, url: str, reference: dict) -> None:
        """Rounds of one run each, SIGKILLed at random moments and resumed until it completes;
        every kill lands on an unfinished run."""
        while self.kills["random"] < self.args.random_kills:
            self.rounds += 1
            runs, cache = (
                self.work / f"random-{self.rounds}",
                self.work / f"random-cache-{self.rounds}",
            )
            base = self.eval_args(url, runs, cache, None)
            seen: dict[str, Any] = {}
            while True:
                run = _run_folder(runs)
                argv = base if run is None else [*base, "--resume", str(run)]
                proc = self.child(argv, runs)
                try:
                    proc.wait(timeout=self.rng.uniform(*self.kill_window))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    self.kills["random"] += 1
                if proc.returncode not in (*FINISHED, -signal.SIGKILL):
                    raise self.failed(proc)
                run = _run_folder(runs)
                if run is not None:
                    self.snapshot(run, seen)
                if proc.returncode in FINISHED and run is not None and _complete(run):
                    break
            self.check(run, seen, reference)


def simultaneous_starts(parent: Path, n: int) -> tuple[int, int]:
    """n processes create a run folder in the same parent at the same instant (released together
    by closing a pipe); returns (folders made, processes that failed)."""
    from vidbench import runs

    read_end, write_end = os.pipe()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(write_end)
                os.read(read_end, 1)  # blocks until the parent closes its end: all start at once
                _, lock = runs.create_run_dir(parent, "random", "closed", {runs.CONFIG: {}})
                lock.release()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(read_end)
    os.close(write_end)
    failed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids)
    made = sum(1 for p in parent.iterdir() if not p.name.startswith("."))
    return made, failed


def _supports_timeout() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "vidbench.cli", "eval", "--help"], capture_output=True, text=True
    )
    return "--timeout" in out.stdout


def _run_folder(runs: Path) -> Path | None:
    if not runs.is_dir():
        return None
    folders = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) <= 1, folders
    return folders[0] if folders else None


def _records(run: Path) -> tuple[list[dict], int]:
    path = run / "predictions.jsonl"
    if not path.exists():
        return [], 0
    records, torn = [], 0
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            torn += 1
    return records, torn


def _complete(run: Path) -> bool:
    config = json.loads((run / "config.json").read_text())
    limit = config["selection"].get("limit")
    records, _ = _records(run)
    expected = limit if limit else 2 * SAMPLES
    ok = {(r["sample_key"], r.get("swapped")) for r in records if r.get("status") == "ok"}
    return (run / "metrics.json").exists() and len(ok) == expected


def _without_usage(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("usage", "judge_usage")}


SAMPLES = 40


def build_dataset(work: Path, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.hub_fixture import make_row, write_hub_folder
    from tests.videos import write_video

    write_video(work / "videos" / "v" / "a.mp4", 24, width=64, height=48)
    write_video(work / "videos" / "v" / "b.mp4", 24, width=64, height=48)
    videos = [
        {"path": "v/a.mp4", "fps_original": 30, "frames_trim": [0, None]},
        {"path": "v/b.mp4", "fps_original": 30, "frames_trim": [0, None]},
    ]
    rows = [make_row(f"fitness_{i % 4}_s{i:03d}", videos=videos) for i in range(n)]
    for i, row in enumerate(rows):
        row["action_description"] = f"Sample {i}: a person does a squat."  # distinct requests
    write_hub_folder(work / "ds", rows)


def main() -> None:
    global SAMPLES
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stall", type=float, default=CLIENT_TIMEOUT_S + 1.0)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--small", type=int, default=10, help="samples per targeted scenario")
    parser.add_argument("--fault-rate", type=float, default=0.35)
    parser.add_argument("--random-kills", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simultaneous", type=int, default=300, help="processes starting at once")
    args = parser.parse_args()
    if args.serve:
        serve(args.fault_rate, args.seed, (0.05, 0.6), args.stall)
        return
    SAMPLES = args.samples
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="vidbench-soak-") as tmp:
        work = Path(tmp)
        os.environ["VIDBENCH_CACHE"] = str(work / "cache-default")
        build_dataset(work, args.samples)
        import vidbench.cli  # noqa: F401  (children are forked with it imported)
        from vidbench.llm import _import_litellm

        _import_litellm()
        clean, clean_url = start_server(0.0, args.seed, args.stall)
        faulty, faulty_url = start_server(args.fault_rate, args.seed, args.stall)
        started = time.monotonic()
        try:
            soak = Soak(args, work)
            ref_small = soak.reference(clean_url, args.small)
            ref_full = soak.reference(clean_url, None)  # last: it sets the kill window
            made, failed = simultaneous_starts(work / "simultaneous", args.simultaneous)
            soak.targeted(faulty_url, ref_small)
            soak.random_kills(faulty_url, ref_full)
            stats = server_stats(faulty_url)
            leaked = files_with_secrets(work)
        finally:
            for proc in (clean, faulty):
                proc.kill()
                proc.wait()
    requests = stats.pop("requests", 0)
    faults = sum(stats.values())
    print(f"samples: {args.samples} (x2 orders in the random-kill run), concurrency 16")
    if soak.timeout_flag:
        print(f"client timeout: --timeout {CLIENT_TIMEOUT_S} (timeout faults stall past it)")
    else:
        print("client timeout: not settable here; timeout faults stall, then drop the connection")
    print(f"requests: {requests}")
    print(
        f"faults: {faults} ({faults / max(requests, 1):.0%}): "
        + ", ".join(f"{kind} {stats.get(kind, 0)}" for kind in FAULTS)
    )
    print(
        f"kills (SIGKILL): {sum(soak.kills.values())} "
        f"({soak.kills['targeted']} targeted, {soak.kills['random']} random)"
    )
    low, high = soak.kill_window
    print(f"random kills: {soak.rounds} run(s), each killed {low:.1f}-{high:.1f} s after a start")
    print(f"scenarios resumed to completion: {soak.scenarios}")
    print(f"records lost: {soak.lost}, duplicated: {soak.duplicated}, torn: {soak.torn}")
    print(
        "metrics equal to the fault-free run: "
        + ("yes" if not soak.unequal else f"NO {soak.unequal}")
    )
    print(
        f"simultaneous starts: {args.simultaneous} processes, {made} run folders, {failed} failed"
    )
    print(f"files holding a credential: {len(leaked)}" + (f" {leaked[:5]}" if leaked else ""))
    print(f"wall: {time.monotonic() - started:.0f} s")
    broken = soak.lost or soak.duplicated or soak.unequal or leaked
    if broken or failed or made != args.simultaneous:
        sys.exit(1)


if __name__ == "__main__":
    main()
