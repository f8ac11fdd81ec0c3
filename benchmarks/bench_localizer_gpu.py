"""Localizer throughput on a GPU: is end-to-end embedding limited only by the slower of the
model and the CPUs' decoding?

One run reports, for the same frames of a generated h264 video:
1. model ceiling: the model's raw rate on the card (synthetic input tensors, bf16, no I/O);
2. decode ceiling: the CPUs' decode + resize rate using every core (worker processes, no GPU);
3. end to end: the localizer's real path (`embedder.embed_video`: decode workers feeding the
   model, pinned memory, preprocessing on the device), and its ratio to the lower ceiling
   (target >= 90%).

Run on a GPU machine:   python benchmarks/bench_localizer_gpu.py            (ViT-bigG-14, random
weights, batch 128). Smoke check on a CPU:  python benchmarks/bench_localizer_gpu.py --device cpu
--model viddiff-tiny --frames 256 --size 640x360
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def model_ceiling(clip, batch: int, iters: int) -> float:
    """Images/s of the model alone on synthetic, already preprocessed input."""
    import torch

    from vidbench_methods.viddiff import embedder

    pixels = torch.randn(batch, 3, clip.image_size, clip.image_size, device=clip.device)
    embedder._encode_images(clip, pixels)  # warm-up (kernels, autotuning)
    _sync(str(clip.device))
    start = time.perf_counter()
    for _ in range(iters):
        embedder._encode_images(clip, pixels)
    _sync(str(clip.device))
    return batch * iters / (time.perf_counter() - start)


def decode_ceiling(
    video, indices: list[int], chunk: int, workers: int, max_side: int | None
) -> float:
    """Frames/s of decoding + resizing the same frames with every core (worker processes)."""
    from concurrent.futures import wait

    from vidbench_methods.viddiff import embedder

    pool = embedder._process_pool(workers)
    source = video.without_cache()
    wait(
        [
            pool.submit(embedder.decode_chunk, source, indices[:chunk], max_side)
            for _ in range(workers)
        ]
    )  # warm the workers (imports, layout)
    tasks = [indices[i : i + chunk] for i in range(0, len(indices), chunk)]
    start = time.perf_counter()
    for future in [pool.submit(embedder.decode_chunk, source, t, max_side) for t in tasks]:
        future.result()
    return len(indices) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="ViT-bigG-14")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--frames", type=int, default=2400)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk", type=int, default=32, help="frames per decode task")
    parser.add_argument("--max-side", type=int, default=448)
    parser.add_argument("--backend", default="auto", choices=["auto", "thread", "process"])
    parser.add_argument("--iters", type=int, default=10, help="model-ceiling batches")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from bench_localizer import write_test_video  # same generated content as the CPU benchmark

    from vidbench.contracts import VideoRef
    from vidbench.video import open_video
    from vidbench_methods.viddiff import embedder

    if args.model == embedder.TINY_MODEL:
        embedder.register_tiny_model()
    t0 = time.perf_counter()
    clip = embedder.load_clip(args.model, None, args.device)
    print(
        f"model {args.model} (random weights) on {clip.device}, dtype {clip.dtype}: "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    iters = args.iters if clip.device.type == "cuda" else max(1, min(args.iters, 3))
    rate_model = model_ceiling(clip, args.batch, iters)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_test_video(root / "clip.mp4", args.frames, width, height, args.fps)
        print(f"wrote {args.frames} frames {width}x{height} in {time.perf_counter() - t0:.1f} s")
        video = open_video(VideoRef("clip.mp4", float(args.fps)), root, use_cache=False)
        indices = list(range(video.num_frames))
        rate_decode = decode_ceiling(video, indices, args.chunk, args.workers, args.max_side)

        backend = embedder.choose_backend(args.backend, clip, video, args.workers)
        embedder.embed_video(
            clip,
            video,
            indices[: args.batch],
            batch_size=args.batch,
            workers=args.workers,
            max_side=args.max_side,
            backend=backend,
            chunk=args.chunk,
        )  # warm-up: pool, pinned allocator
        _sync(args.device)
        start = time.perf_counter()
        emb = embedder.embed_video(
            clip,
            video,
            indices,
            batch_size=args.batch,
            workers=args.workers,
            max_side=args.max_side,
            backend=backend,
            chunk=args.chunk,
        )
        _sync(args.device)
        rate_e2e = len(indices) / (time.perf_counter() - start)
        assert emb.shape[0] == len(indices)

    lower = min(rate_model, rate_decode)
    print(
        f"frames: {len(indices)}, batch {args.batch}, {args.workers} decode workers "
        f"({backend}), decode chunk {args.chunk}, max_side {args.max_side}"
    )
    print(f"  model ceiling (synthetic input)     : {rate_model:9.1f} img/s")
    print(f"  decode ceiling (all cores, no model): {rate_decode:9.1f} frames/s")
    print(f"  end to end (localizer embed_video)  : {rate_e2e:9.1f} frames/s")
    print(f"  end to end / lower ceiling          : {rate_e2e / lower:9.1%} (target >= 90%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
