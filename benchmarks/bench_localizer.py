"""Localizer throughput on CPU: frames/s end to end (decode, preprocess, embed) with the tiny
random-weight open_clip model, next to the decode-only rate of the same frames in the same run.

Run: .venv/bin/python benchmarks/bench_localizer.py [--frames 600] [--size 640x360] [--workers 2]

The end-to-end path is the localizer's own (`embedder.embed_video`: decode threads feeding the
model); decode-only reads the same chunks through the same VideoSource, sequentially and with the
same thread pool, so the ratio shows how much the model and preprocessing cost on top of decoding.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_test_video(path: Path, n_frames: int, width: int, height: int, fps: int) -> Path:
    """An h264 clip with real motion (moving gradients and noise), written with PyAV."""
    import av

    rng = np.random.default_rng(0)
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    base = np.stack([xs % 256, ys % 256, ((xs + ys) // 2) % 256], axis=-1).astype(np.uint8) // 2
    base += rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(fps * 2)}
        for i in range(n_frames):
            # A panning, slowly brightening texture: cheap to make, real motion for the encoder.
            frame = np.roll(base, 3 * i, axis=1) + np.uint8(i % 64)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-side", type=int, default=448)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="open_clip name (default: the tiny model)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from vidbench.contracts import VideoRef
    from vidbench.video import open_video
    from vidbench_methods.viddiff import embedder

    model = args.model or embedder.register_tiny_model()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_test_video(root / "clip.mp4", args.frames, width, height, args.fps)
        video = open_video(VideoRef("clip.mp4", float(args.fps)), root, use_cache=False)
        indices = list(range(video.num_frames))
        chunks = [indices[i : i + args.batch] for i in range(0, len(indices), args.batch)]
        clip = embedder.load_clip(model, None, "cpu")
        embedder.embed_video(clip, video, indices[: args.batch], batch_size=args.batch)  # warm-up

        def decode_sequential() -> None:
            for chunk in chunks:
                video.read(chunk, args.max_side)

        def decode_threads() -> None:
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda c: video.read(c, args.max_side), chunks))

        def end_to_end() -> None:
            emb = embedder.embed_video(
                clip,
                video,
                indices,
                batch_size=args.batch,
                workers=args.workers,
                max_side=args.max_side,
            )
            assert emb.shape[0] == len(indices)

        # Interleaved repeats, median of each: the machine's state drifts the same for all three.
        times: dict[str, list[float]] = {"seq": [], "pool": [], "e2e": []}
        for _ in range(args.repeats):
            for name, fn in (
                ("seq", decode_sequential),
                ("pool", decode_threads),
                ("e2e", end_to_end),
            ):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        t_decode_seq, t_decode_pool, t_e2e = (
            statistics.median(times[k]) for k in ("seq", "pool", "e2e")
        )

    n = len(indices)
    print(
        f"localizer CPU benchmark: {n} frames {width}x{height} h264, model {model}, "
        f"batch {args.batch}, {args.workers} decode threads, max_side {args.max_side}, "
        f"median of {args.repeats}"
    )
    print(f"  decode only, sequential     : {n / t_decode_seq:8.1f} frames/s")
    print(f"  decode only, {args.workers} threads      : {n / t_decode_pool:8.1f} frames/s")
    print(f"  end to end (decode+prep+emb): {n / t_e2e:8.1f} frames/s")
    print(f"  end to end / decode-only    : {t_decode_pool / t_e2e:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
