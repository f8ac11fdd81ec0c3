"""Each video of a VidDiff sample decoded once: the CLIP pass also keeps the differencer's frames.

On a cold embedding cache the localizer's frames are decoded for CLIP, and after localisation the
differencer's frames would be decoded a second time. But the differencer is only ever shown a
CLIP-sampled frame or the `frames_around` triple of one (`localizer.candidate_frames`), so that
set is known before localisation: the CLIP pass decodes it in the same pass, converted at the
differencer's size by the same call a separate read makes (`Video.read_sizes`), and the video
holds it (`Video.hold`) so the differencer's reads decode nothing. Both videos are embedded in
one pipeline (`embedder.cached_embeddings`), each still cached under its own key.

Memory is bounded: a video whose candidates would take more than KEEP_MAX_BYTES, or would take
the frames held by all samples in flight over KEEP_MAX_BYTES_TOTAL, keeps nothing, and its
differencer decodes its own frames in one pass (`Video.preload`), as on a warm embedding cache.
Each sample records what happened in details["decode"] (`record`).
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

# One video's kept candidates: 512 MiB holds ~185 full 720p frames, or ~1,200 at 512 px.
KEEP_MAX_BYTES = 512 * 2**20
# All samples in flight together: each holds its frames from its CLIP pass until its differencer
# is done, and an eval runs many samples at once.
KEEP_MAX_BYTES_TOTAL = 2 * 2**30

# How a video's differencer frames are read (details["decode"]["differencer_pass"]).
SHARED = "shared"  # kept from the CLIP pass: nothing decoded after localisation
EMBEDDINGS_CACHED = "embeddings_cached"  # no CLIP pass this sample: the differencer's own pass
OVER_CAP = "over_cap"  # candidates over the memory caps: the differencer's own pass
NOT_SUPPORTED = "not_supported"  # the source cannot read two sizes in one pass
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
    differencer_pass: str  # SHARED, EMBEDDINGS_CACHED, OVER_CAP, NOT_SUPPORTED or NO_CLIP
    frames_decoded: int = 0  # by the CLIP pass
    kept: int = 0  # candidate frames held for the differencer
    reserved: int = 0  # their bytes, counted in `budget` until `release`


def _can_keep(source: VideoSource) -> bool:
    return all(hasattr(source, name) for name in ("read_sizes", "hold", "frame_size"))


def _keep_plan(
    source: VideoSource, sampled: list[int], keep_max_side: int | None, spacing_s: float
) -> tuple[list[int], str, int]:
    """(frames to keep, differencer_pass, bytes reserved) for one video."""
    if not _can_keep(source):
        return [], NOT_SUPPORTED, 0
    keep = candidate_frames(sampled, source.fps_original, source.num_frames, spacing_s)
    width, height = source.frame_size(keep_max_side)  # type: ignore[attr-defined]
    nbytes = len(keep) * width * height * 3
    if nbytes > KEEP_MAX_BYTES or not budget.reserve(nbytes):
        return [], OVER_CAP, 0
    return keep, SHARED, nbytes


def warm(
    localizer: Localizer,
    videos: Sequence[VideoSource],
    fps: float,
    keep_max_side: int | None,
) -> list[VideoPass]:
    """Load CLIP and embed both videos' sampled frames (only those not in the cache), keeping
    each video's differencer candidates at `keep_max_side` from the same decoding pass."""
    if localizer.mode not in CLIP_MODES:
        return [VideoPass([], None, NO_CLIP) for _ in videos]
    from vidbench_methods.viddiff import embedder

    clip = embedder.load_clip(
        localizer.clip_model, localizer.clip_pretrained, localizer.clip_device
    )
    passes: list[VideoPass] = []
    jobs: list[embedder.EmbedJob] = []
    for source in videos:
        sampled = localizer.sampled(source, fps)
        if not sampled:  # the localizer falls back to uniform stages
            passes.append(VideoPass([], None, NO_CLIP))
            continue
        keep, how, nbytes = _keep_plan(source, sampled, keep_max_side, localizer.gt1_spacing_s)
        passes.append(VideoPass(sampled, None, how, reserved=nbytes))
        jobs.append(embedder.EmbedJob(source, sampled, keep, keep_max_side))
    try:
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
        for indices, arrays in result.kept:
            source.hold(indices, arrays, keep_max_side)  # type: ignore[attr-defined]
            vp.kept += len(indices)
    return passes


def release(passes: Sequence[VideoPass], videos: Sequence[VideoSource]) -> None:
    """The sample is done with its frames: forget them and give their bytes back."""
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
