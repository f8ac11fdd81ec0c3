"""The VidDiff localizer: CLIP embeddings (tiny random-weight open_clip model), the cache, the
frame rules and every ablation. Skipped when torch/open_clip are not installed."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from vidbench.cache import Cache
from vidbench.contracts import FrameSpec, VideoFrames, VideoRef
from vidbench.video import frame_indices
from vidbench_methods.viddiff.localizer import (
    DifferenceTarget,
    Localizer,
    VideoStages,
    center_position,
    frames_around,
    independent_segments,
    independent_segments_paper,
    normalise_scores,
    random_center,
    segment,
    stage_scores,
    uniform_segments,
)

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
from vidbench_methods.viddiff import embedder  # noqa: E402  (imports torch lazily, but only test it with it)

TINY = embedder.register_tiny_model()


class ArraySource:
    """A VideoSource over in-memory frames; counts reads so tests can see cache hits."""

    def __init__(self, frames: np.ndarray, fps: float, path: str = "synthetic.mp4"):
        self.frames = frames
        self.ref = VideoRef(path, fps, (None, None))
        self.reads = 0

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def fps_original(self) -> float:
        return self.ref.fps_original

    def indices(self, spec: FrameSpec) -> list[int]:
        return frame_indices(self.num_frames, self.fps_original, spec)

    def _frames(self, indices, max_side):
        self.reads += 1
        arrays = self.frames[list(indices)]
        if max_side is not None and max(arrays.shape[1:3]) > max_side:
            step = math.ceil(max(arrays.shape[1:3]) / max_side)
            arrays = arrays[:, ::step, ::step]
        return VideoFrames(
            tuple(int(i) for i in indices),
            tuple(i / self.ref.fps_original for i in indices),
            self.ref.fps_original,
            np.ascontiguousarray(arrays),
        )

    def sample(self, spec: FrameSpec) -> VideoFrames:
        step = self.ref.fps_original / min(spec.fps, self.ref.fps_original)
        indices = sorted({int(round(k * step)) for k in range(int(self.num_frames / step))})
        return self._frames([i for i in indices if i < self.num_frames], spec.max_side)

    def read(self, indices, max_side=None) -> VideoFrames:
        return self._frames(indices, max_side)

    @property
    def content_id(self) -> str:
        return hashlib.blake2b(self.frames.tobytes(), digest_size=16).hexdigest()

    def without_cache(self) -> ArraySource:
        return self  # holds no frame cache


def _synthetic_frames(n: int, height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    """Three visually distinct phases (dark, striped, bright) so embeddings differ by phase."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 40, size=(n, height, width, 3), dtype=np.uint8)
    frames[n // 3 : 2 * n // 3, :, ::8] = 250
    frames[2 * n // 3 :] += 180
    return frames


@pytest.fixture
def clip():
    return embedder.load_clip(TINY, None, "cpu")


def test_model_is_loaded_once_per_process(clip):
    assert embedder.load_clip(TINY, None, "cpu") is clip


def test_tensor_preprocessing_matches_open_clips_pil_transform(clip):
    from PIL import Image

    _, _, pil_transform = open_clip.create_model_and_transforms(TINY, pretrained=None)
    frames = _synthetic_frames(6, 120, 160)
    ours = embedder.preprocess(torch.from_numpy(frames), clip)
    theirs = torch.stack([pil_transform(Image.fromarray(f)) for f in frames])
    assert ours.shape == theirs.shape == (6, 3, 64, 64)
    # Same pipeline up to interpolation rounding: small mean error, embeddings nearly identical.
    assert (ours - theirs).abs().mean() < 0.05
    cos = (embedder._encode_images(clip, ours) * embedder._encode_images(clip, theirs)).sum(-1)
    assert float(cos.min()) > 0.98


def test_video_embeddings_are_normalised_ordered_and_cached(clip, tmp_path):
    cache = Cache(tmp_path / "cache")
    source = ArraySource(_synthetic_frames(40), fps=8.0)
    indices = list(range(0, 40, 2))
    emb, cached = embedder.cached_video_embeddings(
        clip, source, indices, cache, batch_size=6, workers=2
    )
    assert not cached and emb.shape == (20, 32)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # Batching and threading must not reorder frames: compare with one plain batch.
    direct = embedder._encode_images(
        clip, embedder.preprocess(torch.from_numpy(source.frames[indices]), clip)
    ).numpy()
    assert np.allclose(emb, direct, atol=1e-5)
    reads = source.reads
    again, cached = embedder.cached_video_embeddings(clip, source, indices, cache, batch_size=6)
    assert cached and source.reads == reads and np.array_equal(again, emb)
    assert cache.count(embedder.CLIP_NAMESPACE) == 1
    # Different frames are a different key.
    _, cached = embedder.cached_video_embeddings(clip, source, indices[:-1], cache)
    assert not cached


def test_text_embeddings_cached_per_text(clip, tmp_path):
    cache = Cache(tmp_path / "cache")
    first = embedder.embed_texts(clip, ["A photo of a person squatting", "A photo of a dog"], cache)
    assert first.shape == (2, 32) and cache.count(embedder.CLIP_NAMESPACE) == 2
    second = embedder.embed_texts(clip, ["A photo of a dog"], cache)
    assert np.array_equal(second[0], first[1]) and cache.count(embedder.CLIP_NAMESPACE) == 2


def test_random_init_is_seeded_so_cached_embeddings_stay_valid():
    a, _, _ = open_clip.create_model_and_transforms(TINY, pretrained=None)
    embedder._models.pop((TINY, None, "cpu"), None)
    b = embedder.load_clip(TINY, None, "cpu").model
    c = embedder.load_clip(TINY, None, "cpu").model
    assert b is c
    first = next(b.parameters())
    embedder._models.pop((TINY, None, "cpu"), None)
    d = embedder.load_clip(TINY, None, "cpu").model
    assert torch.equal(first, next(d.parameters()))
    assert not torch.equal(first, next(a.parameters()))  # an unseeded model differs


# ---------------------------------------------------------------- scores and frame rules


def test_stage_scores_average_each_stages_captions():
    frames = np.eye(3)[:2]  # two frames, unit vectors e0 and e1
    captions = np.eye(3)[[0, 1, 2]]  # stage 0: e0 and e1 captions; stage 1: e2
    scores = stage_scores(frames, captions, [2, 1])
    assert np.allclose(scores, [[0.5, 0.0], [0.5, 0.0]])


def test_emission_normalisations():
    raw = np.array([[0.20, 0.30], [0.25, 0.30], [0.30, 0.31]])
    paper = normalise_scores(raw, "paper")
    assert np.allclose(paper.min(axis=0), 0) and np.allclose(paper.max(axis=0), 1)
    z = normalise_scores(raw, "zscore")
    assert np.allclose(z.mean(axis=0), 0)
    # zscore keeps the flat stage flat; paper stretches it to the same range as the informative one
    assert np.ptp(z[:, 1]) < np.ptp(z[:, 0]) / 5
    assert np.array_equal(normalise_scores(raw, "raw"), raw)
    with pytest.raises(ValueError):
        normalise_scores(raw, "softmax")  # type: ignore[arg-type]


def test_frame_rules_first_linked_stage_for_one_frame_span_for_motion():
    video = VideoStages([(0, 10), (10, 20), (20, 41)], list(range(41)))
    one = DifferenceTarget("0", (1, 2), "1")
    motion = DifferenceTarget("1", (0, 2), "gt_1")
    # The reference: a one-frame difference takes its FIRST linked stage's midpoint,
    # int(mean(start, end - 1)) ...
    assert center_position(video, one, "first") == 14
    # ... a motion difference the midpoint over all its linked stages.
    assert center_position(video, motion, "first") == 20
    # The vidbench preset: the span over all linked stages for both.
    assert center_position(video, one, "span") == 25
    # An empty stage (more stages than frames) gives way to a linked stage with frames.
    sparse = VideoStages([(0, 1), (1, 1), (1, 2)], [0, 10])
    assert center_position(sparse, DifferenceTarget("0", (1, 2), "1"), "first") == 1
    # Positions index the scored frames: the shown frame is sampled[position].
    strided = VideoStages([(0, 2), (2, 5)], [0, 7, 14, 21, 28])
    second = DifferenceTarget("2", (1,), "1")  # positions 2..4 -> position 3 -> frame 21
    assert strided.sampled[center_position(strided, second, "first")] == 21


@pytest.mark.parametrize("fps,expected_step", [(30.0, 10), (8.0, 3), (2.0, 1), (1.0, 1)])
def test_gt1_frames_are_0_35s_apart_at_the_original_rate_and_never_duplicates(fps, expected_step):
    frames = frames_around(50, "gt_1", fps, 200)
    assert frames == [50 - expected_step, 50, 50 + expected_step]
    assert len(set(frames)) == 3


def test_gt1_frames_shift_inside_the_video_at_the_ends():
    assert frames_around(0, "gt_1", 30.0, 100) == [0, 10, 20]
    assert frames_around(99, "gt_1", 30.0, 100) == [79, 89, 99]
    assert frames_around(2, "gt_1", 30.0, 5) == [0, 2, 4]  # too short for 0.35 s: widest spacing
    assert frames_around(1, "gt_1", 30.0, 2) == [0, 1]
    assert frames_around(7, "1", 30.0, 5) == [4]


def test_stage_spans_map_positions_to_original_rate_indices():
    stages = VideoStages([(0, 2), (2, 5)], [0, 4, 8, 12, 16])
    assert stages.record()["spans"] == [[0, 4], [8, 16]]
    assert VideoStages([(0, 1), (1, 1), (1, 2)], [0, 10]).record()["empty_stages"] == [1]


def test_uniform_and_independent_segmentations():
    assert uniform_segments(10, 2) == [(0, 5), (5, 10)]
    assert uniform_segments(2, 3) == [(0, 0), (0, 1), (1, 2)]
    scores = np.zeros((10, 2))
    scores[7:9, 0] = 1.0  # stage 0 best late, stage 1 best early: order is NOT enforced
    scores[0:2, 1] = 1.0
    assert independent_segments(scores) == [(4, 9), (0, 5)]


def test_independent_paper_windows_are_1_3_t_over_k_odd_and_inside_the_video():
    scores = np.zeros((20, 2))
    scores[15, 0] = 1.0  # int(1.3 * 20 / 2) = 13 frames: every window over 15 ties
    scores[2, 1] = 1.0
    assert independent_segments_paper(scores) == [(3, 16), (0, 13)]  # the first best window
    # An even length gets one more frame: int(1.3 * 10 / 2) = 6 -> 7.
    assert independent_segments_paper(np.eye(10)[:, :2]) == [(0, 7), (0, 7)]


def test_random_center_is_reproducible_and_seeded():
    a = random_center(0, "s1", "3", 0, 1000)
    assert a == random_center(0, "s1", "3", 0, 1000)
    draws = {random_center(seed, "s1", "3", 0, 1000) for seed in range(20)}
    assert len(draws) > 10


# ---------------------------------------------------------------- the localizer, per mode

CAPTIONS = [
    ["A photo of a person standing"] * 2,
    ["A photo of a person bending"] * 2,
    ["A photo of a person jumping"] * 2,
]
TARGETS = [DifferenceTarget("0", (1,), "1"), DifferenceTarget("4", (0, 2), "gt_1")]


def _videos():
    return (
        ArraySource(_synthetic_frames(48, seed=1), 8.0, "a.mp4"),
        ArraySource(_synthetic_frames(60, seed=2), 8.0, "b.mp4"),
    )


def _localizer(mode, tmp_path, **kw):
    return Localizer(
        mode=mode,
        clip_model=TINY,
        clip_pretrained=None,
        clip_device="cpu",
        batch_size=8,
        workers=2,
        cache=Cache(tmp_path / "cache"),
        **kw,
    )


def test_viterbi_mode_uses_clip_scores_and_keeps_stage_order(tmp_path):
    loc = _localizer("viterbi", tmp_path)
    videos = _videos()
    stages = loc.stage_spans(videos[1], CAPTIONS, fps=4.0)
    assert stages.sampled == list(range(0, 60, 2))
    spans = [stages.span(s) for s in range(3)]
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)
    assert spans[0][0] == 0 and spans[-1][1] == 58
    # Same result from the parts: embeddings -> stage scores -> the paper's segmentation.
    clip = embedder.load_clip(TINY, None, "cpu")
    frame_emb = embedder.embed_video(clip, videos[1], stages.sampled)
    text_emb = embedder.embed_texts(clip, [c for s in CAPTIONS for c in s])
    scores = stage_scores(frame_emb, text_emb, [2, 2, 2])
    assert np.allclose(scores, stages.scores, atol=1e-5)
    assert stages.segments == segment(scores)

    localization, details = loc.localize(
        sample_key="k", videos=videos, captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    assert set(localization) == {"0", "4"}
    assert len(localization["0"][0]) == 1 and len(localization["4"][1]) == 3
    (a1, b1) = stages.segments[1]
    assert localization["0"][1] == [stages.sampled[(a1 + b1 - 1) // 2]]
    middle = stages.sampled[(0 + 30 - 1) // 2]  # the span over stages 0 and 2: the video
    assert localization["4"][1] == [middle - 3, middle, middle + 3]
    assert details["timestamps"]["4"][1] == [round(i / 8.0, 4) for i in localization["4"][1]]
    assert np.diff(localization["4"][0]).tolist() == [3, 3]  # round(0.35 * 8) frames apart
    assert details["mode"] == "viterbi" and details["videos"][0]["n_scored_frames"] == 24
    # A second sample on the same videos hits the embedding cache.
    _, again = loc.localize(
        sample_key="k", videos=videos, captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    assert again["videos"][0]["embeddings_cached"] is True


def test_independent_mode_runs_on_clip_scores(tmp_path):
    loc = _localizer("independent", tmp_path)
    stages = loc.stage_spans(_videos()[0], CAPTIONS, fps=4.0)
    assert all(b - a == 11 for a, b in stages.segments)  # int(1.3 * 24 / 3) = 10 -> 11
    vidbench = _localizer("independent", tmp_path, window="vidbench")
    assert all(b - a == 8 for a, b in vidbench.stage_spans(_videos()[0], CAPTIONS, 4.0).segments)


def test_uniform_mode_needs_no_clip(tmp_path, monkeypatch):
    monkeypatch.setattr(embedder, "load_clip", lambda *a, **k: pytest.fail("CLIP loaded"))
    localization, details = _localizer("uniform", tmp_path).localize(
        sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    assert localization["0"] == ([23], [29])  # middle third of 48 and of 60 frames
    assert details["videos"][0]["spans"] == [[0, 15], [16, 31], [32, 47]]


def test_random_mode_is_seeded_per_difference(tmp_path, monkeypatch):
    monkeypatch.setattr(embedder, "load_clip", lambda *a, **k: pytest.fail("CLIP loaded"))
    first, _ = _localizer("random", tmp_path).localize(
        sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    again, _ = _localizer("random", tmp_path).localize(
        sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    other, _ = _localizer("random", tmp_path, seed=1).localize(
        sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0
    )
    assert first == again and first != other
    assert len(set(first["4"][0])) == 3


def test_oracle_mode_uses_ground_truth_frames_and_falls_back_per_difference(tmp_path, monkeypatch):
    monkeypatch.setattr(embedder, "load_clip", lambda *a, **k: pytest.fail("CLIP loaded"))
    oracle = ({"0": [5], "4": [13, 10, 99]}, {"0": [7], "4": None})
    localization, details = _localizer("oracle", tmp_path).localize(
        sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0, oracle=oracle
    )
    assert localization["0"] == ([5], [7])
    assert localization["4"][0] == [10, 13, 47]  # time order, clamped into the 48-frame video
    assert localization["4"][1] == frames_around(29, "gt_1", 8.0, 60)  # uniform fallback
    assert details["oracle_fallback"] == ["4:b"]
    with pytest.raises(ValueError, match="oracle_frames"):
        _localizer("oracle", tmp_path).localize(
            sample_key="k", videos=_videos(), captions=CAPTIONS, targets=TARGETS, fps=4.0
        )


def test_real_video_embeddings_skip_the_frame_cache_and_match_direct_reads(clip, tmp_path):
    from tests.videos import write_video
    from vidbench.video import open_video

    cache = Cache(tmp_path / "cache")
    write_video(tmp_path / "v.mp4", 50, fps=10, gop=10)
    video = open_video(VideoRef("v.mp4", 10.0, (5, 45)), tmp_path, cache=cache)
    indices = [0, 3, 9, 17, 39]
    emb, cached = embedder.cached_video_embeddings(
        clip, video, indices, cache, batch_size=2, workers=2
    )
    assert not cached and emb.shape == (5, 32)
    assert cache.count("frames") == 0  # CLIP frames are not stored; their embeddings are
    assert cache.count(embedder.CLIP_NAMESPACE) == 1
    frames = video.read(indices).arrays  # this read does use the frame cache
    direct = embedder._encode_images(clip, embedder.preprocess(torch.from_numpy(frames), clip))
    assert np.allclose(emb, direct.numpy(), atol=1e-4)
    # Decoding in worker processes (what a GPU run uses) gives the same embeddings.
    assert embedder.choose_backend("auto", clip, video, 2) == "thread"  # no GPU here
    by_process = embedder.embed_video(
        clip, video, indices, batch_size=4, chunk=2, workers=2, backend="process"
    )
    assert np.allclose(by_process, emb, atol=1e-5)
    # The cache key follows the file's content: a rewritten video is a miss.
    write_video(tmp_path / "v.mp4", 50, fps=10, gop=5)
    video = open_video(VideoRef("v.mp4", 10.0, (5, 45)), tmp_path, cache=cache)
    _, cached = embedder.cached_video_embeddings(clip, video, indices, cache)
    assert not cached


def test_a_gpu_decodes_an_eval_video_in_processes(tmp_path):
    # The videos an eval passes carry the run's Cache, which cannot be pickled; the backend is
    # decided for the cache-less copy the decode tasks carry (it once fell back to threads).
    from types import SimpleNamespace

    import torch

    from tests.videos import write_video
    from vidbench.video import open_video

    write_video(tmp_path / "v.mp4", 10, fps=10, gop=5)
    video = open_video(VideoRef("v.mp4", 10.0), tmp_path, cache=Cache(tmp_path / "cache"))
    on_gpu = SimpleNamespace(device=torch.device("cuda"))
    assert embedder.choose_backend("auto", on_gpu, video, 4) == "process"  # type: ignore[arg-type]
    assert embedder.choose_backend("auto", on_gpu, video, 1) == "thread"  # type: ignore[arg-type]


def test_every_frame_of_a_long_clip_is_decoded_by_several_tasks_none_twice(tmp_path):
    # Dense indices (the GPU benchmark embeds every frame) once made one decode task for the
    # whole clip: one worker decoding while the others and the model waited.
    from tests.videos import write_video
    from vidbench.video import open_video

    write_video(tmp_path / "v.mp4", 60, fps=10, gop=10)
    video = open_video(VideoRef("v.mp4", 10.0), tmp_path, use_cache=False)
    tasks = embedder._tasks(0, embedder.EmbedJob(video, list(range(60))), None, 16, False)
    chunks = [list(t.indices) for t in tasks]
    assert [len(c) for c in chunks] == [20, 20, 20]  # two 10-frame GOPs each, cut at keyframes
    assert sorted(i for c in chunks for i in c) == list(range(60))


def test_both_videos_embed_in_one_pipeline_as_each_alone_and_keep_frames(clip, tmp_path):
    """`embed_videos` mixes two videos of different frame sizes in its batches; each video's
    embeddings equal those it gets alone, its kept frames equal plain reads, and the cache
    holds each under the key it has when embedded alone."""
    from tests.videos import write_video
    from vidbench.video import open_video

    write_video(tmp_path / "a.mp4", 30, fps=10, gop=10)
    write_video(tmp_path / "b.mp4", 26, fps=10, gop=5, width=96, height=128)
    a = open_video(VideoRef("a.mp4", 10.0, (2, None)), tmp_path, use_cache=False)
    b = open_video(VideoRef("b.mp4", 10.0, (None, None)), tmp_path, use_cache=False)
    ia, ib = list(range(0, 27, 2)), list(range(1, 26, 3))  # 14 and 9 frames: batches mix them
    keep_a = [0, 1, 5, 26, 27]
    alone = [
        embedder.embed_video(clip, v, ids, batch_size=8, workers=2, max_side=80)
        for v, ids in ((a, ia), (b, ib))
    ]
    for backend in ("thread", "process"):
        jobs = [embedder.EmbedJob(a, ia, keep_a), embedder.EmbedJob(b, ib)]
        done = embedder.embed_videos(
            clip, jobs, batch_size=8, workers=2, max_side=80, backend=backend
        )
        for got, want in zip(done, alone):
            assert got.embeddings.shape == want.shape
            assert np.allclose(got.embeddings, want, atol=1e-5)
        assert done[0].frames_decoded >= len(set(ia) | set(keep_a))
        assert done[1].frames_decoded >= len(ib)
        # Chunks are cut only where decoding seeks anyway: no frame is decoded twice.
        assert done[0].frames_decoded <= a.n_frames_total
        assert done[1].kept == {}
    # Kept frames come back from threads only (decoded frames cannot leave a process).
    assert done[0].kept == {}
    threads = embedder.embed_videos(
        clip, [embedder.EmbedJob(a, ia, keep_a)], batch_size=8, workers=2, max_side=80
    )[0]
    assert sorted(threads.kept) == keep_a
    held = open_video(VideoRef("a.mp4", 10.0, (2, None)), tmp_path, use_cache=False)
    held.hold(threads.kept)
    assert np.array_equal(held.read(keep_a, 48).arrays, a.read(keep_a, 48).arrays)
    assert held.stats.frames_decoded == 0

    cache = Cache(tmp_path / "cache")
    emb_b, _ = embedder.cached_video_embeddings(clip, b, ib, cache, batch_size=8, max_side=80)
    both = embedder.cached_embeddings(
        clip,
        [embedder.EmbedJob(a, ia, keep_a), embedder.EmbedJob(b, ib)],
        cache,
        batch_size=8,
        max_side=80,
    )
    # b was cached: not decoded again, nothing kept; a was embedded and stored under its key.
    assert [d.cached for d in both] == [False, True] and both[1].frames_decoded == 0
    assert np.array_equal(both[1].embeddings, emb_b) and both[0].kept
    again, cached = embedder.cached_video_embeddings(clip, a, ia, cache, max_side=80)
    assert cached and np.array_equal(again, both[0].embeddings)


def test_candidate_frames_are_every_frame_the_differencer_can_be_shown():
    from vidbench_methods.viddiff.localizer import candidate_frames

    # 30 fps, 0.35 s -> a step of 10 frames; triples shift inside the 40-frame video.
    got = candidate_frames([0, 15, 39], 30.0, 40, 0.35)
    assert got == [0, 5, 10, 15, 19, 20, 25, 29, 39]
    for center in (0, 15, 39):
        for kind in ("1", "gt_1"):
            assert set(frames_around(center, kind, 30.0, 40)) <= set(got)
    assert candidate_frames([0, 1], 8.0, 2) == [0, 1]  # too short for a triple
