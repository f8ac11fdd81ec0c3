"""VidDiff's decoding per pair on a cold embedding cache: frames decoded and CPU-s, with the
differencer's frames kept from the CLIP pass (onepass) against the same sample with keeping
refused (the differencer decodes its own frames, in one pass per video), in the same run.

Run: .venv/bin/python benchmarks/bench_viddiff_decode.py [--pairs 3] [--seconds 4] [--max-side 512]

Each pair is two synthetic 720p30 h264 clips written with PyAV. A sample's decoding is run as the
method runs it, minus the LLM calls: `onepass.warm` (tiny random-weight CLIP on the CPU, both
videos in one pipeline), then localisation stand-ins (centres on CLIP-sampled frames, half of the
differences "gt_1" triples, as the localizer picks them), then the differencer's reads
(`Video.preload` + one `read` per difference). CPU-s is the process's CPU time (all threads), so
another load on the machine changes it less than wall time. No LLM, no network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run_pair(videos, localizer, onepass, frames_around, keep_max_side, n_diffs):
    """One sample's decoding; returns (frames decoded, frames needed, differencer_pass)."""
    before = [v.stats.frames_decoded for v in videos]
    passes = onepass.warm(localizer, videos, 8.0)
    try:
        localization: dict[str, tuple[list[int], list[int]]] = {}
        for d in range(n_diffs):
            frames = []
            for vp, video in zip(passes, videos):
                center = vp.sampled[(d + 1) * len(vp.sampled) // (n_diffs + 1)]
                kind = "gt_1" if d % 2 else "1"
                frames.append(frames_around(center, kind, video.fps_original, video.num_frames))
            localization[str(d)] = (frames[0], frames[1])
        for v, video in enumerate(videos):
            video.preload(
                sorted({i for pair in localization.values() for i in pair[v]}), keep_max_side
            )
        for pair in localization.values():
            for v, video in enumerate(videos):
                video.read(pair[v], keep_max_side)
        own = [v.stats.frames_decoded - b for v, b in zip(videos, before)]
        record = onepass.record(passes, localization, own)
    finally:
        onepass.release(passes, videos)
    return sum(record["frames_decoded"]), sum(record["frames_needed"]), record["differencer_pass"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--max-side", type=int, default=512, help="differencer max_side; 0: full")
    parser.add_argument("--differences", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    keep_max_side = args.max_side or None

    from bench_localizer import write_test_video

    from vidbench.contracts import VideoRef
    from vidbench.video import open_video
    from vidbench_methods.viddiff import embedder, onepass
    from vidbench_methods.viddiff.localizer import Localizer, frames_around

    model = embedder.register_tiny_model()
    localizer = Localizer(
        clip_model=model, clip_pretrained=None, clip_device="cpu", batch_size=64, workers=2
    )
    embedder.load_clip(model, None, "cpu")
    cap = onepass.KEEP_MAX_BYTES
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = int(args.seconds * 30)
        names = []
        for p in range(args.pairs):
            for side in "ab":
                name = f"p{p}{side}.mp4"
                # Different lengths per clip: pairs are rarely the same length.
                write_test_video(
                    root / name, n + 7 * p + (5 if side == "b" else 0), width, height, 30
                )
                names.append(name)

        def sample(pair: int, shared: bool):
            onepass.KEEP_MAX_BYTES = cap if shared else 0
            videos = [
                open_video(VideoRef(names[2 * pair + s], 30.0), root, use_cache=False)
                for s in range(2)
            ]
            start = time.process_time()
            decoded, needed, how = run_pair(
                videos, localizer, onepass, frames_around, keep_max_side, args.differences
            )
            return decoded, needed, how, time.process_time() - start

        sample(0, True)  # warm-up: imports, the decode pool, first-call costs
        results: dict[bool, list[tuple]] = {True: [], False: []}
        for _ in range(args.repeats):  # interleaved: the machine's drift hits both alike
            for pair in range(args.pairs):
                for shared in (False, True):
                    results[shared].append(sample(pair, shared))
        onepass.KEEP_MAX_BYTES = cap

    def per_pair(shared: bool, k: int) -> float:
        return statistics.mean(r[k] for r in results[shared])

    def cpu(shared: bool) -> float:
        return statistics.median(r[3] for r in results[shared])

    print(
        f"VidDiff decoding per pair, cold embedding cache: {args.pairs} pairs of {width}x{height}"
        f" h264 ~{args.seconds:g} s clips, CLIP at 8 fps (stride) <= 448 px, differencer"
        f" frames at {keep_max_side or 'full size'}, {args.differences} differences,"
        f" {args.repeats} repeats, tiny CLIP on CPU"
    )
    for shared, label in ((False, "differencer's own pass"), (True, "shared with the CLIP pass")):
        hows = sorted({h for r in results[shared] for h in r[2]})
        print(
            f"  {label:26}: {per_pair(shared, 0):7.1f} frames decoded for "
            f"{per_pair(shared, 1):6.1f} needed, {cpu(shared):6.2f} CPU-s (median)"
            f"  [{', '.join(hows)}]"
        )
    print(
        f"  shared / own: frames decoded {per_pair(True, 0) / per_pair(False, 0):.2f},"
        f" CPU-s {cpu(True) / cpu(False):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
