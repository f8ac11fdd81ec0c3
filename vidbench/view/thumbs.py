"""Thumbnails of the frames a run actually sent, re-sampled from the record's frame indices.

One JPEG strip per (sample, video, set of indices), frames side by side, shared by every run
that sent the same frames. Sized for the whole benchmark: at most MAX_THUMBS frames per video,
THUMB_SIDE pixels on the longer side, JPEG quality 65: about 10 KB a strip of natural video and
under 45 KB even for pure noise (the worst case, checked by a test), so 549 pairs (two strips
each) stay under 50 MB.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.contracts import Sample

MAX_THUMBS = 16
THUMB_SIDE = 96
JPEG_QUALITY = 65
BENCHMARK_PAIRS = 549


def shown_positions(n: int, cap: int = MAX_THUMBS) -> list[int]:
    """Which of n sent frames get a thumbnail: all, or `cap` evenly spaced (first and last kept)."""
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def shrink(arrays: np.ndarray, side: int) -> np.ndarray:
    """Frames resized so the longer side is `side` (never enlarged)."""
    from PIL import Image

    if not len(arrays):
        return arrays
    h, w = arrays.shape[1:3]
    scale = min(1.0, side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack(
        [np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BILINEAR)) for a in arrays]
    )


def strip_cell(path: Path, n_frames: int) -> tuple[int, int]:
    """(height, width) of one frame of a strip written before."""
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width // max(n_frames, 1)


def strip_jpeg(arrays: np.ndarray) -> bytes:
    from PIL import Image

    strip = np.concatenate(list(arrays), axis=1) if len(arrays) else np.zeros((8, 8, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(strip).save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


class ThumbWriter:
    """Writes strips under `folder` (once per distinct frame set) and says how to lay them out."""

    def __init__(self, folder: Path, video_root: Path | None, workers: int = 4):
        self.folder = folder
        self.video_root = video_root
        self.workers = workers
        self.n_frames: dict[tuple[str, int], int] = {}  # (sample, video) -> trimmed length
        self.problems: list[str] = []

    def strips_for(
        self, jobs: list[tuple[Sample, int, list[int], list[float], int | None]]
    ) -> list[dict[str, Any] | None]:
        """One layout per job (sample, video 0/1, indices, timestamps, the run's max_side); None
        when the video could not be read (the problem is kept in `problems`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Runs that sent the same frames share a strip: each distinct one is made once.
        distinct = list(
            {(s.key, v, tuple(i)): (s, v, i, t, side) for s, v, i, t, side in jobs}.items()
        )
        with ThreadPoolExecutor(self.workers) as pool:  # decoding releases the GIL
            made = dict(
                zip((k for k, _ in distinct), pool.map(lambda kv: self._strip(*kv[1]), distinct))
            )
        return [made[(s.key, v, tuple(i))] for s, v, i, _, _ in jobs]

    def _strip(
        self,
        sample: Sample,
        video: int,
        indices: list[int],
        timestamps: list[float],
        sent_side: int | None,
    ) -> dict[str, Any] | None:
        from vidbench.video import open_video

        keep = shown_positions(len(indices))
        chosen = [indices[p] for p in keep]
        digest = hashlib.sha1(repr((sample.key, video, chosen)).encode()).hexdigest()[:10]
        name = f"{''.join(c if c.isalnum() else '_' for c in sample.key)}-{'ab'[video]}-{digest}"
        path = self.folder / f"{name}.jpg"
        try:
            source = open_video(sample.info.videos[video], self.video_root, sample_key=sample.key)
            self.n_frames[(sample.key, video)] = source.num_frames
            if not path.exists():
                # The frames exactly as the run asked for them: the frame cache the run filled
                # answers (no decoding), then they are shrunk here.
                sent = source.read(indices, max_side=sent_side).arrays
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(strip_jpeg(shrink(sent[keep], THUMB_SIDE)))
                os.replace(tmp, path)
        except Exception as exc:  # a missing or broken video: the page says so, the site is built
            self.problems.append(f"{sample.key} video {'AB'[video]}: {exc}")
            return None
        height, width = strip_cell(path, len(chosen))
        return {
            "file": f"{self.folder.name}/{path.name}",
            "width": int(width),
            "height": int(height),
            "strip_width": int(width) * len(chosen),
            "frames": [
                {"x": n * int(width), "index": indices[p], "t": round(timestamps[p], 2)}
                for n, p in enumerate(keep)
            ],
            "n_sent": len(indices),
        }
