"""Frames from videos, as the harness reads them (decoding itself, with PyAV for .mp4/.mov and
PIL for image folders, is vidbench.decoding).

A dataset video is a file or a folder of frame images (name order = time order), relative to a
video root, with a trim applied as Python's `slice(start, end)`. Every index a caller sees is an
index into the trimmed video. `frame_indices` is the one sampling rule for both videos of a pair.

Decoded arrays are not cached; frames a method sends as images (FrameSpec.image_format) are
encoded here, once, and kept as those image files in the frame cache (vidbench.framecache).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import os
import stat
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.cache import Cache, content_key, get_cache
from vidbench.contracts import FrameSpec, VideoFrames, VideoRef
from vidbench.decoding import (
    HELD_LOCK,
    DecodeStats,
    FrameSink,
    Layout,
    decode_file,
    decode_folder,
    decoded_bytes,
    encode_image,
    image_files,
    scan_file,
    scan_folder,
    to_rgb,
)
from vidbench.errors import VideoError
from vidbench.framecache import frame_cache

FRAMES_NS = "frames"
# Bump when what a frame-cache entry holds changes (2: encoded images; 3: PNGs at zlib level 1).
_FRAMES_FORMAT = 3
_FPS_EPS = 1e-6
_ROOT_ENV = "VIDBENCH_VIDEO_ROOT"
_DOWNLOAD_HINT = "run `vidbench data download` or pass --video-root"


def video_root(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The folder dataset video paths are relative to: --video-root, else $VIDBENCH_VIDEO_ROOT."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(_ROOT_ENV)
    return Path(env).expanduser() if env else None


def frame_indices(n_frames: int, fps_original: float, spec: FrameSpec) -> list[int]:
    """Indices (into a video of `n_frames` at `fps_original`) that `spec` selects.

    fps: frame floor(i * fps_original / fps) for i = 0, 1, ... (every frame if fps >= the
    original), so 30 -> 4 fps gives 0, 7, 15, 22, 30, ...; with index_rule "stride", every
    int(fps_original / fps)-th frame (the reference code's rule: 0, 7, 14, 21, ...).
    num_frames: evenly spaced over the whole video. max_frames then keeps an even subsample of
    that list.
    """
    if n_frames <= 0:
        return []
    if spec.fps is not None:
        if not fps_original > 0:
            raise ValueError(
                f"fps_original must be positive to sample at {spec.fps} fps, got {fps_original}"
            )
        if spec.fps >= fps_original:
            indices = list(range(n_frames))
        elif spec.index_rule == "stride":
            # The reference code's rule: a whole-frame stride, the rate rounded up.
            indices = list(range(0, n_frames, int(fps_original / spec.fps + _FPS_EPS)))
        else:
            indices = []
            i = 0
            while True:
                # The epsilon keeps exact multiples (8 -> 3 fps: 3 * 8 / 3 = 8) from flooring
                # to the frame before because of float rounding.
                index = math.floor(i * fps_original / spec.fps + _FPS_EPS)
                if index >= n_frames:
                    break
                indices.append(index)
                i += 1
    else:
        count = min(int(spec.num_frames or 1), n_frames)
        indices = sorted({int(x) for x in np.round(np.linspace(0, n_frames - 1, count))})
    if spec.max_frames is not None and len(indices) > spec.max_frames:
        positions = np.round(np.linspace(0, len(indices) - 1, spec.max_frames)).astype(int)
        indices = [indices[p] for p in positions]
    return indices


def _fit(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Output size keeping the aspect ratio, longer side <= max_side (never upscaled)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _trim_range(n_total: int, trim: tuple[int | None, int | None]) -> range:
    # range slicing is exactly Python's slice semantics, negatives and None included.
    return range(n_total)[slice(trim[0], trim[1])]


# --------------------------------------------------------------------------------------------
# Content hashes (cache keys), memoised per file state so a video is read once per process.

_memo_lock = threading.Lock()
_hash_memo: dict[tuple[Any, ...], str] = {}
_probe_memo: dict[tuple[Any, ...], Layout] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _memo_key(path: Path) -> tuple[Any, ...]:
    if path.is_dir():
        return ("dir", str(path.resolve()), tuple(_stat_key(f) for f in image_files(path)))
    return ("file", *_stat_key(path))


def learned_facts(path: Path) -> tuple[tuple[Any, ...], Layout | None, str | None]:
    """What this process learned about a video (its layout, its content hash), under the key of
    the file's current state: a worker process hands it to the main process (`learn_facts`), so
    the main process opens the video without reading it again."""
    key = _memo_key(path)
    with _memo_lock:
        return key, _probe_memo.get(key), _hash_memo.get(key)


def learn_facts(key: tuple[Any, ...], layout: Layout | None, digest: str | None) -> None:
    with _memo_lock:
        if layout is not None:
            _probe_memo[key] = layout
        if digest is not None:
            _hash_memo[key] = digest


def content_hash(path: Path) -> str:
    """blake2b of a video file's bytes, or of an image folder's sorted names and bytes."""
    memo_key = _memo_key(path)
    with _memo_lock:
        cached = _hash_memo.get(memo_key)
    if cached is not None:
        return cached
    h = hashlib.blake2b(digest_size=20)
    for f in image_files(path) if path.is_dir() else [path]:
        if path.is_dir():
            h.update(f.name.encode() + b"\x00")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    digest = h.hexdigest()
    with _memo_lock:
        _hash_memo[memo_key] = digest
    return digest


def _layout(path: Path) -> Layout:
    memo_key = _memo_key(path)
    with _memo_lock:
        layout = _probe_memo.get(memo_key)
    if layout is None:
        layout = scan_folder(path) if path.is_dir() else scan_file(path)
        with _memo_lock:
            _probe_memo[memo_key] = layout
    return layout


# --------------------------------------------------------------------------------------------
# The public video object.


def video_path(ref: VideoRef, root: Path | None) -> Path:
    """Where a dataset video lives: its path under the video root (as given when no root)."""
    return (Path(root) / ref.path) if root is not None else Path(ref.path)


def path_problem(ref: VideoRef, root: Path | None) -> str | None:
    """Why the dataset's path for this video must not be opened, or None.

    Dataset rows are untrusted: a path must stay inside the video root as written (relative, no
    `..` component, no NUL). Symlinks the user placed inside the root are followed wherever they
    point (the docs tell users to link video folders there); only the row's text is judged. With
    no root (library use) the path is taken as given."""
    if root is None:
        return None
    text = ref.path
    if not text or "\x00" in text:
        return f"video path {text!r} is empty or holds a NUL byte"
    pure = Path(text)
    if pure.is_absolute() or text.startswith(("/", "\\")) or ".." in pure.parts:
        return (
            f"video path {text!r} points outside the video root {root} "
            "(absolute, or climbs out with '..'); dataset paths must be relative to the root"
        )
    return None


def _not_regular(path: Path) -> str | None:
    """Only regular files and folders (of regular image files) are opened: a FIFO or a device
    would block or stream forever."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            for f in image_files(path):
                if not stat.S_ISREG(f.stat().st_mode):
                    return f"frame image {f} is not a regular file"
            return None
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"{path} is not a regular file or folder"


def checked_video_path(ref: VideoRef, root: Path | None, sample_key: str | None = None) -> Path:
    """`video_path`, refused (VideoError: this sample's status) when the row's path leaves the
    root or names something other than a regular file or folder."""
    who = f"sample {sample_key!r}: " if sample_key else ""
    problem = path_problem(ref, root)
    if problem:
        raise VideoError(f"{who}{problem}")
    path = video_path(ref, root)
    if not path.exists():
        raise VideoError(_missing_message(path, root, sample_key))
    problem = _not_regular(path)
    if problem:
        raise VideoError(f"{who}{problem}")
    return path


def _missing_message(path: Path, root: Path | None, sample_key: str | None) -> str:
    who = f"sample {sample_key!r}: " if sample_key else ""
    return (
        f"{who}video not found: {path} (video root: {root if root is not None else 'not set'})"
        f"; {_DOWNLOAD_HINT}"
    )


@dataclass
class Video:
    """One trimmed video (implements contracts.VideoSource). Create it with `open_video`."""

    ref: VideoRef
    path: Path
    sample_key: str | None
    cache: Cache | None
    layout: Layout
    span: range  # trimmed index i is frame span[i] of the whole video
    stats: DecodeStats = field(default_factory=DecodeStats)
    # max_side -> {trimmed index: frame} decoded by `preload`, served to later reads.
    preloaded: dict[int | None, dict[int, np.ndarray]] = field(default_factory=dict, repr=False)
    # trimmed index -> decoded frame, not yet converted (`hold`), served to later reads.
    held: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.span)

    @property
    def content_id(self) -> str:
        return content_hash(self.path)

    def without_cache(self) -> Video:
        # The stores of preloaded and held frames are shared, not copied: frames kept for a
        # later reader are visible from both objects.
        return dataclasses.replace(
            self, cache=None, stats=DecodeStats(), preloaded=self.preloaded, held=self.held
        )

    def frame_size(self, max_side: int | None = None) -> tuple[int, int]:
        """(width, height) of this video's frames as read at `max_side`."""
        return _fit(self.layout.width, self.layout.height, max_side)

    @property
    def n_frames_total(self) -> int:
        return self.layout.n_frames

    @property
    def fps_original(self) -> float:
        """The dataset's rate (timestamps use it); the container's when the dataset has none."""
        if self.ref.fps_original and self.ref.fps_original > 0:
            return float(self.ref.fps_original)
        if self.layout.fps:
            return self.layout.fps
        raise VideoError(
            f"{self._who()}video {self.path} has no fps_original and no container frame rate"
        )

    def indices(self, spec: FrameSpec) -> list[int]:
        """The trimmed-video indices `spec` selects, without decoding."""
        return frame_indices(self.num_frames, self.fps_original, spec)

    def sample(self, spec: FrameSpec) -> VideoFrames:
        """Frames chosen by `spec` (the same rule for both videos of a pair); encoded as images
        too when the spec names an image format."""
        image = (spec.image_format, spec.image_quality) if spec.image_format else None
        return self.read(self.indices(spec), spec.max_side, image=image)

    def read(
        self,
        indices: Sequence[int],
        max_side: int | None = None,
        *,
        image: tuple[str, int] | None = None,
    ) -> VideoFrames:
        """Exactly these trimmed-video frames, in the order given (repeats allowed). `image`
        (format, quality): also encode them as the image files a model is sent, through the
        frame cache; the arrays are then decoded only if asked for."""
        indices = self._checked(indices)
        held = self.preloaded.get(max_side)
        if image is None and held is not None and indices and all(i in held for i in indices):
            fps = self.fps_original
            arrays = np.stack([held[i] for i in indices])
            return VideoFrames(indices, tuple(i / fps for i in indices), fps, arrays)
        size = _fit(self.layout.width, self.layout.height, max_side)
        if image is None and indices and all(i in self.held for i in indices):
            full = (self.layout.width, self.layout.height)
            with HELD_LOCK:
                arrays = np.stack([to_rgb(self.held[i], size, full) for i in indices])
            fps = self.fps_original
            return VideoFrames(indices, tuple(i / fps for i in indices), fps, arrays)
        absolute = sorted({self.span[i] for i in indices})
        position = {a: p for p, a in enumerate(absolute)}
        order = [position[self.span[i]] for i in indices]
        in_order = order == list(range(len(absolute)))

        def decode() -> np.ndarray:
            stack = self._decode(absolute, size)
            # Sorted unique indices (what `sample` asks for) use the stack as is: no second copy.
            return stack if in_order else stack[order]

        fps = self.fps_original
        times = tuple(i / fps for i in indices)
        if image is None:
            return VideoFrames(indices, times, fps, decode())
        fmt, quality = VideoFrames.image_key(*image)
        store = self._frame_store()
        key = None
        if store is not None:
            key = content_key(
                FRAMES_NS, _FRAMES_FORMAT, content_hash(self.path), absolute, max_side, fmt, quality
            )
            cached = store.get(key)
            if cached is not None and len(cached) == len(absolute):
                self.stats.cache_hits += 1
                images = {(fmt, quality): [cached[p] for p in order]}
                return VideoFrames(indices, times, fps, decode=decode, images=images)
            self.stats.cache_misses += 1
        stack = self._decode(absolute, size)
        encoded = [encode_image(a, fmt, quality) for a in stack]
        if store is not None and key is not None:
            if not store.put(key, encoded):
                self.stats.cache_full += 1
        # The arrays are dropped: a method that sends images rarely needs them, and samples
        # waiting for a request slot then hold ~1 MB each instead of ~20 MB.
        images = {(fmt, quality): [encoded[p] for p in order]}
        return VideoFrames(indices, times, fps, decode=decode, images=images)

    def preload(self, indices: Sequence[int], max_side: int | None = None) -> None:
        """Decode these frames now, in one pass, and serve later `read`s of any of them at this
        `max_side` from memory: a method that reads a few frames per step (VidDiff's
        differencer, one read per statement) then decodes each video once per sample instead of
        seeking and decoding from a keyframe for every read. Frames already held at this
        max_side are not decoded again."""
        held = self.preloaded.get(max_side, {})
        missing = sorted({int(i) for i in indices} - held.keys())
        if not missing:
            return
        frames = self.read(missing, max_side)
        self.preloaded.setdefault(max_side, {}).update(zip(frames.indices, frames.arrays))

    def decode_runs(self, indices: Sequence[int]) -> list[list[int]]:
        """Sorted trimmed indices grouped so that separate passes can decode the groups without
        decoding any frame twice: a group ends before a target with a keyframe after the
        previous target (a new pass starts at that keyframe, where the old one would have gone
        on anyway). A caller that splits a video between workers splits between groups. Dense
        targets (every frame) still split at every keyframe, so a long clip is never one task."""
        if self.path.is_dir():
            return [[int(i)] for i in indices]  # each image is read on its own
        offset = self.span.start
        keyframes = self.layout.keyframes
        groups: list[list[int]] = []
        previous = None
        for i in indices:
            absolute = self.span[int(i)]
            after = bisect.bisect_right(keyframes, previous) if previous is not None else 0
            if previous is None or (after < len(keyframes) and keyframes[after] <= absolute):
                groups.append([])
            groups[-1].append(absolute - offset)
            previous = absolute
        return groups

    def read_keeping(
        self, indices: Sequence[int], max_side: int | None, keep: Sequence[int]
    ) -> tuple[VideoFrames, dict[int, Any]]:
        """`read(indices, max_side)`, and from the same decoding pass the frames `keep` as
        decoded, not converted (trimmed index -> frame), for `hold`. The arrays are not served
        from, nor put in, the frame cache or the held stores."""
        indices, keep = self._checked(indices), self._checked(keep)
        absolute = sorted({self.span[i] for i in indices})
        position = {a: p for p, a in enumerate(absolute)}
        order = [position[self.span[i]] for i in indices]
        sink = FrameSink(absolute, self.frame_size(max_side))
        raw = FrameSink(sorted({self.span[i] for i in keep}), None)
        self._fill([sink, raw])
        fps = self.fps_original
        frames = VideoFrames(indices, tuple(i / fps for i in indices), fps, sink.stack[order])
        offset = self.span.start
        return frames, {a - offset: frame for a, frame in raw.decoded.items()}

    def hold(self, decoded: Mapping[int, Any]) -> None:
        """Keep these decoded frames (trimmed index -> frame, from `read_keeping`): later
        `read`s of only held frames convert them, at any max_side, and decode nothing."""
        self.held.update(decoded)

    def held_bytes(self) -> int:
        """Memory taken by the held decoded frames."""
        return sum(decoded_bytes(frame) for frame in self.held.values())

    def drop_held(self) -> None:
        """Forget the frames kept by `hold` (frames `preload` converted stay)."""
        self.held.clear()

    def _checked(self, indices: Sequence[int]) -> list[int]:
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoError(
                f"{self._who()}frame indices {bad[:5]} are out of range for "
                f"{self.path}: the trimmed video has {self.num_frames} frames "
                f"(trim {list(self.ref.trim)} of {self.n_frames_total})"
            )
        return indices

    def _frame_store(self) -> Any:
        """The frame cache beside the cache, for files only: an image folder's frames are read
        as cheaply as a cached copy of them would be."""
        if self.cache is None or self.path.is_dir():
            return None
        return frame_cache(self.cache.root)

    def _decode(self, absolute: list[int], size: tuple[int, int]) -> np.ndarray:
        """(len(absolute), H, W, 3) for sorted unique whole-video indices."""
        sink = FrameSink(absolute, size)
        self._fill([sink])
        return sink.stack

    def _fill(self, sinks: Sequence[FrameSink]) -> None:
        if not any(sink.slot for sink in sinks):
            return
        if self.path.is_dir():
            decode_folder(self.layout, sinks, self.stats)
        else:
            decode_file(self.path, self.layout, sinks, self.stats)

    def _who(self) -> str:
        return f"sample {self.sample_key!r}: " if self.sample_key else ""


def open_video(
    ref: VideoRef,
    root: Path | None,
    *,
    sample_key: str | None = None,
    cache: Cache | None = None,
    use_cache: bool = True,
) -> Video:
    """Open (and probe) one dataset video. `cache` defaults to the process-wide cache;
    `use_cache=False` decodes every time (benchmarks). Raises VideoError naming the sample,
    the path and the remedy when the video is missing, undecodable, empty or mis-trimmed."""
    path = checked_video_path(ref, root, sample_key)
    who = f"sample {sample_key!r}: " if sample_key else ""
    try:
        layout = _layout(path)
    except VideoError as exc:
        raise VideoError(f"{who}{exc}") from None
    span = _trim_range(layout.n_frames, ref.trim)
    start = ref.trim[0]
    if (start is not None and start >= layout.n_frames) or len(span) == 0:
        raise VideoError(
            f"{who}trim {list(ref.trim)} is outside video {path}: it has "
            f"{layout.n_frames} frames, the trim leaves {len(span)}"
        )
    if use_cache and cache is None:
        cache = get_cache()
    return Video(
        ref=ref,
        path=path,
        sample_key=sample_key,
        cache=cache if use_cache else None,
        layout=layout,
        span=span,
    )


@dataclass(frozen=True)
class VideoProbe:
    """What `vidbench data doctor` reports about one video (never raises)."""

    path: Path
    exists: bool
    decodes: bool
    n_frames_total: int | None
    n_frames_trimmed: int | None
    fps: float | None  # container rate; None for image folders
    width: int | None
    height: int | None
    error: str | None = None


def probe(ref: VideoRef, root: Path | None) -> VideoProbe:
    """Check one video: found, decodes its first frame, frame count before and after the trim."""
    path = video_path(ref, root)
    refused = path_problem(ref, root)
    if refused or not path.exists():
        return VideoProbe(
            path,
            False,
            False,
            None,
            None,
            None,
            None,
            None,
            refused or _missing_message(path, root, None),
        )
    try:
        checked_video_path(ref, root)
        layout = _layout(path)
        sink = [FrameSink([0], (layout.width, layout.height))]
        if path.is_dir():
            decode_folder(layout, sink, DecodeStats())
        else:
            decode_file(path, layout, sink, DecodeStats())
    except VideoError as exc:
        return VideoProbe(path, True, False, None, None, None, None, None, str(exc))
    trimmed = len(_trim_range(layout.n_frames, ref.trim))
    return VideoProbe(
        path, True, True, layout.n_frames, trimmed, layout.fps, layout.width, layout.height
    )
