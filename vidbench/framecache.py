"""The frame cache: the frames a method sends, kept as the image files it sends (JPEG/PNG).

Why images and not decoded arrays: 48 decoded 512-pixel frames of a pair are ~21 MB and cost
~1 CPU-s to recompute; the same frames as the JPEGs a model is sent are ~1-2 MB, and a hit then
needs no decoding and no encoding at all (arrays are decoded only if a method asks for them).
Decoded arrays are never cached, and frames of image-folder videos are not either: reading their
files costs what decoding them does.

One file per (video content, frame indices, size, encoding) under `<cache root>/frames/`,
written atomically (a crash leaves no partial entry). A hit touches its file, so a file's mtime
is its last use. The folder is capped ($VIDBENCH_FRAME_CACHE_MB, default 2048 MB). A write that
would pass the cap first removes the least recently used entries that the current run has not
used, down to 10% under the cap; when only the run's own entries are left, the new entry is not
written. Plain LRU would be wrong here: a run reads its samples in order, so one run bigger than
the cap would evict its own first entries to admit its last, and the next run, reading in the
same order, would miss every one (the paper preset's full-size PNGs are ~75 MB a pair: 2 GB
holds 27 pairs, and with LRU a rerun of 549 would hit none). Keeping the first entries instead gives
a rerun that many hits. Several processes may share the folder: each evicts from what it sees
on disk, and what any process touched since the run started is protected.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FRAMES_DIR = "frames"
DEFAULT_CAP_MB = 2048
_CAP_ENV = "VIDBENCH_FRAME_CACHE_MB"
_MAGIC = b"VBF1"


def default_cap_bytes() -> int:
    raw = os.environ.get(_CAP_ENV)
    try:
        return int(float(raw) * 1e6) if raw else DEFAULT_CAP_MB * 1_000_000
    except ValueError:
        return DEFAULT_CAP_MB * 1_000_000


def _pack(images: Sequence[bytes]) -> bytes:
    head = _MAGIC + struct.pack(f"<I{len(images)}I", len(images), *(len(i) for i in images))
    return head + b"".join(images)


def _unpack(data: bytes) -> list[bytes] | None:
    """The images of one entry; None for a damaged one (then it is a miss, not a failure)."""
    try:
        if data[:4] != _MAGIC:
            return None
        (count,) = struct.unpack_from("<I", data, 4)
        sizes = struct.unpack_from(f"<{count}I", data, 8)
        at = 8 + 4 * count
        if at + sum(sizes) != len(data):
            return None
        out = []
        for size in sizes:
            out.append(data[at : at + size])
            at += size
        return out
    except struct.error:
        return None


class FrameCache:
    """A size-capped folder of encoded frame sets, least recently used first out. Thread-safe."""

    def __init__(self, folder: Path, max_bytes: int | None = None):
        self.folder = Path(folder)
        self.max_bytes = default_cap_bytes() if max_bytes is None else max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, learned by one scan at the first write
        # Entries used since then (mtime) are the current run's: never evicted for a new entry.
        self.run_started_ns = time.time_ns()
        self.skipped = 0  # entries not written because the cap was reached by the run's own
        self._full = False  # only the run's own entries left: stop scanning at every write
        self._pending = 0  # bytes of writes in flight, reserved against the cap

    def begin_run(self, started_ns: int | None = None) -> None:
        """A new run starts (`vidbench eval` calls this; workers get the same time): what it
        uses from now on is protected from eviction, what earlier runs used is not."""
        with self._lock:
            self.run_started_ns = time.time_ns() if started_ns is None else started_ns
            self._full, self._total, self.skipped = False, None, 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def get(self, key: str) -> list[bytes] | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            os.utime(path)  # the LRU clock
        except OSError:  # evicted meanwhile by another process: the data read is still good
            pass
        return _unpack(data)

    def put(self, key: str, images: Sequence[bytes]) -> bool:
        """Keep an entry; False when it was not written (the cap is taken by this run's own)."""
        data = _pack(images)
        with self._lock:
            if self._total is None:
                self._total = self._scan_bytes()
            # Writes in flight count against the cap too (a scan does not see them).
            if self._total + self._pending + len(data) > self.max_bytes:
                if not self._full:
                    self._evict(self._pending + len(data))
                if self._total + self._pending + len(data) > self.max_bytes:
                    self._full = True
                    self.skipped += 1
                    return False
            self._pending += len(data)
        path = self._path(key)
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        replaced, written = 0, False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            try:
                replaced = path.stat().st_size
            except FileNotFoundError:
                replaced = 0
            os.replace(tmp, path)
            written = True
        finally:
            if not written:
                try:  # e.g. a full disk: no partial file left behind
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
            with self._lock:
                self._pending -= len(data)
                if written and self._total is not None:  # None: rescanned at the next write
                    self._total += len(data) - replaced
        return True

    def _entries(self) -> list[tuple[int, int, Path]]:
        """(last use, size, path) of every entry on disk."""
        out: list[tuple[int, int, Path]] = []
        if not self.folder.is_dir():
            return out
        for sub in self.folder.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                if path.name.startswith("."):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                out.append((st.st_mtime_ns, st.st_size, path))
        return out

    def _scan_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict(self, incoming: int) -> None:
        """Remove entries not used since the run started, least recently used first, until
        `incoming` more bytes leave the folder 10% under its cap (or none such are left)."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * 0.9) - incoming
        # A second of slack: file times come from a coarse clock that can lag time_ns().
        protected_from = self.run_started_ns - 1_000_000_000
        for used, size, path in entries:
            if total <= target or used >= protected_from:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            total -= size
        self._total = total

    def info(self) -> dict[str, Any]:
        """What `vidbench cache info` shows for frames: where, how many sets, bytes, the cap."""
        entries = self._entries()
        return {
            "path": str(self.folder),
            "entries": len(entries),
            "bytes": sum(size for _, size, _ in entries),
            "max_bytes": self.max_bytes,
        }

    def clear(self, older_than_s: float | None = None) -> tuple[int, int]:
        """Remove every entry, or those not used for `older_than_s` seconds; returns how many
        entries and bytes were removed."""
        entries = self._entries()
        if older_than_s is None:
            with self._lock:
                shutil.rmtree(self.folder, ignore_errors=True)
                self._total, self._full = 0, False
            return len(entries), sum(size for _, size, _ in entries)
        cutoff = time.time_ns() - int(older_than_s * 1e9)
        removed = freed = 0
        with self._lock:
            for used, size, path in entries:
                if used < cutoff:
                    path.unlink(missing_ok=True)
                    removed, freed = removed + 1, freed + size
            self._total, self._full = None, False  # rescanned at the next write
        return removed, freed


_stores: dict[Path, FrameCache] = {}
_stores_lock = threading.Lock()


def frame_cache(cache_root: str | os.PathLike[str]) -> FrameCache:
    """The frame cache that lives beside the cache at `cache_root` (one object per folder)."""
    folder = Path(cache_root) / FRAMES_DIR
    with _stores_lock:
        store = _stores.get(folder)
        if store is None:
            store = _stores[folder] = FrameCache(folder)
        return store


def frame_cache_info(cache_root: str | os.PathLike[str]) -> dict[str, Any]:
    """For `vidbench cache info`: the frame cache's folder, entries, bytes and cap."""
    return frame_cache(cache_root).info()


def clear_frame_cache(
    cache_root: str | os.PathLike[str], older_than_s: float | None = None
) -> tuple[int, int]:
    """For `vidbench cache clear`: remove the cached frame sets (all, or those unused for
    `older_than_s` seconds); returns (entries, bytes) removed."""
    return frame_cache(cache_root).clear(older_than_s)
