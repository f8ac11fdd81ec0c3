"""Decoding: what a video file or image folder holds (its layout, learned without decoding every
frame), and one pass over it that fills every reader's frames. vidbench.video is the public face
(trims, sampling, caches); this module is its engine.

Decoding reads only what it needs. A demux-only pass (no decoding) gives every frame's timestamp
and the keyframes; targets are then grouped into runs: a run starts with a seek to the keyframe
before its first target and decodes forward; the next target joins the run unless a later
keyframe lets a seek skip frames. Inside a run, packets of non-reference frames that are not
targets are skipped by the decoder (`skip_frame`), and only target frames are converted to RGB.
The same pass can also hand back decoded frames unconverted (`Video.read_keeping`) for a later
reader (`Video.hold`): converted then by the call a pass makes, they equal what a read returns.
"""

from __future__ import annotations

import bisect
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.errors import VideoError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# A seek flushes the decoder (whose reordering and threading pipeline has already read a few
# frames ahead) and restarts at a keyframe: it must skip at least this many frames to pay off.
# On 720p h264 with 1 s keyframes at 30 -> 4 fps, 1 to 8 measured the same wall time.
SEEK_MIN_SAVED = 4
# Frame + slice threading: decodes in parallel on many cores; on a busy two-core machine it
# measured the same as PyAV's default (slice only). Skipping frames works under both.
THREAD_TYPE = "AUTO"
# FFmpeg's decoding threads per video; None = its default (one per core). The frame worker
# processes (one per core already) set 1: FFmpeg's threads then only add overhead (13% more
# CPU for the same frames, measured on 720p h264).
DECODE_THREADS: int | None = None


def image_files(folder: Path) -> list[Path]:
    """An image folder's frames, in time (name) order."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name
    )


# --------------------------------------------------------------------------------------------
# Layouts: what a video holds, learned without decoding every frame.


@dataclass(frozen=True)
class Layout:
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


def scan_file(path: Path) -> Layout:
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
    return Layout(len(ordered), width, height, fps, tuple(ordered), keyframes)


def scan_folder(path: Path) -> Layout:
    from PIL import Image

    files = image_files(path)
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
    return Layout(len(files), width, height, files=tuple(files))


# --------------------------------------------------------------------------------------------
# Decoding.


@dataclass
class DecodeStats:
    """What reading cost, for tests and benchmarks: decoder output, seeks, cache traffic."""

    frames_decoded: int = 0
    seeks: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cache_full: int = 0  # frame sets not kept: the frame cache was full of the run's own


class FrameSink:
    """Where one pass puts the frames one reader asked for. With a size: an RGB stack allocated
    once, each frame written straight into its slot, so peak memory is one copy of the result
    (no list of arrays, no np.stack). With size None: the decoded frames themselves, not
    converted (`decoded`), for a reader that holds them and converts only those it uses."""

    def __init__(self, targets: Sequence[int], size: tuple[int, int] | None):
        self.size = size
        self.slot = {t: i for i, t in enumerate(targets)}
        shape = (len(targets), size[1], size[0], 3) if size else (0, 0, 0, 3)
        self.stack = np.empty(shape, dtype=np.uint8)
        self.decoded: dict[int, Any] = {}
        self.filled: set[int] = set()

    def __contains__(self, index: int) -> bool:
        return index in self.filled

    def wants(self, index: int) -> bool:
        return index in self.slot and index not in self.filled

    def put(self, index: int, value: Any) -> None:
        if self.size is None:
            self.decoded[index] = value
        else:
            self.stack[self.slot[index]] = value
        self.filled.add(index)


def _targets(sinks: Sequence[FrameSink]) -> list[int]:
    return sorted({t for sink in sinks for t in sink.slot})


def plan_runs(targets: Sequence[int], keyframes: Sequence[int]) -> list[tuple[int, list[int]]]:
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


def decode_file(path: Path, layout: Layout, sinks: Sequence[FrameSink], stats: DecodeStats) -> None:
    """Fill every sink with its frames (sorted, unique frame indices, display order) in one
    decoding pass: a frame several sinks want is decoded once, converted once per size (or
    handed over as decoded)."""
    av = _av()
    targets = _targets(sinks)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = THREAD_TYPE
            if DECODE_THREADS is not None:
                stream.codec_context.thread_count = DECODE_THREADS
            for run_no, (key, run) in enumerate(plan_runs(targets, layout.keyframes)):
                # A fresh container starts at frame 0: no seek needed for a first run from there.
                start = None if run_no == 0 and key == 0 else key
                decode_run(container, stream, layout, run, sinks, stats, start, skip=True)
                if any(sink.wants(t) for sink in sinks for t in run):
                    # The seek landed after a target (possible with B-frames and dts-indexed
                    # containers): decode this run again from the very start, skipping nothing.
                    decode_run(container, stream, layout, run, sinks, stats, 0, skip=False)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot decode video {path}: corrupt or undecodable ({exc})") from None
    missing = [t for t in targets if any(sink.wants(t) for sink in sinks)]
    if missing:
        raise VideoError(
            f"video {path}: frames {missing[:5]} could not be decoded "
            f"(of {layout.n_frames} frames); the file may be truncated"
        )


def decode_run(
    container: Any,
    stream: Any,
    layout: Layout,
    run: Sequence[int],
    sinks: Sequence[FrameSink],
    stats: DecodeStats,
    start: int | None,
    *,
    skip: bool,
) -> None:
    """Decode forward (after seeking to frame `start`, a keyframe, unless None) until the last
    frame of `run`; convert only the frames of `run`, once per size the sinks want."""
    ctx = stream.codec_context
    wanted = {layout.pts[t]: t for t in run}
    last_pts = layout.pts[run[-1]]
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
                if pts in wanted:
                    _convert(frame, wanted[pts], sinks, (layout.width, layout.height))
                if pts is not None and pts >= last_pts:
                    return
    finally:
        ctx.skip_frame = "DEFAULT"


def to_rgb(decoded: Any, size: tuple[int, int], full: tuple[int, int]) -> np.ndarray:
    """One decoded frame (an av.VideoFrame, or an image folder's RGB image) as (H, W, 3) RGB
    uint8 at `size`: the one conversion, whether a frame is converted as it is decoded or later
    from a held frame, so both give the same array."""
    if hasattr(decoded, "to_ndarray"):
        return decoded.to_ndarray(
            format="rgb24",
            width=size[0],
            height=size[1],
            interpolation="AREA" if size != full else None,
        )
    from PIL import Image

    if decoded.size != size:
        decoded = decoded.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(decoded, dtype=np.uint8)


def _convert(decoded: Any, index: int, sinks: Sequence[FrameSink], full: tuple[int, int]) -> None:
    """One decoded frame into every sink that wants it, each size converted once."""
    done: dict[tuple[int, int], np.ndarray] = {}
    for sink in sinks:
        if not sink.wants(index):
            continue
        if sink.size is None:
            sink.put(index, decoded)
            continue
        if sink.size not in done:
            done[sink.size] = to_rgb(decoded, sink.size, full)
        sink.put(index, done[sink.size])


def decoded_bytes(decoded: Any) -> int:
    planes = getattr(decoded, "planes", None)
    if planes is not None:
        return sum(int(plane.buffer_size) for plane in planes)
    return int(decoded.width * decoded.height * len(decoded.getbands()))


def decode_folder(layout: Layout, sinks: Sequence[FrameSink], stats: DecodeStats) -> None:
    from PIL import Image

    for t in _targets(sinks):
        file = layout.files[t]
        try:
            with Image.open(file) as img:
                _convert(img.convert("RGB"), t, sinks, (layout.width, layout.height))
        except OSError as exc:
            raise VideoError(
                f"cannot read frame image {file}: corrupt or undecodable ({exc})"
            ) from None
        stats.frames_decoded += 1


PNG_COMPRESS_LEVEL = 1
# PyAV's reformatter retags the source frame's colour properties around sws_scale, outside the
# GIL: two threads converting the same held frame at once could race. Held frames are few (a
# sample's differencer frames), so one lock for all of them costs nothing measurable.
HELD_LOCK = threading.Lock()


def encode_image(array: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """One (H, W, 3) RGB uint8 frame as a JPEG (at `quality`) or PNG file: the one encoder, so a
    frame sent from the cache is byte for byte the frame sent without it."""
    from PIL import Image

    fmt = fmt.lower()
    if fmt not in ("jpeg", "jpg", "png"):
        raise ValueError(f"image format must be jpeg or png, got {fmt!r}")
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    buf = io.BytesIO()
    if fmt == "png":
        # zlib level 1, not Pillow's default 6: PNG is lossless, so the model gets the same
        # pixels either way; a 720p frame encodes in 68 ms instead of 216 ms and is 6% larger.
        # The paper presets send up to 150 full-size PNGs a request, so this was most of their CPU.
        image.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
