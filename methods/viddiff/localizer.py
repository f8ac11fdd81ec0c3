"""VidDiff stage 2: find, in each video, the frames where each difference is visible.

The paper's localizer embeds every frame at the domain's inference rate and every stage caption
with CLIP, scores each frame against each stage (mean caption-frame cosine similarity), and
assigns frames to stages with a left-to-right Viterbi. A difference then gets the midpoint of its
stages' span, or three frames 0.35 s apart when it needs motion (`num_frames == "gt_1"`).

Every frame index this module returns indexes the trimmed video at its ORIGINAL rate (what the
dataset's retrieval frames and the differencer's `read` use), never the subsampled CLIP frames.

Ablations (`mode`): "viterbi" (the paper), "independent" (each stage's best window, no order),
"uniform" (stages split the video evenly, no CLIP), "random" (a seeded random frame per
difference, no CLIP), "oracle" (the dataset's ground-truth retrieval frames, no CLIP).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from vidbench_methods.viddiff.viterbi import viterbi

from vidbench.cache import Cache, content_key
from vidbench.contracts import FrameSpec, VideoSource

LocalizerMode = Literal["viterbi", "independent", "uniform", "random", "oracle"]
EmissionMode = Literal["paper", "zscore", "raw"]
CLIP_MODES: tuple[str, ...] = ("viterbi", "independent")


@dataclass(frozen=True)
class Span:
    """A stage's frames in one video: original-rate indices `lo..hi` inclusive. `empty` marks a
    stage that got no frame (more stages than frames); `lo == hi` is then its ordered position."""

    lo: int
    hi: int
    empty: bool = False

    def as_list(self) -> list[int]:
        return [self.lo, self.hi]


@dataclass(frozen=True)
class DifferenceTarget:
    """What the localizer needs of one difference: the stages it is visible in, how many frames."""

    key: str
    stages: tuple[int, ...]
    num_frames: str  # "1" or "gt_1"


@dataclass
class VideoStages:
    """Per-video result of stage localisation; `sampled` are the frames CLIP scored (if any)."""

    spans: list[Span]
    sampled: list[int] = field(default_factory=list)
    scores: np.ndarray | None = None
    embeddings_cached: bool | None = None

    def record(self) -> dict[str, Any]:
        return {
            "spans": [s.as_list() for s in self.spans],
            "n_scored_frames": len(self.sampled),
            "empty_stages": [i for i, s in enumerate(self.spans) if s.empty],
            "embeddings_cached": self.embeddings_cached,
        }


# ---------------------------------------------------------------- scores and segmentations


def stage_scores(
    frame_emb: np.ndarray, caption_emb: np.ndarray, caption_counts: Sequence[int]
) -> np.ndarray:
    """(T, S): per stage, the mean cosine similarity of each frame with the stage's captions.
    Both embedding sets are L2-normalised, so the dot product is the cosine."""
    sims = frame_emb.astype(np.float64) @ caption_emb.astype(np.float64).T  # (T, total captions)
    bounds = np.cumsum([0, *caption_counts])
    return np.stack([sims[:, a:b].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)


def normalise_scores(scores: np.ndarray, mode: EmissionMode) -> np.ndarray:
    """Emission scores for the Viterbi.

    "paper": each stage's column min-max scaled to [0, 1] over the frames, as the paper's code
    does, so every stage has a frame scoring 1 however weak its captions are.
    "zscore": each column centred on its own mean (removes a caption set's overall bias) but all
    scaled by ONE pooled standard deviation, so a stage whose captions match no frame better than
    the others stays flat instead of being stretched to the full range; scores stay comparable.
    "raw": the cosine similarities as they are.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if mode == "raw":
        return scores
    if mode == "paper":
        lo, hi = scores.min(axis=0), scores.max(axis=0)
        return (scores - lo) / np.where(hi > lo, hi - lo, 1.0)
    if mode == "zscore":
        centred = scores - scores.mean(axis=0)
        pooled = float(np.sqrt(np.mean(centred**2)))
        return centred / pooled if pooled > 0 else centred
    raise ValueError(f"unknown emission normalisation {mode!r}")


def independent_segments(scores: np.ndarray) -> list[tuple[int, int]]:
    """The "no Viterbi" ablation: each stage independently takes the window of length
    ~T/S with the highest total score; windows may overlap and come in any order."""
    n_frames, n_stages = scores.shape
    width = max(1, round(n_frames / n_stages))
    prefix = np.vstack([np.zeros((1, n_stages)), np.cumsum(scores, axis=0)])
    window = prefix[width:] - prefix[:-width]  # (T - width + 1, S)
    starts = np.argmax(window, axis=0)
    return [(int(a), int(a) + width) for a in starts]


def spans_from_segments(segments: Sequence[tuple[int, int]], sampled: Sequence[int]) -> list[Span]:
    """Sampled-frame segments (half-open positions) -> original-rate spans."""
    spans = []
    for start, end in segments:
        if end > start:
            spans.append(Span(sampled[start], sampled[end - 1]))
        else:  # empty stage: place it between its neighbours
            if start <= 0:
                point = sampled[0]
            elif start >= len(sampled):
                point = sampled[-1]
            else:
                point = (sampled[start - 1] + sampled[start]) // 2
            spans.append(Span(point, point, empty=True))
    return spans


def uniform_spans(n_frames: int, n_stages: int) -> list[Span]:
    """Stages split the trimmed video evenly (the "uniform" ablation)."""
    spans = []
    for s in range(n_stages):
        lo, hi = (s * n_frames) // n_stages, ((s + 1) * n_frames) // n_stages - 1
        spans.append(
            Span(lo, hi)
            if hi >= lo
            else Span(min(lo, n_frames - 1), min(lo, n_frames - 1), empty=True)
        )
    return spans


def center_of(spans: Sequence[Span], stages: Sequence[int]) -> int:
    """Midpoint of the span covering the given stages (stages with frames preferred)."""
    chosen = [spans[s] for s in stages if 0 <= s < len(spans)] or list(spans)
    full = [sp for sp in chosen if not sp.empty] or chosen
    lo, hi = min(sp.lo for sp in full), max(sp.hi for sp in full)
    return (lo + hi) // 2


def frames_around(
    center: int, num_frames: str, fps_original: float, n_frames: int, spacing_s: float = 0.35
) -> list[int]:
    """The frames shown for one difference: the centre frame, or for "gt_1" three frames
    `spacing_s` apart at the original rate. The step is at least one frame, so the frames are
    never duplicates (the reference code's 1-fps sampling made them identical); near the ends the
    triple is shifted, not clamped frame by frame, so it stays inside the video and distinct."""
    if n_frames < 1:
        raise ValueError("the video has no frames")
    center = min(max(int(center), 0), n_frames - 1)
    if num_frames != "gt_1":
        return [center]
    if n_frames < 3:
        return list(range(n_frames))
    step = max(1, round(spacing_s * fps_original))
    step = min(step, (n_frames - 1) // 2)
    center = min(max(center, step), n_frames - 1 - step)
    return [center - step, center, center + step]


def random_center(seed: int, sample_key: str, diff_key: str, video: int, n_frames: int) -> int:
    """A reproducible random frame for the "random" ablation (independent of run order)."""
    rng = random.Random(content_key("viddiff-random", seed, sample_key, diff_key, video))
    return rng.randrange(n_frames)


def _fps_of(source: VideoSource) -> float:
    """The source's original rate (vidbench.video falls back to the container's rate when the
    dataset gives none), else the dataset's."""
    return float(getattr(source, "fps_original", None) or source.ref.fps_original)


def plan_indices(source: VideoSource, fps: float) -> list[int]:
    """The trimmed-video indices the harness's sampler picks at `fps`, without decoding."""
    from vidbench.video import frame_indices

    return [int(i) for i in frame_indices(source.num_frames, _fps_of(source), FrameSpec(fps=fps))]


# ---------------------------------------------------------------- the localizer


@dataclass
class Localizer:
    """Stage 2 of VidDiff, configured once per method instance."""

    mode: LocalizerMode = "viterbi"
    emission: EmissionMode = "paper"
    clip_model: str = "ViT-bigG-14"
    clip_pretrained: str | None = "laion2b_s39b_b160k"
    clip_device: str | None = None
    batch_size: int = 128
    workers: int = 4
    decode_backend: str = "auto"
    max_side: int | None = 448
    gt1_spacing_s: float = 0.35
    seed: int = 0
    cache: Cache | None = None

    def stage_spans(
        self, source: VideoSource, captions: Sequence[Sequence[str]], fps: float
    ) -> VideoStages:
        """Per-stage spans in one video, by CLIP + Viterbi / independent windows / uniform."""
        n_stages = len(captions)
        if self.mode not in CLIP_MODES:
            return VideoStages(uniform_spans(source.num_frames, n_stages))
        from vidbench_methods.viddiff import embedder

        clip = embedder.load_clip(self.clip_model, self.clip_pretrained, self.clip_device)
        sampled = plan_indices(source, fps)
        if not sampled:
            return VideoStages(uniform_spans(source.num_frames, n_stages))
        frame_emb, cached = embedder.cached_video_embeddings(
            clip,
            source,
            sampled,
            self.cache,
            batch_size=self.batch_size,
            workers=self.workers,
            max_side=self.max_side,
            backend=self.decode_backend,
        )
        flat = [c for stage in captions for c in stage]
        text_emb = embedder.embed_texts(clip, flat, self.cache)
        scores = normalise_scores(
            stage_scores(frame_emb, text_emb, [len(c) for c in captions]), self.emission
        )
        if self.mode == "viterbi":
            segments = viterbi(scores).segments
        else:
            segments = independent_segments(scores)
        return VideoStages(spans_from_segments(segments, sampled), sampled, scores, cached)

    def localize(
        self,
        *,
        sample_key: str,
        videos: Sequence[VideoSource],
        captions: Sequence[Sequence[str]],
        targets: Sequence[DifferenceTarget],
        fps: float,
        oracle: Sequence[Mapping[str, list[int] | None]] | None = None,
    ) -> tuple[dict[str, tuple[list[int], list[int]]], dict[str, Any]]:
        """Frames of A and of B for every difference, plus what to record in details."""
        details: dict[str, Any] = {"mode": self.mode, "emission": self.emission, "fps": fps}
        stages: list[VideoStages | None] = []
        if self.mode == "oracle" and oracle is None:
            raise ValueError(
                "the oracle localizer needs the task's oracle_frames "
                "(the harness gives them to methods with uses_ground_truth)"
            )
        need_stages = self.mode != "random" and (
            self.mode != "oracle"
            or any(not (oracle[v].get(t.key) or []) for v in range(2) for t in targets)
        )  # type: ignore[index]
        for source in videos:
            stages.append(self.stage_spans(source, captions, fps) if need_stages else None)
        details["videos"] = [s.record() if s is not None else None for s in stages]

        localization: dict[str, tuple[list[int], list[int]]] = {}
        fallbacks: list[str] = []
        for target in targets:
            frames_ab = []
            for v, source in enumerate(videos):
                n = source.num_frames
                given = oracle[v].get(target.key) if (self.mode == "oracle" and oracle) else None
                if given:
                    # Ground truth kept inside the video, in time order: the annotation lists
                    # the key frame first, but the differencer should see motion as it happened.
                    frames = sorted({min(max(int(i), 0), n - 1) for i in given})
                else:
                    if self.mode == "oracle":
                        fallbacks.append(f"{target.key}:{'ab'[v]}")
                    if self.mode == "random":
                        center = random_center(self.seed, sample_key, target.key, v, n)
                    else:
                        center = center_of(stages[v].spans, target.stages)  # type: ignore[union-attr]
                    frames = frames_around(
                        center, target.num_frames, _fps_of(source), n, self.gt1_spacing_s
                    )
                frames_ab.append(frames)
            localization[target.key] = (frames_ab[0], frames_ab[1])
        if fallbacks:
            # No ground-truth frames for these: they got the uniform-stage midpoint instead.
            details["oracle_fallback"] = fallbacks
        return localization, details
