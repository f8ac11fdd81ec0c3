"""The one on-disk cache: a content-addressed key/value store in SQLite (WAL mode), crash-safe.

Small values live in the database; large blobs (decoded frames, embeddings) are written to files
beside it, atomically, and the database row points at them. Callers pick a namespace ("llm",
"frames", "clip", ...) and a key, usually `content_key(...)` of everything that determines the
value. Only successful, validated results should be put here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from vidbench.contracts import content_key  # noqa: F401  (the key rule lives in contracts)

BLOB_THRESHOLD = 256 * 1024  # bytes; larger values go to files so the database stays small


def default_cache_dir() -> Path:
    env = os.environ.get("VIDBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vidbench"


class Cache:
    """Thread-safe; one connection per thread. Safe against crashes: a value is visible only once
    its row is committed, and blob files are renamed into place before the row is written."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "blobs").mkdir(exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT, value BLOB, "
                "blob_file TEXT, PRIMARY KEY (ns, key))"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.root / "cache.sqlite3", timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, ns: str, key: str) -> bytes | None:
        row = (
            self._conn()
            .execute("SELECT value, blob_file FROM kv WHERE ns=? AND key=?", (ns, key))
            .fetchone()
        )
        if row is None:
            return None
        value, blob_file = row
        if blob_file is None:
            return bytes(value)
        try:
            return (self.root / "blobs" / blob_file).read_bytes()
        except FileNotFoundError:  # blob removed by hand: treat as a miss
            return None

    def put(self, ns: str, key: str, value: bytes) -> None:
        blob_file = None
        if len(value) > BLOB_THRESHOLD:
            blob_file = f"{ns}-{key}"
            final = self.root / "blobs" / blob_file
            tmp = final.with_name(f".{blob_file}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(value)
            os.replace(tmp, final)
        conn = self._conn()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)",
                (ns, key, None if blob_file else value, blob_file),
            )

    def get_json(self, ns: str, key: str) -> Any | None:
        raw = self.get(ns, key)
        return None if raw is None else json.loads(raw)

    def put_json(self, ns: str, key: str, value: Any) -> None:
        self.put(ns, key, json.dumps(value, separators=(",", ":")).encode())

    def count(self, ns: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM kv WHERE ns=?", (ns,)).fetchone()[0]


_shared: Cache | None = None
_shared_lock = threading.Lock()


def get_cache() -> Cache:
    """The process-wide cache (VIDBENCH_CACHE or ~/.cache/vidbench unless `use_cache_dir` ran)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Cache()
        return _shared


def use_cache_dir(root: str | os.PathLike[str]) -> Cache:
    """Point the process-wide cache somewhere else (the CLI's --cache-dir, tests)."""
    global _shared
    with _shared_lock:
        _shared = Cache(root)
        return _shared
