"""Sample frames prepared in worker processes, one per core: decoding and encoding then use every
core and stay off the main process's GIL, which the request threads and the model client's import
need. Measured on 2 cores: with one thread decoding beside it, `import litellm` took 20 s instead
of 4 s (PyAV and Pillow release the GIL inside FFmpeg and libjpeg, but take it back often enough
to starve a pure-Python thread), and two decoding threads gave 1.3x the throughput of one.

A worker opens both videos of a sample, samples them with the method's FrameSpec (through the
frame cache) and sends back what the main process needs: each video's layout and content hash,
so opening it again in the main process reads nothing, and its frames, as the encoded images the
method sends (~1 MB per pair) when the spec names an image format, else as arrays. Arrays of
image-format frames are decoded again in the main process only if a method asks for them.

$VIDBENCH_FRAME_WORKERS=0 prepares frames in the calling thread instead (debugging, profiling).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidbench import decoding
from vidbench.cache import Cache, get_cache
from vidbench.contracts import FrameSpec, VideoFrames, VideoRef
from vidbench.framecache import frame_cache
from vidbench.video import DecodeStats, Video, learn_facts, learned_facts, open_video

_WORKERS_ENV = "VIDBENCH_FRAME_WORKERS"
log = logging.getLogger(__name__)


@dataclass
class _Payload:
    """One video's frames as a worker prepared them, plus what it learned about the file."""

    facts: tuple[Any, ...]
    indices: tuple[int, ...]
    timestamps: tuple[float, ...]
    fps_original: float
    arrays: np.ndarray | None
    images: dict[tuple[str, int], tuple[bytes, ...]] | None
    stats: DecodeStats


def core_count() -> int:
    """Cores this process may run on (taskset included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_count() -> int:
    """Frame worker processes: one per core, or $VIDBENCH_FRAME_WORKERS (0: none)."""
    raw = os.environ.get(_WORKERS_ENV)
    if raw is not None and raw.strip().isdigit():
        return int(raw)
    return core_count()


# -- worker side ---------------------------------------------------------------------------------

_worker_caches: dict[str, Cache] = {}


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the main process reports it, workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One worker per core already: FFmpeg's own decoding threads would only add overhead.
    decoding.DECODE_THREADS = 1


def _sample_videos(
    refs: Sequence[VideoRef],
    root: Path | None,
    spec: FrameSpec,
    cache_root: str | None,
    cache_limits: tuple[int, int] | None,
    sample_key: str,
) -> list[_Payload]:
    """In a worker (or the caller's thread): both videos' frames for `spec`. `cache_limits`:
    the frame cache's cap and the run's start, as the main process has them."""
    cache = None
    if cache_root is not None:
        cache = _worker_caches.get(cache_root)
        if cache is None:
            cache = _worker_caches[cache_root] = Cache(cache_root)
        if cache_limits is not None:
            store = frame_cache(cache_root)
            store.max_bytes = cache_limits[0]
            if store.run_started_ns != cache_limits[1]:
                store.begin_run(cache_limits[1])
    payloads = []
    for ref in refs:
        video = open_video(
            ref, root, sample_key=sample_key, cache=cache, use_cache=cache is not None
        )
        frames = video.sample(spec)
        images = None
        if spec.image_format is not None:
            key = VideoFrames.image_key(spec.image_format, spec.image_quality)
            images = {key: frames.encoded(*key)}
        payloads.append(
            _Payload(
                facts=learned_facts(video.path),
                indices=frames.indices,
                timestamps=frames.timestamps,
                fps_original=frames.fps_original,
                arrays=None if images is not None else frames.arrays,
                images=images,
                stats=video.stats,
            )
        )
    return payloads


# -- main side -----------------------------------------------------------------------------------

_pool: ProcessPoolExecutor | None = None
_in_thread = threading.Event()  # set once the workers failed: no more spawning
_pool_size = 0
_pool_lock = threading.Lock()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            # spawn, not fork: the parent has threads (request threads, the client's import).
            _pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
            _pool_size = workers
        return _pool


def shutdown() -> None:
    """Stop the worker processes (they are reused across runs in one process until then)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


def start(workers: int | None = None) -> None:
    """Start all workers but one now (their interpreters boot while the caller does other
    work); the last starts when it is first needed. At start-up one core is left to the model
    client's import (see Evaluator.run)."""
    workers = worker_count() if workers is None else workers
    if workers > 0 and not _in_thread.is_set():
        pool = _get_pool(workers)
        for _ in range(workers):
            pool.submit(int)  # a no-op task makes the executor spawn a process


def sample_pair(
    refs: Sequence[VideoRef],
    root: Path | None,
    spec: FrameSpec,
    *,
    sample_key: str,
    cache: Cache | None = None,
) -> tuple[tuple[Video, ...], tuple[VideoFrames, ...]]:
    """Open and sample a sample's videos with `spec`, the work done in a frame worker process.
    Raises VideoError (as `open_video` and `Video.sample` do) for a bad video."""
    cache = cache if cache is not None else get_cache()
    store = frame_cache(cache.root)
    limits = (store.max_bytes, store.run_started_ns)
    args = (list(refs), root, spec, str(cache.root), limits, sample_key)
    workers = worker_count()
    if workers == 0 or _in_thread.is_set():
        payloads = _sample_videos(*args)
    else:
        try:
            payloads = _get_pool(workers).submit(_sample_videos, *args).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory, or a script without a __main__ guard that
            # spawned workers cannot import): prepare frames in this process from now on.
            _in_thread.set()
            log.warning("frame worker processes failed; preparing frames in the main process")
            shutdown()
            payloads = _sample_videos(*args)
    videos, frames = [], []
    for ref, payload in zip(refs, payloads):
        learn_facts(*payload.facts)
        video = open_video(ref, root, sample_key=sample_key, cache=cache)  # no reading: learned
        video.stats = payload.stats
        decode = functools.partial(_decode_again, video, payload.indices, spec.max_side)
        videos.append(video)
        frames.append(
            VideoFrames(
                payload.indices,
                payload.timestamps,
                payload.fps_original,
                payload.arrays,
                decode=decode,
                images=payload.images,
            )
        )
    return tuple(videos), tuple(frames)


def _decode_again(video: Video, indices: Sequence[int], max_side: int | None) -> np.ndarray:
    return video.read(list(indices), max_side).arrays
