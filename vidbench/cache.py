"""The one on-disk cache: a content-addressed key/value store in SQLite (WAL mode), crash-safe.

Small values live in the database; large blobs (decoded frames, embeddings) are written to files
beside it, atomically, and the database row points at them. Callers pick a namespace ("llm",
"frames", "clip", ...) and a key, usually `content_key(...)` of everything that determines the
value. Only successful, validated results should be put here.

Every row records when it was written (`created`), so `vidbench cache clear --older-than` can
drop old entries; `info()` and `clear()` serve `vidbench cache info` / `vidbench cache clear`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
                "blob_file TEXT, created REAL, PRIMARY KEY (ns, key))"
            )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(kv)")}
            if "created" not in columns:  # a cache written before entries were dated
                conn.execute("ALTER TABLE kv ADD COLUMN created REAL")

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
                "INSERT OR REPLACE INTO kv (ns, key, value, blob_file, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (ns, key, None if blob_file else value, blob_file, time.time()),
            )

    def get_json(self, ns: str, key: str) -> Any | None:
        raw = self.get(ns, key)
        return None if raw is None else json.loads(raw)

    def put_json(self, ns: str, key: str, value: Any) -> None:
        self.put(ns, key, json.dumps(value, separators=(",", ":")).encode())

    def count(self, ns: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM kv WHERE ns=?", (ns,)).fetchone()[0]

    def _rows(self) -> Iterator[tuple[str, str, bytes | None, str | None, float | None]]:
        yield from self._conn().execute("SELECT ns, key, value, blob_file, created FROM kv")

    def _size(self, value: bytes | None, blob_file: str | None) -> int:
        if blob_file is None:
            return len(value or b"")
        try:
            return (self.root / "blobs" / blob_file).stat().st_size
        except FileNotFoundError:
            return 0

    def info(self) -> CacheInfo:
        """Entries and bytes per namespace, and per model for LLM answers."""
        info = CacheInfo(self.root)
        for ns, _key, value, blob_file, _created in self._rows():
            size = self._size(value, blob_file)
            info.add(info.namespaces, ns, size)
            model = _model_of(ns, value)
            if model is not None:
                info.add(info.models, model, size)
        return info

    def clear(
        self, *, model: str | None = None, older_than_s: float | None = None
    ) -> tuple[int, int]:
        """Remove entries (all of them, or only LLM answers of `model`, and/or entries written
        more than `older_than_s` seconds ago). Returns (entries, bytes) removed."""
        cutoff = time.time() - older_than_s if older_than_s is not None else None
        doomed: list[tuple[str, str, str | None, int]] = []
        for ns, key, value, blob_file, created in self._rows():
            if model is not None and _model_of(ns, value) != model:
                continue
            # An undated row predates dating: it is older than any cutoff.
            if cutoff is not None and created is not None and created >= cutoff:
                continue
            doomed.append((ns, key, blob_file, self._size(value, blob_file)))
        conn = self._conn()
        with conn:
            conn.executemany("DELETE FROM kv WHERE ns=? AND key=?", [d[:2] for d in doomed])
        for _ns, _key, blob_file, _size in doomed:
            if blob_file is not None:
                (self.root / "blobs" / blob_file).unlink(missing_ok=True)
        return len(doomed), sum(d[3] for d in doomed)


def _model_of(ns: str, value: bytes | None) -> str | None:
    """The model of an LLM answer (stored in its JSON record); None for other namespaces."""
    if ns != "llm" or value is None:
        return None
    try:
        model = json.loads(value).get("model")
    except (ValueError, AttributeError):
        return None
    return model if isinstance(model, str) else None


@dataclass
class CacheInfo:
    """What `vidbench cache info` shows: name -> [entries, bytes]."""

    root: Path
    namespaces: dict[str, list[int]] = field(default_factory=dict)
    models: dict[str, list[int]] = field(default_factory=dict)

    @staticmethod
    def add(table: dict[str, list[int]], name: str, size: int) -> None:
        entry = table.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += size

    @property
    def entries(self) -> int:
        return sum(n for n, _ in self.namespaces.values())

    @property
    def size(self) -> int:
        return sum(b for _, b in self.namespaces.values())


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
