"""Each video of a VidDiff sample decoded once: the CLIP pass also keeps the differencer's frames.

On a cold embedding cache the localizer's frames are decoded for CLIP, and after localisation the
differencer's frames would be decoded a second time. But the differencer is only ever shown a
CLIP-sampled frame or the `frames_around` triple of one (`localizer.candidate_frames`), so that
set is known before localisation: the CLIP pass decodes it too and hands those frames back as
decoded, not converted (`Video.read_keeping`); the video holds them (`Video.hold`), and the
differencer's reads convert the few it uses, by the call a decoding pass makes, so its images are
byte for byte those of a pass of its own, and nothing is decoded after localisation. Converting
every candidate up front would cost more than the second pass it saves (measured: 1.9 ms per
full-size 720p frame against 2.6 ms to decode one). Both videos are embedded in one pipeline
(`embedder.cached_embeddings`), each still cached under its own key.

Memory is bounded: a video whose kept frames would take more than KEEP_MAX_BYTES, or would take
the frames held by all samples in flight over KEEP_MAX_BYTES_TOTAL, keeps nothing, and its
differencer decodes its own frames in one pass (`Video.preload`), as on a warm embedding cache.
So does a video decoded by worker processes (decoded frames cannot leave them). Held frames are
let go as soon as the differencer's frames are converted. Each sample records what happened in
details["decode"] (`record`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidbench.contracts import VideoSource
from vidbench_methods.viddiff.localizer import CLIP_MODES, Localizer, candidate_frames

# One video's kept frames, as decoded (720p yuv420p: 1.4 MB a frame, so ~390 frames).
KEEP_MAX_BYTES = 512 * 2**20
# All samples in flight together: each holds its frames from its CLIP pass until its differencer
# is done, and an eval runs many samples at once. 1 GiB: at 2 GiB a 48-pair 720p run at
# concurrency 16 peaked at 2.8 GB resident; past the cap a video costs one more pass, not memory.
KEEP_MAX_BYTES_TOTAL = 2**30

# How a video's differencer frames are read (details["decode"]["differencer_pass"]).
SHARED = "shared"  # kept from the CLIP pass: nothing decoded after localisation
EMBEDDINGS_CACHED = "embeddings_cached"  # no CLIP pass this sample: the differencer's own pass
OVER_CAP = "over_cap"  # candidates over the memory caps: the differencer's own pass
NOT_SUPPORTED = "not_supported"  # the source cannot hand decoded frames back
PROCESS_BACKEND = "process_backend"  # decoded by worker processes: frames cannot leave them
NO_CLIP = "no_clip"  # a localizer without CLIP: the differencer's pass is the only one


class _Budget:
    """Bytes of kept frames held by all samples of this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> bool:
        with self._lock:
            if self.held + nbytes > self.limit:
                return False
            self.held += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.held -= nbytes


budget = _Budget(KEEP_MAX_BYTES_TOTAL)


@dataclass
class VideoPass:
    """One video's CLIP pass, as the rest of the sample needs it."""

    sampled: list[int]  # the frames CLIP scores ([] without CLIP)
    embedded: tuple[np.ndarray, bool] | None  # (embeddings, from the cache), for the localizer
    differencer_pass: str  # one of the values above
    frames_decoded: int = 0  # by the CLIP pass
    kept: int = 0  # candidate frames held for the differencer
    reserved: int = 0  # their bytes, counted in `budget` until `release`


def _can_keep(source: VideoSource) -> bool:
    names = ("read_keeping", "hold", "held_bytes", "drop_held", "frame_size")
    return all(hasattr(source, name) for name in names)


def _keep_plan(
    source: VideoSource, sampled: list[int], spacing_s: float, backend: str
) -> tuple[list[int], str, int]:
    """(frames to keep, differencer_pass, bytes reserved) for one video."""
    if not _can_keep(source):
        return [], NOT_SUPPORTED, 0
    if backend != "thread":
        return [], PROCESS_BACKEND, 0
    keep = candidate_frames(sampled, source.fps_original, source.num_frames, spacing_s)
    width, height = source.frame_size(None)  # type: ignore[attr-defined]
    nbytes = len(keep) * width * height * 3 // 2  # as decoded: yuv420p, the usual format
    if nbytes > KEEP_MAX_BYTES or not budget.reserve(nbytes):
        return [], OVER_CAP, 0
    return keep, SHARED, nbytes


def warm(localizer: Localizer, videos: Sequence[VideoSource], fps: float) -> list[VideoPass]:
    """Load CLIP and embed both videos' sampled frames (only those not in the cache), keeping
    each video's differencer candidates, as decoded, from the same decoding pass."""
    if localizer.mode not in CLIP_MODES:
        return [VideoPass([], None, NO_CLIP) for _ in videos]
    from vidbench_methods.viddiff import embedder

    clip = embedder.load_clip(
        localizer.clip_model, localizer.clip_pretrained, localizer.clip_device
    )
    passes: list[VideoPass] = []
    jobs: list[embedder.EmbedJob] = []
    try:  # a failure after A's reservation (B's planning included) must give it back
        for source in videos:
            sampled = localizer.sampled(source, fps)
            if not sampled:  # the localizer falls back to uniform stages
                passes.append(VideoPass([], None, NO_CLIP))
                continue
            backend = embedder.choose_backend(
                localizer.decode_backend, clip, source, localizer.workers
            )
            keep, how, nbytes = _keep_plan(source, sampled, localizer.gt1_spacing_s, backend)
            passes.append(VideoPass(sampled, None, how, reserved=nbytes))
            jobs.append(embedder.EmbedJob(source, sampled, keep))
        done = embedder.cached_embeddings(
            clip,
            jobs,
            localizer.cache,
            batch_size=localizer.batch_size,
            workers=localizer.workers,
            max_side=localizer.max_side,
            backend=localizer.decode_backend,
        )
    except BaseException:
        release(passes, videos)
        raise
    with_jobs = [(p, s) for p, s in zip(passes, videos) if p.sampled]
    for (vp, source), result in zip(with_jobs, done):
        vp.embedded = (result.embeddings, result.cached)
        vp.frames_decoded = result.frames_decoded
        if result.cached:  # nothing decoded, nothing kept
            budget.release(vp.reserved)
            vp.reserved = 0
            vp.differencer_pass = EMBEDDINGS_CACHED
        if result.kept:
            _hold(vp, source, result.kept)
    return passes


def _hold(vp: VideoPass, source: Any, kept: dict[int, Any]) -> None:
    """Hold a video's kept frames, unless they take more memory than estimated and the caps
    allow (a pixel format other than yuv420p)."""
    source.hold(kept)
    actual = source.held_bytes()
    extra = max(0, actual - vp.reserved)
    if actual > KEEP_MAX_BYTES or (extra and not budget.reserve(extra)):
        source.drop_held()
        budget.release(vp.reserved)
        vp.reserved, vp.differencer_pass = 0, OVER_CAP
        return
    vp.reserved += extra
    vp.kept = len(kept)


def release(passes: Sequence[VideoPass], videos: Sequence[VideoSource]) -> None:
    """The differencer's frames are converted (or the sample failed): forget the held frames
    and give their bytes back. Safe to call twice."""
    for vp, source in zip(passes, videos):
        drop = getattr(source, "drop_held", None)
        if drop is not None:
            drop()
        budget.release(vp.reserved)
        vp.reserved = 0


def release_when_done(warming: Future[list[VideoPass]], videos: Sequence[VideoSource]) -> None:
    """`release` once the warm-up has finished (at once if it has): also when the sample failed
    before waiting for it."""

    def done(future: Future[list[VideoPass]]) -> None:
        if not future.cancelled() and future.exception() is None:
            release(future.result(), videos)

    warming.add_done_callback(done)


def frames_decoded(source: VideoSource) -> int:
    """The source's decoder output so far (0 for a source that does not count)."""
    return int(getattr(getattr(source, "stats", None), "frames_decoded", 0))


def record(
    passes: Sequence[VideoPass],
    localization: Mapping[str, tuple[list[int], list[int]]],
    differencer_decoded: Sequence[int],
) -> dict[str, Any]:
    """details["decode"]: per video (A, B), the frames decoded this sample (CLIP pass plus the
    differencer's own pass) against the distinct frames it needed (the CLIP frames embedded this
    sample and the differencer's frames), and how the differencer's frames were read."""
    needed = []
    for v, vp in enumerate(passes):
        frames = {i for pair in localization.values() for i in pair[v]}
        if vp.embedded is not None and not vp.embedded[1]:
            frames.update(vp.sampled)
        needed.append(len(frames))
    return {
        "frames_decoded": [vp.frames_decoded + d for vp, d in zip(passes, differencer_decoded)],
        "frames_needed": needed,
        "differencer_pass": [vp.differencer_pass for vp in passes],
        "kept_frames": [vp.kept for vp in passes],
    }
