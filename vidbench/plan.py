"""`vidbench eval --dry-run`: what a run would cost, before it costs anything. No call is made."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from vidbench.contracts import PlannedCall, RunConfig
from vidbench.report import text_table

# A <=512 px image costs one 512-px tile in OpenAI's accounting: 85 base + 170 per tile.
TOKENS_PER_IMAGE = 255


def dry_run(request: RunConfig) -> str:
    from vidbench.llm import estimate_cost
    from vidbench.messages import PROVIDER_MAX_IMAGES, provider_of
    from vidbench.pipeline import jobs_for, prepare
    from vidbench.video import frame_indices, probe

    method, bench, _ = prepare(request)
    stages: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "calls": 0,
            "images": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "max_images": 0,
        }
    )
    missing_videos = 0
    for sample, _swapped in jobs_for(bench, request.both_orders):
        spec = method.frame_spec(sample.info)
        counts = []
        for ref in sample.info.videos:
            p = probe(ref, bench.source.video_root)
            if not p.n_frames_trimmed:
                missing_videos += 1
                counts.append(spec.max_frames or spec.num_frames or 16)
            else:
                counts.append(len(frame_indices(p.n_frames_trimmed, ref.fps_original, spec)))
        n_items = (
            len(sample.closed_statements())
            if request.mode == "closed"
            else sample.info.max_differences
        )
        calls: list[PlannedCall] = method.plan(
            sample.info, request.mode, n_items, (counts[0], counts[1])
        )
        for call in calls:
            st = stages[(call.stage, call.model)]
            st["calls"] += 1
            st["images"] += call.images
            st["max_images"] = max(st["max_images"], call.images)
            st["prompt_tokens"] += call.text_tokens + call.images * TOKENS_PER_IMAGE
            st["completion_tokens"] += call.completion_tokens
    rows, problems, total, unknown = [], [], 0.0, False
    for (stage, model), st in sorted(stages.items()):
        cost = estimate_cost(model, st["prompt_tokens"], st["completion_tokens"])
        unknown |= cost is None
        total += cost or 0.0
        rows.append(
            {
                "stage": stage,
                "model": model,
                "calls": st["calls"],
                "images": st["images"],
                "max images/call": st["max_images"],
                "prompt tokens": st["prompt_tokens"],
                "completion tokens": st["completion_tokens"],
                "cost USD": "unknown" if cost is None else f"{cost:.2f}",
            }
        )
        limit = PROVIDER_MAX_IMAGES.get(provider_of(model))
        if limit is not None and st["max_images"] > limit:
            problems.append(
                f"stage {stage}: up to {st['max_images']} images in one request, "
                f"but {provider_of(model)} accepts {limit}; lower max_images / fps"
            )
    lines = [
        f"dry run: {request.method}, {request.mode} set, "
        f"{len(bench.samples)} samples ({bench.source.repo_id} @ {bench.source.revision})",
        "",
    ]
    lines.append(text_table(rows) if rows else "no LLM calls (this method needs no model)")
    lines.append(
        f"\nestimated cost: ${total:.2f}"
        + (" + unknown (some prices not known)" if unknown else "")
        + " (estimates: images at ~255 tokens each; cached calls cost nothing)"
    )
    if request.mode == "open":
        lines.append("plus the open-set judge: one call per sample with predictions")
    if missing_videos:
        lines.append(f"warning: {missing_videos} video(s) not found; frame counts estimated")
    lines += [f"limit problem: {p}" for p in problems]
    return "\n".join(lines)
