"""open_clip image and text embeddings for the VidDiff localizer, cached on disk.

Only this module imports torch and open_clip, and only when the CLIP localizer actually runs: the
uniform, random and oracle ablations never load them.

Three choices worth knowing:
- One model per (name, pretrained, device) per process (`load_clip`), because ViT-bigG-14 takes
  ~10 GB and tens of seconds to build. With `pretrained=None` the random initialisation is seeded,
  so random-weight embeddings are reproducible and may be cached like real ones.
- Frames are preprocessed as tensors (shortest side resized bicubic with antialias, centre crop,
  the model's mean/std), on the GPU when there is one. This matches open_clip's PIL transform up to
  interpolation rounding and removes the CPU's PIL work, which would otherwise cap the frame rate.
- `embed_videos` embeds several videos (a pair) in one pipeline and overlaps decoding with
  embedding: worker threads, or on a GPU worker processes (decoding is partly GIL-bound Python),
  read chunks of frames through the harness's VideoSource ahead of the model, while the main
  thread pins each batch, copies it to the device, preprocesses it there and runs the model. The
  same decoding pass can hand back other frames of a video as decoded (`EmbedJob.keep`: the
  VidDiff differencer's candidates, see onepass.py).
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import pickle
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidbench.contracts import BlobStore, VideoSource, content_key

CLIP_NAMESPACE = "clip"
_RANDOM_INIT_SEED = 0

# A tiny open_clip architecture for tests, benchmarks and smoke runs (random weights only).
TINY_MODEL = "viddiff-tiny"
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_model() -> str:
    """Register TINY_MODEL with open_clip (idempotent) and return its name."""
    import json
    import tempfile

    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        folder = tempfile.mkdtemp(prefix="viddiff-clip-")
        path = os.path.join(folder, f"{TINY_MODEL}.json")
        with open(path, "w") as handle:
            json.dump(TINY_CONFIG, handle)
        open_clip.add_model_config(path)
    return TINY_MODEL


@dataclass
class LoadedClip:
    """A ready open_clip model with what preprocessing needs."""

    name: str
    pretrained: str | None
    device: Any  # torch.device
    model: Any
    tokenizer: Any
    image_size: int
    mean: Any  # torch tensor (1, 3, 1, 1) on device
    std: Any
    dtype: Any  # torch dtype of the model's inputs

    @property
    def identity(self) -> list[Any]:
        """What determines the embeddings: part of every cache key."""
        return [self.name, _weights_identity(self.pretrained)]


_models: dict[tuple[str, str | None, str], LoadedClip] = {}
_models_lock = threading.Lock()


def _weights_identity(pretrained: str | None) -> Any:
    if pretrained is None:
        return f"random-init-seed{_RANDOM_INIT_SEED}"
    if os.path.exists(pretrained):
        # A local checkpoint: a changed file must not hit stale embeddings.
        st = os.stat(pretrained)
        return [os.path.abspath(pretrained), st.st_size, st.st_mtime_ns]
    return pretrained


def resolve_device(device: str | None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_clip(name: str, pretrained: str | None, device: str | None = None) -> LoadedClip:
    """Build (once per process) an open_clip model: bf16 on CUDA, float32 on CPU."""
    import open_clip
    import torch

    dev = resolve_device(device)
    key = (name, pretrained, dev)
    with _models_lock:
        if key in _models:
            return _models[key]
        cuda = dev.startswith("cuda")
        if name == TINY_MODEL:
            register_tiny_model()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RANDOM_INIT_SEED)
            model, _, _ = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=dev, precision="bf16" if cuda else "fp32"
            )
        model.eval()
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        size = int(size[0] if isinstance(size, (tuple, list)) else size)
        mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
        dtype = torch.bfloat16 if cuda else torch.float32
        loaded = LoadedClip(
            name=name,
            pretrained=pretrained,
            device=torch.device(dev),
            model=model,
            tokenizer=open_clip.get_tokenizer(name),
            image_size=size,
            mean=torch.tensor(mean, device=dev).view(1, 3, 1, 1),
            std=torch.tensor(std, device=dev).view(1, 3, 1, 1),
            dtype=dtype,
        )
        _models[key] = loaded
        return loaded


def preprocess(frames: Any, clip: LoadedClip) -> Any:
    """(B, H, W, 3) uint8 tensor -> (B, 3, S, S) normalised model input on the frames' device."""
    import torch.nn.functional as F

    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    height, width = x.shape[-2:]
    scale = clip.image_size / min(height, width)
    new_h = max(clip.image_size, round(height * scale))
    new_w = max(clip.image_size, round(width * scale))
    if (new_h, new_w) != (height, width):
        x = F.interpolate(
            x, size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False
        ).clamp_(0.0, 1.0)
    top, left = (new_h - clip.image_size) // 2, (new_w - clip.image_size) // 2
    x = x[..., top : top + clip.image_size, left : left + clip.image_size]
    x = (x - clip.mean.to(x.device)) / clip.std.to(x.device)
    return x.contiguous()


def _encode_images(clip: LoadedClip, pixels: Any) -> Any:
    import torch

    with torch.inference_mode():
        if clip.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = clip.model.encode_image(pixels.to(clip.dtype))
        else:
            out = clip.model.encode_image(pixels)
        return torch.nn.functional.normalize(out.float(), dim=-1)


def embed_texts(
    clip: LoadedClip, texts: Sequence[str], cache: BlobStore | None = None
) -> np.ndarray:
    """L2-normalised text embeddings (len(texts), D) float32; cached per text."""
    import torch

    out: list[np.ndarray | None] = [None] * len(texts)
    keys = [content_key("text", clip.identity, t) for t in texts]
    missing = []
    for i, key in enumerate(keys):
        raw = cache.get(CLIP_NAMESPACE, key) if cache is not None else None
        if raw is not None:
            out[i] = np.frombuffer(raw, dtype=np.float32)
        else:
            missing.append(i)
    if missing:
        tokens = clip.tokenizer([texts[i] for i in missing]).to(clip.device)
        with torch.inference_mode():
            if clip.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    emb = clip.model.encode_text(tokens)
            else:
                emb = clip.model.encode_text(tokens)
            emb = torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy()
        for row, i in enumerate(missing):
            vector = np.ascontiguousarray(emb[row], dtype=np.float32)
            out[i] = vector
            if cache is not None:
                cache.put(CLIP_NAMESPACE, keys[i], vector.tobytes())
    return np.stack(out)  # type: ignore[arg-type]


def decode_chunk(source: VideoSource, indices: Sequence[int], max_side: int | None) -> np.ndarray:
    """Decode one chunk of frames (runs in a worker thread or process): (n, H, W, 3) uint8."""
    return np.ascontiguousarray(source.read(list(indices), max_side=max_side).arrays)


@dataclass(frozen=True)
class EmbedJob:
    """One video's part of an `embed_videos` call: the frames to embed, and frames to `keep` as
    decoded in the same pass, for a later reader of the video (`Video.hold`). Keeping needs a
    source that hands decoded frames back (`read_keeping`: vidbench.video.Video) and the thread
    backend (decoded frames cannot leave a worker process); otherwise nothing is kept."""

    source: VideoSource
    indices: Sequence[int]
    keep: Sequence[int] = ()


@dataclass
class Embedded:
    """What `embed_videos` made of one job."""

    embeddings: np.ndarray  # (len(indices), D) float32, L2-normalised
    kept: dict[int, Any]  # trimmed index -> decoded frame, of job.keep
    frames_decoded: int  # decoder output of this pass (0 where the source does not count)
    cached: bool = False


@dataclass(frozen=True)
class _Task:
    """One chunk of one job, decoded by a worker (picklable: sent to worker processes)."""

    job: int
    source: VideoSource
    indices: list[int]
    max_side: int | None
    keep: list[int]


@dataclass
class _Decoded:
    job: int
    frames: Any  # (n, H, W, 3) uint8 array, or already preprocessed (CPU thread workers)
    kept: dict[int, Any]
    frames_decoded: int


def _decode_task(task: _Task) -> _Decoded:
    """Decode one chunk (in a worker thread or process). A fresh, cache-less copy of the source
    per task counts exactly this task's decoding, whichever worker ran it."""
    source = task.source.without_cache()
    read_keeping = getattr(source, "read_keeping", None)
    kept: dict[int, Any] = {}
    if task.keep and read_keeping is not None:
        frames, kept = read_keeping(task.indices, task.max_side, task.keep)
    else:
        frames = source.read(task.indices, max_side=task.max_side)
    stats = getattr(source, "stats", None)
    decoded = int(getattr(stats, "frames_decoded", 0))
    return _Decoded(task.job, np.ascontiguousarray(frames.arrays), kept, decoded)


def _decode_and_preprocess(task: _Task, clip: LoadedClip) -> _Decoded:
    """Thread worker without an accelerator: preprocessing in the worker runs in parallel with
    the model in the main thread (torch releases the GIL)."""
    import torch

    done = _decode_task(task)
    done.frames = preprocess(torch.from_numpy(done.frames), clip)
    return done


_process_pools: dict[int, ProcessPoolExecutor] = {}


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """One decode process pool per size per process, kept for reuse: spawning costs ~1 s.
    'spawn' because forking a process that holds CUDA state or decoder threads is unsafe."""
    with _models_lock:
        pool = _process_pools.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            _process_pools[workers] = pool
        return pool


def choose_backend(backend: str, clip: LoadedClip, source: VideoSource, workers: int) -> str:
    """ "auto": decode processes when feeding a GPU with several workers and the source can be
    sent to a process (vidbench.video sources can), threads otherwise. Asked of the cache-less
    copy that decode tasks carry: a source holding its Cache cannot be pickled."""
    if backend != "auto":
        return backend
    if clip.device.type != "cuda" or workers < 2:
        return "thread"
    try:
        pickle.dumps(source.without_cache())
    except Exception:  # e.g. a source holding an open container
        return "thread"
    return "process"


def _tasks(job_no: int, job: EmbedJob, max_side: int | None, chunk: int, keep: bool) -> list[_Task]:
    """A job's frames in chunks of at least `chunk` frames, cut only at a keyframe after the
    previous frame needed (`decode_runs`, where the source has it): chunks decoded by
    different workers do not decode the same frames. Each kept frame goes with the chunk whose
    span it falls in (from its first frame to the next chunk's), so it is decoded in that
    chunk's pass (one falling after the next chunk's keyframe makes those few frames decoded
    twice)."""
    source = job.source.without_cache()  # the localizer caches embeddings, not CLIP frames
    indices = [int(i) for i in job.indices]
    decode_runs = getattr(source, "decode_runs", None)
    if decode_runs is not None and indices == sorted(set(indices)):
        runs: list[list[int]] = decode_runs(indices)
    else:
        runs = [[i] for i in indices]
    chunks: list[list[int]] = []
    for run in runs:
        if chunks and len(chunks[-1]) < chunk:
            chunks[-1].extend(run)
        else:
            chunks.append(list(run))
    starts = [c[0] for c in chunks[1:]]
    kept: list[list[int]] = [[] for _ in chunks]
    for i in sorted({int(i) for i in job.keep}) if keep else []:
        kept[bisect.bisect_right(starts, i)].append(i)
    return [_Task(job_no, source, c, max_side, k) for c, k in zip(chunks, kept)]


def _pixels(items: Sequence[Any], clip: LoadedClip, on_gpu: bool) -> Any:
    """A batch's model input from decoded chunks. Chunks of different videos may differ in size:
    each run of same-sized chunks is preprocessed on its own (to the model's square input),
    then the runs are concatenated."""
    import torch

    if not isinstance(items[0], np.ndarray):  # preprocessed by the thread workers
        return torch.cat(list(items))
    groups: list[list[np.ndarray]] = []
    for item in items:
        if groups and groups[-1][0].shape[1:] == item.shape[1:]:
            groups[-1].append(item)
        else:
            groups.append([item])
    parts = []
    for group in groups:
        frames = torch.from_numpy(np.concatenate(group) if len(group) > 1 else group[0])
        if on_gpu:
            frames = frames.pin_memory().to(clip.device, non_blocking=True)
        parts.append(preprocess(frames, clip))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def embed_videos(
    clip: LoadedClip,
    jobs: Sequence[EmbedJob],
    *,
    batch_size: int = 128,
    workers: int = 4,
    max_side: int | None = None,
    backend: str = "auto",
    chunk: int | None = None,
    prefetch: int | None = None,
) -> list[Embedded]:
    """Embed several videos' frames in one pipeline: a batch may hold the end of one video and
    the start of the next, so only the last batch of all is short. Returns one Embedded per job,
    in order; the embeddings equal (to float rounding) what `embed_video` gives per video.

    Decode tasks of `chunk` frames run in `workers` threads or processes (`backend`: "thread",
    "process" or "auto"), up to `prefetch` tasks ahead; the main thread assembles batches of
    about `batch_size`, copies them to the device from pinned memory, preprocesses and embeds
    them, so the device waits on the decoders only when decoding is the slower side.
    """
    import torch

    workers = max(1, workers)
    chunk = chunk or max(1, batch_size // 4)
    prefetch = prefetch or 2 * workers
    results = [Embedded(np.zeros((0, 0), dtype=np.float32), {}, 0) for _ in jobs]
    if not any(job.indices for job in jobs):
        return results
    backend = choose_backend(backend, clip, jobs[0].source, workers)
    keep = backend == "thread"  # decoded frames cannot be sent back from a process
    tasks = [t for n, job in enumerate(jobs) for t in _tasks(n, job, max_side, chunk, keep)]
    on_gpu = clip.device.type == "cuda"

    if backend == "process":
        pool: Any = _process_pool(workers)
        submit = lambda task: pool.submit(_decode_task, task)  # noqa: E731
        owned = None
    elif backend == "thread":
        owned = pool = ThreadPoolExecutor(workers, thread_name_prefix="clip-decode")
        if on_gpu:
            submit = lambda task: pool.submit(_decode_task, task)  # noqa: E731
        else:
            submit = lambda task: pool.submit(_decode_and_preprocess, task, clip)  # noqa: E731
    else:
        raise ValueError(f"unknown decode backend {backend!r} (thread, process or auto)")

    outputs: list[Any] = []
    buffer: list[Any] = []
    order: list[tuple[int, int]] = []  # (job, rows) of each decoded chunk, in model order

    def flush() -> None:
        # Results stay on the device until the end: no per-batch synchronisation.
        outputs.append(_encode_images(clip, _pixels(buffer, clip, on_gpu)))
        buffer.clear()

    from vidbench import feedback

    total = sum(len(t.indices) for t in tasks)
    bar = feedback.counter(total, "embedding frames", "frame")
    try:
        pending: deque[Future[_Decoded]] = deque()
        next_task, buffered = 0, 0
        while next_task < len(tasks) or pending:
            while next_task < len(tasks) and len(pending) < prefetch:
                pending.append(submit(tasks[next_task]))
                next_task += 1
            done = pending.popleft().result()
            result = results[done.job]
            result.frames_decoded += done.frames_decoded
            result.kept.update(done.kept)
            buffer.append(done.frames)
            order.append((done.job, len(done.frames)))
            buffered += len(done.frames)
            bar.update(len(done.frames))
            if buffered >= batch_size:
                flush()
                buffered = 0
        if buffer:
            flush()
    finally:
        bar.close()
        if owned is not None:
            owned.shutdown(wait=True, cancel_futures=True)
    rows = torch.cat(outputs).cpu().numpy().astype(np.float32, copy=False)
    # Chunks come back in submission order, so each job's rows are one contiguous block.
    at = 0
    for job in range(len(jobs)):
        n = sum(count for j, count in order if j == job)
        if n:
            results[job].embeddings = rows[at : at + n]
        at += n
    return results


def embed_video(
    clip: LoadedClip,
    source: VideoSource,
    indices: Sequence[int],
    *,
    batch_size: int = 128,
    workers: int = 4,
    max_side: int | None = None,
    backend: str = "auto",
    chunk: int | None = None,
    prefetch: int | None = None,
) -> np.ndarray:
    """Embed the given trimmed-video frames of one video: (len(indices), D) float32,
    L2-normalised (`embed_videos` with one job)."""
    return embed_videos(
        clip,
        [EmbedJob(source, indices)],
        batch_size=batch_size,
        workers=workers,
        max_side=max_side,
        backend=backend,
        chunk=chunk,
        prefetch=prefetch,
    )[0].embeddings


def video_identity(source: VideoSource) -> Any:
    """What identifies a video's content for the cache. The trim and rate are part of it
    because indices are trimmed-video indices."""
    ref = source.ref
    return [source.content_id, ref.fps_original, list(ref.trim), source.num_frames]


def image_key(
    clip: LoadedClip, source: VideoSource, indices: Sequence[int], max_side: int | None
) -> str:
    """The cache key of one video's frame embeddings."""
    return content_key(
        "image", video_identity(source), [int(i) for i in indices], clip.identity, max_side
    )


def cached_video_embeddings(
    clip: LoadedClip,
    source: VideoSource,
    indices: Sequence[int],
    cache: BlobStore | None,
    **kwargs: Any,
) -> tuple[np.ndarray, bool]:
    """`embed_video` behind the on-disk cache; returns (embeddings, was_cached)."""
    done = cached_embeddings(clip, [EmbedJob(source, indices)], cache, **kwargs)[0]
    return done.embeddings, done.cached


def cached_embeddings(
    clip: LoadedClip, jobs: Sequence[EmbedJob], cache: BlobStore | None, **kwargs: Any
) -> list[Embedded]:
    """`embed_videos` behind the on-disk cache: each video's embeddings are stored under its own
    key (`image_key`, as one video embedded alone), and only the videos not found are decoded
    and embedded, together. A video found in the cache is not decoded: it keeps no frames."""
    keys = [image_key(clip, job.source, job.indices, kwargs.get("max_side")) for job in jobs]
    results: list[Embedded | None] = [None] * len(jobs)
    for n, (job, key) in enumerate(zip(jobs, keys)):
        raw = cache.get(CLIP_NAMESPACE, key) if cache is not None else None
        if raw is not None:
            emb = np.frombuffer(raw, dtype=np.float32).reshape(len(job.indices), -1)
            results[n] = Embedded(emb, {}, 0, cached=True)
    todo = [n for n, r in enumerate(results) if r is None]
    for n, done in zip(todo, embed_videos(clip, [jobs[n] for n in todo], **kwargs)):
        results[n] = done
        if cache is not None:
            cache.put(CLIP_NAMESPACE, keys[n], np.ascontiguousarray(done.embeddings).tobytes())
    return [r for r in results if r is not None]
