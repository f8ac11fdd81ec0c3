"""Frame extraction: vidbench's sampler vs decoding every frame, on a 720p clip at 4 fps.

Run: .venv/bin/python benchmarks/bench_frames.py [--seconds 10] [--fps 4] [--gop N] [--repeats 3]
Targets: >= 3x faster and >= 5x less peak memory than the reference.

The clip (1280x720, 30 fps, libx264 `veryfast`; keyframe interval = x264's default unless --gop)
is written to a temporary folder. Each approach runs in a fresh child process per repeat, so its
peak memory is its own: PyAV's frame buffers are C allocations that tracemalloc never sees, so
the child reports its peak resident set (VmHWM, reset after imports via /proc/self/clear_refs)
minus its resident set before the work. Both approaches return the same frames (checked).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WIDTH, HEIGHT, FPS = 1280, 720, 30


def write_clip(path: Path, seconds: float, gop: int | None) -> None:
    """A synthetic but encoder-realistic clip: moving gradients, a moving checkerboard, grain."""
    import av

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    grain = rng.integers(0, 12, size=(8, HEIGHT, WIDTH), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        options = {"preset": "veryfast", "crf": "23"}
        if gop is not None:
            options["g"] = str(gop)
        stream.options = options
        for i in range(int(seconds * FPS)):
            img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
            img[..., 0] = (xx + i * 8) % 256
            img[..., 1] = (yy + i * 3) % 256
            img[..., 2] = ((xx + i * 6) // 40 + yy // 40) % 2 * 200
            img += grain[i % 8, :, :, None]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _vidbench(path: str, fps: float) -> tuple[list[int], np.ndarray, dict]:
    from vidbench.contracts import FrameSpec, VideoRef
    from vidbench.video import open_video

    video = open_video(VideoRef(path, float(FPS)), None, use_cache=False)
    frames = video.sample(FrameSpec(fps=fps))
    return (
        list(frames.indices),
        frames.arrays,
        {"decoded": video.stats.frames_decoded, "seeks": video.stats.seeks},
    )


def _reference(path: str, fps: float) -> tuple[list[int], np.ndarray, dict]:
    """The usual approach: decode every frame to RGB, keep them all, then pick the sampled ones."""
    import av

    from vidbench.contracts import FrameSpec
    from vidbench.video import frame_indices

    with av.open(path) as container:
        everything = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    indices = frame_indices(len(everything), float(FPS), FrameSpec(fps=fps))
    return indices, np.stack([everything[i] for i in indices]), {"decoded": len(everything)}


APPROACHES = {"vidbench": _vidbench, "reference": _reference}


def _child(name: str, path: str, fps: float, queue: mp.Queue) -> None:
    import av  # noqa: F401  (imports are not the approach's memory)

    import vidbench.video  # noqa: F401

    baseline = _status("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pass  # older kernels: the peak then includes imports, which only flatters neither side
    start = time.perf_counter()
    indices, arrays, info = APPROACHES[name](path, fps)
    elapsed = time.perf_counter() - start
    peak = _status("VmHWM") - baseline
    digest = hashlib.blake2b(arrays.tobytes(), digest_size=8).hexdigest()
    queue.put({"seconds": elapsed, "peak": peak, "indices": indices, "digest": digest, **info})


def measure(name: str, path: Path, fps: float) -> dict:
    ctx = mp.get_context("spawn")  # a fresh interpreter: no memory inherited from the parent
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, str(path), fps, queue))
    proc.start()
    result = queue.get(timeout=600)
    proc.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=4.0, help="sampling rate")
    parser.add_argument(
        "--gop",
        type=int,
        default=None,
        help="keyframe interval of the clip (default: libx264's, 250)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vidbench-bench-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        start = time.perf_counter()
        write_clip(clip, args.seconds, args.gop)
        print(
            f"clip: {WIDTH}x{HEIGHT}, {FPS} fps, {args.seconds:g} s, gop "
            f"{args.gop or 'x264 default'}, {clip.stat().st_size / 1e6:.1f} MB "
            f"(written in {time.perf_counter() - start:.1f} s); sampling at {args.fps:g} fps"
        )
        runs: dict[str, list[dict]] = {name: [] for name in APPROACHES}
        for _ in range(args.repeats):  # interleaved, so background load hits both alike
            for name in APPROACHES:
                runs[name].append(measure(name, clip, args.fps))

    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    peak = {name: min(x["peak"] for x in r) for name, r in runs.items()}
    ours, ref = best["vidbench"], best["reference"]
    same = ours["indices"] == ref["indices"] and ours["digest"] == ref["digest"]
    print(f"frames returned: {len(ours['indices'])} (identical in both: {same})")
    for name in APPROACHES:
        b = best[name]
        extra = f", {b['seeks']} seeks" if "seeks" in b else ""
        print(
            f"{name:>9}: best of {args.repeats} {b['seconds']:.3f} s, peak memory "
            f"{peak[name] / 2**20:.0f} MiB, {b['decoded']} frames decoded{extra}"
        )
    speed = ref["seconds"] / ours["seconds"]
    memory = peak["reference"] / max(peak["vidbench"], 1)
    print(
        f"   ratios: {speed:.1f}x faster (target >= 3x), {memory:.1f}x less peak memory "
        f"(target >= 5x)"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
