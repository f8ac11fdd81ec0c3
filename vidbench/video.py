"""Frames from videos: the one place that decodes (PyAV for .mp4/.mov, PIL for image folders).

A dataset video is a file or a folder of frame images (name order = time order), relative to a
video root, with a trim applied as Python's `slice(start, end)`. Every index a caller sees is an
index into the trimmed video. `frame_indices` is the one sampling rule for both videos of a pair.

Decoding reads only what it needs. A demux-only pass (no decoding) gives every frame's timestamp
and the keyframes; targets are then grouped into runs: a run starts with a seek to the keyframe
before its first target and decodes forward; the next target joins the run unless a later
keyframe lets a seek skip frames. Inside a run, packets of non-reference frames that are not
targets are skipped by the decoder (`skip_frame`), and only target frames are converted to RGB.
Decoded frames go to the disk cache (namespace "frames"), keyed by the video's content.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import io
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.cache import Cache, content_key, get_cache
from vidbench.contracts import FrameSpec, VideoFrames, VideoRef
from vidbench.errors import VideoError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FRAMES_NS = "frames"
_FRAMES_FORMAT = 1  # bump when the cached array layout changes
# A seek flushes the decoder (whose reordering and threading pipeline has already read a few
# frames ahead) and restarts at a keyframe: it must skip at least this many frames to pay off.
# On 720p h264 with 1 s keyframes at 30 -> 4 fps, 1 to 8 measured the same wall time.
SEEK_MIN_SAVED = 4
# Frame + slice threading: decodes in parallel on many cores; on a busy two-core machine it
# measured the same as PyAV's default (slice only). Skipping frames works under both.
THREAD_TYPE = "AUTO"
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
_probe_memo: dict[tuple[Any, ...], _Layout] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name
    )


def content_hash(path: Path) -> str:
    """blake2b of a video file's bytes, or of an image folder's sorted names and bytes."""
    if path.is_dir():
        files = _image_files(path)
        memo_key: tuple[Any, ...] = ("dir", str(path.resolve()), tuple(_stat_key(f) for f in files))
    else:
        memo_key = ("file", *_stat_key(path))
    with _memo_lock:
        cached = _hash_memo.get(memo_key)
    if cached is not None:
        return cached
    h = hashlib.blake2b(digest_size=20)
    for f in _image_files(path) if path.is_dir() else [path]:
        if path.is_dir():
            h.update(f.name.encode() + b"\x00")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    digest = h.hexdigest()
    with _memo_lock:
        _hash_memo[memo_key] = digest
    return digest


# --------------------------------------------------------------------------------------------
# Layouts: what a video holds, learned without decoding every frame.


@dataclass(frozen=True)
class _Layout:
    """Frame count, size, and (files) each frame's pts plus keyframe positions, in display order."""

    n_frames: int
    width: int
    height: int
    fps: float | None = None  # container rate; None for image folders
    pts: tuple[int, ...] = ()
    keyframes: tuple[int, ...] = ()
    files: tuple[Path, ...] = ()


def _av():
    import av  # imported here so `vidbench` imports fast for commands that never decode

    return av


def _scan_file(path: Path) -> _Layout:
    """Demux (no decoding) to learn every frame's pts; packet pts are exact where stream.frames
    is often missing or wrong (mov edit lists, variable rate). Falls back to decoding when the
    container gives packets without pts."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height:
                raise VideoError(f"video {path} has no frame size: corrupt or undecodable")
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            pts: list[int] = []
            keys: set[int] = set()
            complete = True
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                if packet.pts is None:
                    complete = False
                    break
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.add(packet.pts)
            if not complete:
                container.seek(0, stream=stream, backward=True)
                pts, keys = [], set()
                for frame in container.decode(stream):
                    pts.append(frame.pts if frame.pts is not None else len(pts))
                    if frame.key_frame:
                        keys.add(pts[-1])
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot read video {path}: corrupt or undecodable ({exc})") from None
    ordered = sorted(set(pts))
    if not ordered:
        raise VideoError(f"video {path} has zero frames")
    keyframes = tuple(i for i, p in enumerate(ordered) if p in keys) or (0,)
    return _Layout(len(ordered), width, height, fps, tuple(ordered), keyframes)


def _scan_folder(path: Path) -> _Layout:
    from PIL import Image

    files = _image_files(path)
    if not files:
        raise VideoError(
            f"image folder {path} has zero frames (no {'/'.join(IMAGE_SUFFIXES)} files)"
        )
    try:
        with Image.open(files[0]) as img:
            width, height = img.size
    except OSError as exc:
        raise VideoError(
            f"cannot read frame image {files[0]}: corrupt or undecodable ({exc})"
        ) from None
    return _Layout(len(files), width, height, files=tuple(files))


def _layout(path: Path) -> _Layout:
    if path.is_dir():
        memo_key: tuple[Any, ...] = (
            "dir",
            str(path.resolve()),
            tuple(_stat_key(f) for f in _image_files(path)),
        )
    else:
        memo_key = ("file", *_stat_key(path))
    with _memo_lock:
        layout = _probe_memo.get(memo_key)
    if layout is None:
        layout = _scan_folder(path) if path.is_dir() else _scan_file(path)
        with _memo_lock:
            _probe_memo[memo_key] = layout
    return layout


# --------------------------------------------------------------------------------------------
# Decoding.


@dataclass
class DecodeStats:
    """What reading cost, for tests and benchmarks: decoder output, seeks, cache traffic."""

    frames_decoded: int = 0
    seeks: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


class _FrameSink:
    """The output stack, allocated once: each decoded frame is written straight into its slot,
    so peak memory is one copy of the result (no list of arrays, no np.stack)."""

    def __init__(self, targets: Sequence[int], size: tuple[int, int]):
        self.slot = {t: i for i, t in enumerate(targets)}
        self.stack = np.empty((len(targets), size[1], size[0], 3), dtype=np.uint8)
        self.filled: set[int] = set()

    def __contains__(self, index: int) -> bool:
        return index in self.filled

    def put(self, index: int, rgb: np.ndarray) -> None:
        self.stack[self.slot[index]] = rgb
        self.filled.add(index)


def _plan_runs(targets: Sequence[int], keyframes: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Group sorted targets into runs, each decoded from one keyframe: (keyframe, targets)."""
    runs: list[tuple[int, list[int]]] = []
    for t in targets:
        at = bisect.bisect_right(keyframes, t) - 1
        key = keyframes[at] if at >= 0 else 0
        # Continuing decodes frames last+1..t; a seek decodes key..t instead.
        if runs and key - (runs[-1][1][-1] + 1) < SEEK_MIN_SAVED:
            runs[-1][1].append(t)
        else:
            runs.append((key, [t]))
    return runs


def _decode_file(
    path: Path, layout: _Layout, targets: Sequence[int], size: tuple[int, int], stats: DecodeStats
) -> np.ndarray:
    """(T, H, W, 3) RGB frames of the sorted, unique frame indices `targets` (display order)."""
    av = _av()
    out = _FrameSink(targets, size)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = THREAD_TYPE
            for run_no, (key, run) in enumerate(_plan_runs(targets, layout.keyframes)):
                # A fresh container starts at frame 0: no seek needed for a first run from there.
                start = None if run_no == 0 and key == 0 else key
                _decode_run(container, stream, layout, run, out, size, stats, start, skip=True)
                if any(t not in out for t in run):
                    # The seek landed after a target (possible with B-frames and dts-indexed
                    # containers): decode this run again from the very start, skipping nothing.
                    _decode_run(container, stream, layout, run, out, size, stats, 0, skip=False)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot decode video {path}: corrupt or undecodable ({exc})") from None
    missing = [t for t in targets if t not in out]
    if missing:
        raise VideoError(
            f"video {path}: frames {missing[:5]} could not be decoded "
            f"(of {layout.n_frames} frames); the file may be truncated"
        )
    return out.stack


def _decode_run(
    container: Any,
    stream: Any,
    layout: _Layout,
    run: Sequence[int],
    out: _FrameSink,
    size: tuple[int, int],
    stats: DecodeStats,
    start: int | None,
    *,
    skip: bool,
) -> None:
    """Decode forward (after seeking to frame `start`, a keyframe, unless None) until the last
    frame of `run`; convert only the frames of `run`."""
    ctx = stream.codec_context
    wanted = {layout.pts[t]: t for t in run}
    last_pts = layout.pts[run[-1]]
    resize = size != (layout.width, layout.height)
    if start is not None:
        # Seeking to a keyframe's own pts lands on it (or earlier), never past the target.
        container.seek(layout.pts[start], stream=stream, backward=True)
        stats.seeks += 1
    try:
        for packet in container.demux(stream):
            # Non-reference frames nobody asked for need not be decoded at all.
            nonref_ok = skip and packet.size and packet.pts is not None and packet.pts not in wanted
            ctx.skip_frame = "NONREF" if nonref_ok else "DEFAULT"
            for frame in ctx.decode(packet if packet.size else None):
                stats.frames_decoded += 1
                pts = frame.pts
                if pts in wanted and wanted[pts] not in out:
                    out.put(
                        wanted[pts],
                        frame.to_ndarray(
                            format="rgb24",
                            width=size[0],
                            height=size[1],
                            interpolation="AREA" if resize else None,
                        ),
                    )
                if pts is not None and pts >= last_pts:
                    return
    finally:
        ctx.skip_frame = "DEFAULT"


def _decode_folder(
    layout: _Layout, targets: Sequence[int], size: tuple[int, int], stats: DecodeStats
) -> np.ndarray:
    from PIL import Image

    out = _FrameSink(targets, size)
    for t in targets:
        file = layout.files[t]
        try:
            with Image.open(file) as img:
                rgb = img.convert("RGB")
                if rgb.size != size:
                    rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
                out.put(t, np.asarray(rgb, dtype=np.uint8))
        except OSError as exc:
            raise VideoError(
                f"cannot read frame image {file}: corrupt or undecodable ({exc})"
            ) from None
        stats.frames_decoded += 1
    return out.stack


def _to_bytes(arrays: np.ndarray) -> memoryview:
    buf = io.BytesIO()
    np.save(buf, arrays, allow_pickle=False)
    return buf.getbuffer()  # a view, not a second copy of a possibly large stack


def _from_bytes(raw: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError):  # a damaged entry is a miss, not a failure
        return None


# --------------------------------------------------------------------------------------------
# The public video object.


def video_path(ref: VideoRef, root: Path | None) -> Path:
    """Where a dataset video lives: its path under the video root (as given when no root)."""
    return (Path(root) / ref.path) if root is not None else Path(ref.path)


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
    layout: _Layout
    span: range  # trimmed index i is frame span[i] of the whole video
    stats: DecodeStats = field(default_factory=DecodeStats)

    @property
    def num_frames(self) -> int:
        return len(self.span)

    @property
    def content_id(self) -> str:
        return content_hash(self.path)

    def without_cache(self) -> Video:
        return dataclasses.replace(self, cache=None, stats=DecodeStats())

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
        """Frames chosen by `spec` (the same rule for both videos of a pair)."""
        return self.read(self.indices(spec), spec.max_side)

    def read(self, indices: Sequence[int], max_side: int | None = None) -> VideoFrames:
        """Exactly these trimmed-video frames, in the order given (repeats allowed)."""
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoError(
                f"{self._who()}frame indices {bad[:5]} are out of range for "
                f"{self.path}: the trimmed video has {self.num_frames} frames "
                f"(trim {list(self.ref.trim)} of {self.n_frames_total})"
            )
        size = _fit(self.layout.width, self.layout.height, max_side)
        absolute = sorted({self.span[i] for i in indices})
        stack = self._load(absolute, size, max_side)
        position = {a: p for p, a in enumerate(absolute)}
        order = [position[self.span[i]] for i in indices]
        # Sorted unique indices (what `sample` asks for) use the stack as is: no second copy.
        arrays = stack if order == list(range(len(absolute))) else stack[order]
        fps = self.fps_original
        return VideoFrames(
            indices=tuple(indices),
            timestamps=tuple(i / fps for i in indices),
            fps_original=fps,
            arrays=arrays,
        )

    def _load(self, absolute: list[int], size: tuple[int, int], max_side: int | None) -> np.ndarray:
        """(len(absolute), H, W, 3) for sorted unique whole-video indices, via the cache."""
        if not absolute:
            return np.zeros((0, size[1], size[0], 3), dtype=np.uint8)
        key = None
        if self.cache is not None:
            key = content_key(
                FRAMES_NS, _FRAMES_FORMAT, content_hash(self.path), absolute, max_side
            )
            raw = self.cache.get(FRAMES_NS, key)
            stack = _from_bytes(raw) if raw is not None else None
            if stack is not None and stack.shape == (len(absolute), size[1], size[0], 3):
                self.stats.cache_hits += 1
                return stack
            self.stats.cache_misses += 1
        if self.path.is_dir():
            stack = _decode_folder(self.layout, absolute, size, self.stats)
        else:
            stack = _decode_file(self.path, self.layout, absolute, size, self.stats)
        if self.cache is not None and key is not None:
            self.cache.put(FRAMES_NS, key, _to_bytes(stack))  # type: ignore[arg-type]
        return stack

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
    path = video_path(ref, root)
    if not path.exists():
        raise VideoError(_missing_message(path, root, sample_key))
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
    if not path.exists():
        return VideoProbe(
            path, False, False, None, None, None, None, None, _missing_message(path, root, None)
        )
    try:
        layout = _layout(path)
        size = (layout.width, layout.height)
        if path.is_dir():
            _decode_folder(layout, [0], size, DecodeStats())
        else:
            _decode_file(path, layout, [0], size, DecodeStats())
    except VideoError as exc:
        return VideoProbe(path, True, False, None, None, None, None, None, str(exc))
    trimmed = len(_trim_range(layout.n_frames, ref.trim))
    return VideoProbe(
        path, True, True, layout.n_frames, trimmed, layout.fps, layout.width, layout.height
    )
