"""`vidbench view`'s thumbnails: site size and build time per pair, extrapolated to the 549-pair
benchmark, vs the obvious baseline measured in the same run (every sent frame as its own JPEG at
the size it was sent, 512 px, quality 85).

Run: .venv/bin/python benchmarks/bench_view.py [--seconds 10] [--sent 24] [--pairs 549]
Target: the whole benchmark's thumbnails under 50 MB.

The clip is bench_frames.py's synthetic 720p one (moving gradients, checkerboard, grain: harder
to compress than most real footage). Both approaches decode the same sent frames. vidbench view
reads them as the run did, so on the machine that ran the eval they come from the frame cache:
timed both cold (decoding) and warm (cache filled by an eval-like read), in a temporary cache.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sent", type=int, default=24, help="frames sent per video")
    parser.add_argument("--pairs", type=int, default=549)
    args = parser.parse_args()

    from bench_frames import FPS, write_clip
    from PIL import Image

    from vidbench import cache
    from vidbench.contracts import VideoRef
    from vidbench.video import open_video
    from vidbench.view.thumbs import THUMB_SIDE, shown_positions, shrink, strip_jpeg

    with tempfile.TemporaryDirectory() as tmp:
        cache.use_cache_dir(Path(tmp) / "cache")
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, args.seconds, None)
        ref = VideoRef("clip.mp4", float(FPS))
        video = open_video(ref, Path(tmp), use_cache=False)
        n = video.num_frames
        sent = [round(i * (n - 1) / (args.sent - 1)) for i in range(args.sent)]
        keep = shown_positions(len(sent))

        def ours() -> tuple[bytes, float]:
            start = time.perf_counter()
            arrays = open_video(ref, Path(tmp)).read(sent, max_side=512).arrays
            return strip_jpeg(shrink(arrays[keep], THUMB_SIDE)), time.perf_counter() - start

        strip, ours_s = ours()  # cold: decodes, and fills the cache as an eval would
        _, warm_s = ours()

        start = time.perf_counter()
        baseline = 0
        for frame in video.read(sent, max_side=512).arrays:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=85)
            baseline += len(buf.getvalue())
        base_s = time.perf_counter() - start

    per_pair, base_pair = 2 * len(strip), 2 * baseline
    print(f"{args.sent} frames sent per video, {len(keep)} shown, {THUMB_SIDE} px strip")
    print(
        f"vidbench view : {per_pair / 1e3:7.1f} KB/pair  {args.pairs} pairs: "
        f"{per_pair * args.pairs / 1e6:6.1f} MB  {2 * ours_s:.2f} s/pair cold, "
        f"{2 * warm_s:.3f} s/pair from the run's frame cache"
    )
    print(
        f"baseline      : {base_pair / 1e3:7.1f} KB/pair  {args.pairs} pairs: "
        f"{base_pair * args.pairs / 1e6:6.1f} MB  {2 * base_s:.2f} s/pair"
    )
    print(f"size ratio baseline/vidbench: {base_pair / per_pair:.1f}x")


if __name__ == "__main__":
    main()
