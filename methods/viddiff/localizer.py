"""VidDiff stage 2: find, in each video, the frames where each difference is visible.

The paper's localizer embeds every frame at the domain's inference rate and every stage caption
with CLIP, scores each frame against each stage (mean caption-frame cosine similarity), and
assigns frames to stages with a left-to-right Viterbi over the log of the min-max scaled scores
(`segment`). A one-frame difference then gets the midpoint of its first linked stage, a motion
difference (`num_frames == "gt_1"`) three frames 0.35 s apart around the midpoint of all its
linked stages. The `vidbench` preset instead maximises the sum of the scores and uses the span of
all linked stages for both (`objective="sum"`, `stage_frame="span"`).

Every frame index this module returns indexes the trimmed video at its ORIGINAL rate (what the
dataset's retrieval frames and the differencer's `read` use), never the subsampled CLIP frames.

Ablations (`mode`): "viterbi" (the paper), "independent" (each stage's best window, no order),
"uniform" (stages split the video evenly, no CLIP), "random" (a seeded random frame per
difference, no CLIP), "oracle" (the dataset's ground-truth retrieval frames, no CLIP).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vidbench.contracts import BlobStore, FrameSpec, VideoSource, content_key
from vidbench_methods.viddiff.viterbi import viterbi, viterbi_paper

LocalizerMode = Literal["viterbi", "independent", "uniform", "random", "oracle"]
EmissionMode = Literal["paper", "zscore", "raw"]
Objective = Literal["log", "sum"]
StageFrameRule = Literal["first", "span"]
CLIP_MODES: tuple[str, ...] = ("viterbi", "independent")


@dataclass(frozen=True)
class DifferenceTarget:
    """What the localizer needs of one difference: the stages it is visible in (in stage order),
    how many frames."""

    key: str
    stages: tuple[int, ...]
    num_frames: str  # "1" or "gt_1"


@dataclass
class VideoStages:
    """Per-video result of stage localisation.

    `sampled` are the trimmed-video indices the stages were found on (the frames CLIP scored, or
    every frame for the uniform split); `segments[s]` is stage s's half-open range of POSITIONS in
    `sampled` (empty only with more stages than frames)."""

    segments: list[tuple[int, int]]
    sampled: list[int]
    scores: np.ndarray | None = None
    embeddings_cached: bool | None = None

    def span(self, stage: int) -> list[int]:
        """Stage `stage` as first and last trimmed-video index (inclusive)."""
        a, b = self.segments[stage]
        last = len(self.sampled) - 1
        return [self.sampled[min(a, last)], self.sampled[min(max(b - 1, a), last)]]

    def record(self) -> dict[str, Any]:
        return {
            "spans": [self.span(s) for s in range(len(self.segments))],
            "n_scored_frames": len(self.sampled) if self.scores is not None else 0,
            "empty_stages": [i for i, (a, b) in enumerate(self.segments) if b <= a],
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


def first_caption_scores(
    frame_emb: np.ndarray, caption_emb: np.ndarray, caption_counts: Sequence[int]
) -> np.ndarray:
    """(T, S): each frame's cosine similarity with each stage's FIRST caption (what the
    reference's no-Viterbi ablation scores with)."""
    firsts = np.cumsum([0, *caption_counts])[:-1]
    return frame_emb.astype(np.float64) @ caption_emb[firsts].astype(np.float64).T


def minmax_columns(scores: np.ndarray) -> np.ndarray:
    """Each stage's column scaled to [0, 1] over the frames (a constant column becomes 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    return (scores - lo) / np.where(hi > lo, hi - lo, 1.0)


def segment(scores: np.ndarray) -> list[tuple[int, int]]:
    """The paper's segmentation of one video: (frames x stages) similarities -> each stage's
    half-open frame range, in stage order.

    As the reference code does it: each stage's scores are min-max scaled over the frames, zeros
    become 1e-5, and the left-to-right Viterbi maximises the sum of their logarithms (ties as the
    reference breaks them; see viterbi.viterbi_paper). With more stages than frames, the stages
    left without a frame get empty ranges (the reference crashes there)."""
    probs = minmax_columns(scores)
    probs[probs == 0] = 1e-5
    return viterbi_paper(np.log(probs)).segments


def normalise_scores(scores: np.ndarray, mode: EmissionMode) -> np.ndarray:
    """Emission scores for the sum-objective Viterbi (the `vidbench` preset).

    "paper": each stage's column min-max scaled to [0, 1] over the frames, so every stage has a
    frame scoring 1 however weak its captions are.
    "zscore": each column centred on its own mean (removes a caption set's overall bias) but all
    scaled by ONE pooled standard deviation, so a stage whose captions match no frame better than
    the others stays flat instead of being stretched to the full range; scores stay comparable.
    "raw": the cosine similarities as they are.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if mode == "raw":
        return scores
    if mode == "paper":
        return minmax_columns(scores)
    if mode == "zscore":
        centred = scores - scores.mean(axis=0)
        pooled = float(np.sqrt(np.mean(centred**2)))
        return centred / pooled if pooled > 0 else centred
    raise ValueError(f"unknown emission normalisation {mode!r}")


def independent_segments(scores: np.ndarray) -> list[tuple[int, int]]:
    """The `vidbench` preset's "no Viterbi" ablation: each stage independently takes the window
    of length ~T/S with the highest total score; windows may overlap and come in any order."""
    n_frames, n_stages = scores.shape
    width = max(1, round(n_frames / n_stages))
    prefix = np.vstack([np.zeros((1, n_stages)), np.cumsum(scores, axis=0)])
    window = prefix[width:] - prefix[:-width]  # (T - width + 1, S)
    starts = np.argmax(window, axis=0)
    return [(int(a), int(a) + width) for a in starts]


def independent_segments_paper(first_scores: np.ndarray) -> list[tuple[int, int]]:
    """The reference's "no Viterbi" ablation on (frames x stages) first-caption similarities:
    per stage an odd window of int(1.3 * T / S) frames (plus one if even), centred on the frame
    where the window's sum of min-max scaled scores (edges padded) is highest, kept inside the
    video; windows may overlap."""
    probs = minmax_columns(first_scores)
    n_frames, n_stages = probs.shape
    length = int(1.3 * (n_frames / n_stages))
    if length % 2 == 0:
        length += 1
    half = length // 2
    segments = []
    for s in range(n_stages):
        padded = np.pad(probs[:, s], half, mode="edge")
        sums = np.array([padded[i : i + length].sum() for i in range(n_frames)])
        mid = int(np.argmax(sums))
        mid = min(max(mid, half), n_frames - half - 1)
        # A window longer than the video (reference: negative starts) is clipped to the video.
        segments.append((max(mid - half, 0), min(mid + half + 1, n_frames)))
    return segments


def uniform_segments(n_frames: int, n_stages: int) -> list[tuple[int, int]]:
    """Stages split the frames evenly (the "uniform" ablation); empty only if S > T."""
    return [((s * n_frames) // n_stages, ((s + 1) * n_frames) // n_stages) for s in range(n_stages)]


def center_position(video: VideoStages, target: DifferenceTarget, rule: StageFrameRule) -> int:
    """The position (in `video.sampled`) of the frame shown for a difference.

    "first" (the reference): a one-frame difference takes the midpoint of its FIRST linked
    stage, a motion difference ("gt_1") the midpoint of the range over all its linked stages;
    midpoints of inclusive ranges, rounded down. "span" (vidbench): both take the midpoint over
    all linked stages. Stages without frames are skipped while any linked stage has frames."""
    n_stages = len(video.segments)
    stages = [s for s in target.stages if 0 <= s < n_stages] or [n_stages // 2]
    full = [s for s in stages if video.segments[s][1] > video.segments[s][0]] or stages
    if rule == "first" and target.num_frames != "gt_1":
        full = full[:1]
    lo = min(video.segments[s][0] for s in full)
    hi = max(max(video.segments[s][1] - 1, video.segments[s][0]) for s in full)
    return min((lo + hi) // 2, len(video.sampled) - 1)


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


def candidate_frames(
    sampled: Sequence[int], fps_original: float, n_frames: int, spacing_s: float = 0.35
) -> list[int]:
    """Every frame the differencer can be shown when the centre is one of `sampled` (what the
    CLIP localizer always picks): the sampled frames and their `frames_around` triples, computed
    by `frames_around` itself so the two can never disagree."""
    frames: set[int] = set()
    for center in sampled:
        frames.update(frames_around(center, "1", fps_original, n_frames, spacing_s))
        frames.update(frames_around(center, "gt_1", fps_original, n_frames, spacing_s))
    return sorted(frames)


def random_center(seed: int, sample_key: str, diff_key: str, video: int, n_frames: int) -> int:
    """A reproducible random frame for the "random" ablation (independent of run order)."""
    rng = random.Random(content_key("viddiff-random", seed, sample_key, diff_key, video))
    return rng.randrange(n_frames)


# ---------------------------------------------------------------- the localizer


@dataclass
class Localizer:
    """Stage 2 of VidDiff, configured once per method instance (defaults: the paper's)."""

    mode: LocalizerMode = "viterbi"
    objective: Objective = "log"
    emission: EmissionMode = "paper"  # the sum objective's normalisation
    stage_frame: StageFrameRule = "first"
    window: Literal["paper", "vidbench"] = "paper"  # the "independent" ablation's windows
    index_rule: Literal["exact", "stride"] = "stride"
    clip_model: str = "ViT-bigG-14"
    clip_pretrained: str | None = "laion2b_s39b_b160k"
    clip_device: str | None = None
    batch_size: int = 128
    workers: int = 4
    decode_backend: str = "auto"
    max_side: int | None = 448
    gt1_spacing_s: float = 0.35
    seed: int = 0
    cache: BlobStore | None = None

    def _segments(self, frame_emb: np.ndarray, text_emb: np.ndarray, counts: list[int]) -> Any:
        scores = stage_scores(frame_emb, text_emb, counts)
        if self.mode == "independent":
            if self.window == "paper":
                return independent_segments_paper(
                    first_caption_scores(frame_emb, text_emb, counts)
                ), scores
            return independent_segments(normalise_scores(scores, self.emission)), scores
        if self.objective == "log":
            return segment(scores), scores
        return viterbi(normalise_scores(scores, self.emission)).segments, scores

    def sampled(self, source: VideoSource, fps: float) -> list[int]:
        """The frames CLIP scores in a video (trimmed-video indices)."""
        return source.indices(FrameSpec(fps=fps, index_rule=self.index_rule))

    def stage_spans(
        self,
        source: VideoSource,
        captions: Sequence[Sequence[str]],
        fps: float,
        embedded: tuple[np.ndarray, bool] | None = None,
    ) -> VideoStages:
        """Per-stage segments in one video, by CLIP + Viterbi / independent windows / uniform.
        `embedded`: the embeddings of `sampled(source, fps)` and whether they came from the
        cache, when the caller made them already (else they are made or read here)."""
        n_stages = len(captions)
        every = list(range(source.num_frames))
        if self.mode not in CLIP_MODES:
            return VideoStages(uniform_segments(len(every), n_stages), every)
        from vidbench_methods.viddiff import embedder

        clip = embedder.load_clip(self.clip_model, self.clip_pretrained, self.clip_device)
        sampled = self.sampled(source, fps)
        if not sampled:
            return VideoStages(uniform_segments(len(every), n_stages), every)
        if embedded is not None and len(embedded[0]) == len(sampled):
            frame_emb, cached = embedded
        else:
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
        segments, scores = self._segments(frame_emb, text_emb, [len(c) for c in captions])
        return VideoStages(segments, sampled, scores, cached)

    def localize(
        self,
        *,
        sample_key: str,
        videos: Sequence[VideoSource],
        captions: Sequence[Sequence[str]],
        targets: Sequence[DifferenceTarget],
        fps: float,
        oracle: Sequence[Mapping[str, list[int] | None]] | None = None,
        embedded: Sequence[tuple[np.ndarray, bool] | None] | None = None,
    ) -> tuple[dict[str, tuple[list[int], list[int]]], dict[str, Any]]:
        """Frames of A and of B for every difference, plus what to record in details (the
        stage spans, the frames' timestamps in seconds, oracle fallbacks). `embedded`: per
        video, frame embeddings made beforehand (`stage_spans`)."""
        details: dict[str, Any] = {
            "mode": self.mode,
            "objective": self.objective,
            "stage_frame": self.stage_frame,
            "fps": fps,
        }
        if self.mode == "oracle" and oracle is None:
            raise ValueError(
                "the oracle localizer needs the task's oracle_frames "
                "(the harness gives them to methods with uses_ground_truth)"
            )
        need_stages = self.mode != "random" and (
            self.mode != "oracle"
            or any(not (oracle[v].get(t.key) or []) for v in range(2) for t in targets)  # type: ignore[index]
        )
        premade = embedded or [None] * len(videos)
        stages = [
            self.stage_spans(s, captions, fps, e) if need_stages else None
            for s, e in zip(videos, premade)
        ]
        details["videos"] = [s.record() if s is not None else None for s in stages]

        localization: dict[str, tuple[list[int], list[int]]] = {}
        timestamps: dict[str, list[list[float]]] = {}
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
                        video = stages[v]
                        assert video is not None
                        center = video.sampled[center_position(video, target, self.stage_frame)]
                    frames = frames_around(
                        center, target.num_frames, source.fps_original, n, self.gt1_spacing_s
                    )
                frames_ab.append(frames)
            localization[target.key] = (frames_ab[0], frames_ab[1])
            timestamps[target.key] = [
                [round(i / videos[v].fps_original, 4) for i in frames_ab[v]] for v in range(2)
            ]
        details["timestamps"] = timestamps
        if fallbacks:
            # No ground-truth frames for these: they got the localizer's own frame instead.
            details["oracle_fallback"] = fallbacks
        return localization, details
