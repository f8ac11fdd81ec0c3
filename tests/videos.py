"""Test helpers: write videos whose every frame encodes its own index, and read that index back.

The index is drawn as a row of wide black/white bars (one bit each, most significant first) over
the top half of the frame; the bottom half is a moving gradient so the encoder sees real motion.
Bars this wide survive h264 compression and any resize down to a few pixels per bar, so a decoded
frame tells the test exactly which source frame it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

N_BITS = 10  # up to 1,024 frames per test video
DARK, LIGHT = 20, 235


def index_frame(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """An RGB uint8 frame whose top half spells `index` in N_BITS bars."""
    if not 0 <= index < 2**N_BITS:
        raise ValueError(f"index {index} does not fit in {N_BITS} bits")
    frame = np.empty((height, width, 3), dtype=np.uint8)
    top = height // 2
    edges = np.linspace(0, width, N_BITS + 1).round().astype(int)
    for bit in range(N_BITS):
        on = (index >> (N_BITS - 1 - bit)) & 1
        frame[:top, edges[bit] : edges[bit + 1]] = LIGHT if on else DARK
    # Bottom half: a horizontal gradient that shifts with the index (motion for the encoder).
    ramp = (np.arange(width) * 4 + index * 7) % 256
    frame[top:] = ramp[None, :, None].astype(np.uint8)
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Read back the index drawn by `index_frame`, from a frame of any size."""
    height, width = frame.shape[:2]
    band = frame[: max(1, height // 2)].astype(np.float64).mean(axis=2)
    edges = np.linspace(0, width, N_BITS + 1)
    value = 0
    for bit in range(N_BITS):
        # Sample the middle half of each bar: its borders blur under compression and resizing.
        lo = int(edges[bit] + (edges[bit + 1] - edges[bit]) * 0.25)
        hi = max(lo + 1, int(edges[bit] + (edges[bit + 1] - edges[bit]) * 0.75))
        rows = slice(band.shape[0] // 4, max(band.shape[0] // 4 + 1, band.shape[0] * 3 // 4))
        value = (value << 1) | int(band[rows, lo:hi].mean() > (DARK + LIGHT) / 2)
    return value


def decode_indices(arrays: np.ndarray) -> list[int]:
    return [decode_index(a) for a in arrays]


def write_video(
    path: Path,
    n_frames: int,
    fps: int = 30,
    width: int = 160,
    height: int = 120,
    gop: int | None = None,
    bframes: bool = True,
) -> Path:
    """Write an h264 .mp4 or .mov (by suffix) of `n_frames` index frames. `gop` sets the keyframe
    interval (None: libx264's default of 250), so tests can force seeks between keyframes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"crf": "18", "preset": "veryfast"}
        if gop is not None:
            options["g"] = str(gop)
            options["keyint_min"] = str(gop)
            options["sc_threshold"] = "0"
        if not bframes:
            options["bf"] = "0"
        stream.options = options
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_image_folder(
    path: Path,
    n_frames: int,
    width: int = 160,
    height: int = 120,
    suffix: str = ".png",
    names: Sequence[str] | None = None,
) -> Path:
    """A folder of index frames named so that name order is time order (or the given `names`)."""
    path.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [f"{i:06d}{suffix}" for i in range(n_frames)]
    for i, name in enumerate(names[:n_frames]):
        Image.fromarray(index_frame(i, width, height)).save(path / name)
    return path
