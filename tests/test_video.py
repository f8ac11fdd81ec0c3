"""vidbench.video on real files written by PyAV: every decoded frame is checked against the index
it was written with (tests/videos.py draws each frame's index into its pixels)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tests.videos import decode_indices, write_image_folder, write_video
from vidbench import decoding as dmod
from vidbench.cache import Cache
from vidbench.contracts import FrameSpec, VideoRef
from vidbench.errors import VideoError
from vidbench.framecache import FrameCache, frame_cache
from vidbench.video import encode_image, frame_indices, open_video, probe, video_root

# ------------------------------------------------------------------ frame_indices


def test_fps_that_does_not_divide_the_original():
    got = frame_indices(300, 30.0, FrameSpec(fps=4))
    assert got[:9] == [0, 7, 15, 22, 30, 37, 45, 52, 60]
    assert len(got) == 40 and got[-1] == 292
    # 8 -> 3 fps: frames i * 8/3, the exact multiples (8, 16) must not floor to 7, 15.
    assert frame_indices(24, 8.0, FrameSpec(fps=3)) == [0, 2, 5, 8, 10, 13, 16, 18, 21]
    assert frame_indices(9, 8.0, FrameSpec(fps=2)) == [0, 4, 8]
    # 12 -> 1.1 fps: 11 * 12 / 1.1 is 119.99999999999999 in floating point but frame 120.
    assert frame_indices(121, 12.0, FrameSpec(fps=1.1))[-1] == 120
    assert frame_indices(3000, 29.97, FrameSpec(fps=0.1))[-1] == 2997


def test_fps_at_or_above_the_original_takes_every_frame():
    assert frame_indices(7, 8.0, FrameSpec(fps=8)) == list(range(7))
    assert frame_indices(7, 8.0, FrameSpec(fps=60)) == list(range(7))


def test_num_frames_is_evenly_spaced_and_capped_by_the_video():
    assert frame_indices(10, 30.0, FrameSpec(num_frames=4)) == [0, 3, 6, 9]
    assert frame_indices(10, 30.0, FrameSpec(num_frames=1)) == [0]
    assert frame_indices(3, 30.0, FrameSpec(num_frames=8)) == [0, 1, 2]
    got = frame_indices(101, 30.0, FrameSpec(num_frames=11))
    assert got == list(range(0, 101, 10))


def test_max_frames_subsamples_the_selection_evenly():
    assert frame_indices(100, 30.0, FrameSpec(fps=30, max_frames=5)) == [0, 25, 50, 74, 99]
    # Applied after the fps rule: positions into [0, 7, 15, 22, 30, 37, 45, 52, 60, ...].
    assert frame_indices(300, 30.0, FrameSpec(fps=4, max_frames=3)) == [0, 150, 292]
    assert frame_indices(10, 30.0, FrameSpec(fps=30, max_frames=50)) == list(range(10))


def test_empty_and_single_frame_videos():
    assert frame_indices(0, 30.0, FrameSpec(fps=4)) == []
    assert frame_indices(0, 30.0, FrameSpec(num_frames=4)) == []
    assert frame_indices(1, 30.0, FrameSpec(fps=4)) == [0]
    assert frame_indices(1, 30.0, FrameSpec(num_frames=4)) == [0]


def test_fps_rule_is_monotonic_and_in_range_for_many_rates():
    for original in (8.0, 12.0, 25.0, 29.97, 30.0, 60.0):
        for target in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0):
            got = frame_indices(240, original, FrameSpec(fps=target))
            assert got == sorted(set(got)) and got[0] == 0 and got[-1] < 240
            expected = sum(1 for i in range(10_000) if i * original / target < 240 - 1e-9)
            assert len(got) == expected, (original, target)


def test_fps_rule_needs_a_known_original_rate():
    with pytest.raises(ValueError):
        frame_indices(10, 0.0, FrameSpec(fps=4))


# ------------------------------------------------------------------ decoding


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_video(root / "gop10.mp4", 100, fps=30, gop=10)
    write_video(root / "gop10.mov", 100, fps=30, gop=10)
    write_video(root / "default.mp4", 120, fps=30)  # libx264 defaults: one keyframe, B-frames
    write_video(root / "nob.mp4", 60, fps=25, gop=5, bframes=False)
    write_image_folder(root / "frames", 40)
    return root


def _open(clips, name, trim=(None, None), fps=30.0, **kw):
    return open_video(VideoRef(name, fps, trim), clips, use_cache=False, **kw)


@pytest.mark.parametrize("name", ["gop10.mp4", "gop10.mov"])
def test_sparse_reads_seek_and_return_the_exact_frames(clips, name):
    video = _open(clips, name, trim=(5, -7))
    assert video.num_frames == 88 and video.n_frames_total == 100
    frames = video.sample(FrameSpec(fps=2))
    assert frames.indices == tuple(range(0, 88, 15))
    assert decode_indices(frames.arrays) == [i + 5 for i in frames.indices]
    assert frames.timestamps == tuple(i / 30.0 for i in frames.indices)
    # Seeks skipped most of the video: far fewer frames decoded than a full pass.
    assert video.stats.seeks >= 3 and video.stats.frames_decoded < 60


@pytest.mark.parametrize("name", ["gop10.mp4", "gop10.mov"])
def test_dense_reads_decode_sequentially(clips, name):
    video = _open(clips, name, trim=(3, 97))
    frames = video.read(range(video.num_frames))
    assert decode_indices(frames.arrays) == list(range(3, 97))
    assert video.stats.seeks <= 1
    assert frames.arrays.dtype == np.uint8 and frames.arrays.shape == (94, 120, 160, 3)


def test_any_order_with_repeats_and_negative_trims(clips):
    video = _open(clips, "gop10.mp4", trim=(-60, -10))
    assert video.num_frames == 50
    frames = video.read([49, 0, 13, 13, 31, 2])
    assert decode_indices(frames.arrays) == [89, 40, 53, 53, 71, 42]
    assert frames.indices == (49, 0, 13, 13, 31, 2)


@pytest.mark.parametrize("thread_type", ["SLICE", "FRAME", "AUTO"])
def test_long_gop_with_b_frames_under_every_threading_mode(clips, monkeypatch, thread_type):
    # Skipping non-reference frames must never drop a requested one, whatever the threading.
    monkeypatch.setattr(dmod, "THREAD_TYPE", thread_type)
    video = _open(clips, "default.mp4", trim=(2, 118))
    frames = video.sample(FrameSpec(fps=4))
    assert decode_indices(frames.arrays) == [i + 2 for i in frames.indices]
    assert video.stats.frames_decoded < 116  # non-reference frames were skipped


def test_a_seek_that_lands_past_its_target_is_retried_from_the_start(clips, monkeypatch):
    # Simulate a container whose index sends the seek one keyframe too far.
    real = dmod.plan_runs
    monkeypatch.setattr(
        dmod,
        "plan_runs",
        lambda targets, keys: [(min(key + 10, 90), run) for key, run in real(targets, keys)],
    )
    video = _open(clips, "gop10.mp4")
    frames = video.read([33, 35, 72])
    assert decode_indices(frames.arrays) == [33, 35, 72]
    assert video.stats.seeks == 4  # two runs, each seeked twice


def test_video_without_b_frames_and_another_rate(clips):
    video = _open(clips, "nob.mp4", fps=25.0)
    frames = video.sample(FrameSpec(num_frames=7))
    assert frames.indices == (0, 10, 20, 30, 39, 49, 59)
    assert decode_indices(frames.arrays) == list(frames.indices)


def test_image_folder_with_trim(clips):
    video = _open(clips, "frames", trim=(4, 36), fps=8.0)
    assert video.num_frames == 32 and video.layout.fps is None
    frames = video.sample(FrameSpec(fps=3))
    assert frames.indices == (0, 2, 5, 8, 10, 13, 16, 18, 21, 24, 26, 29)
    assert decode_indices(frames.arrays) == [i + 4 for i in frames.indices]
    assert frames.timestamps[3] == pytest.approx(1.0)


def test_image_folder_is_ordered_by_name(tmp_path):
    # Written in index order under names whose sorted order differs from creation order.
    names = ["b.png", "a.png", "c.png"]
    write_image_folder(tmp_path / "f", 3, names=names)
    video = open_video(VideoRef("f", 8.0), tmp_path, use_cache=False)
    assert decode_indices(video.read([0, 1, 2]).arrays) == [1, 0, 2]


@pytest.mark.parametrize("name", ["gop10.mp4", "frames"])
def test_max_side_keeps_the_aspect_ratio(clips, name):
    video = _open(clips, name)
    small = video.read([0, 9, 30], max_side=64)
    assert small.arrays.shape == (3, 48, 64, 3)
    assert decode_indices(small.arrays) == [0, 9, 30]
    same = video.read([1], max_side=1000)  # never upscaled
    assert same.arrays.shape == (1, 120, 160, 3)
    assert video.sample(FrameSpec(num_frames=2, max_side=40)).arrays.shape == (2, 30, 40, 3)


def test_empty_read_has_the_right_shape(clips):
    frames = _open(clips, "gop10.mp4").read([], max_side=80)
    assert frames.arrays.shape == (0, 60, 80, 3) and frames.indices == ()


# ------------------------------------------------------------------ cache


JPEG = ("jpeg", 90)


def frame_entries(cache: Cache) -> int:
    return frame_cache(cache.root).info()["entries"]


def test_cache_hit_returns_identical_images_without_decoding(clips, tmp_path):
    cache = Cache(tmp_path / "c")
    ref = VideoRef("gop10.mp4", 30.0, (5, None))
    spec = FrameSpec(fps=4, max_side=80, image_format="jpeg")
    first = open_video(ref, clips, cache=cache)
    a = first.sample(spec)
    assert first.stats.cache_misses == 1 and first.stats.frames_decoded > 0
    assert frame_entries(cache) == 1

    second = open_video(ref, clips, cache=cache)
    b = second.sample(spec)
    assert second.stats.cache_hits == 1 and second.stats.frames_decoded == 0
    assert b.encoded(*JPEG) == a.encoded(*JPEG) and a.indices == b.indices
    # The images are the encoder's output for the decoded frames, byte for byte.
    plain = open_video(ref, clips, use_cache=False).sample(spec)
    assert [encode_image(x) for x in plain.arrays] == list(b.encoded(*JPEG))
    # Arrays are decoded only when a method asks for them, and are the real frames.
    assert second.stats.frames_decoded == 0
    assert np.array_equal(b.arrays, plain.arrays) and second.stats.frames_decoded > 0

    # Another size or format is another entry; the same frames under another trim share one,
    # since keys use whole-video indices.
    second.sample(FrameSpec(fps=4, max_side=64, image_format="jpeg"))
    second.sample(FrameSpec(fps=4, max_side=80, image_format="png"))
    assert frame_entries(cache) == 3
    shifted = open_video(VideoRef("gop10.mp4", 30.0, (0, None)), clips, cache=cache)
    shifted.read([i + 5 for i in a.indices], max_side=80, image=JPEG)
    assert shifted.stats.cache_hits == 1 and shifted.stats.frames_decoded == 0


def test_decoded_arrays_and_image_folders_are_not_cached(clips, tmp_path):
    cache = Cache(tmp_path / "c")
    video = open_video(VideoRef("gop10.mp4", 30.0), clips, cache=cache)
    video.read([1, 2, 3])
    video.read([1, 2, 3])
    assert video.stats.cache_hits == video.stats.cache_misses == 0 and frame_entries(cache) == 0
    assert cache.count("frames") == 0
    folder = open_video(VideoRef("frames", 8.0), clips, cache=cache)
    folder.read([1, 2], image=JPEG)
    assert frame_entries(cache) == 0 and folder.stats.cache_misses == 0


def test_cache_key_follows_the_content_not_the_name(tmp_path):
    cache = Cache(tmp_path / "c")
    write_video(tmp_path / "v.mp4", 20, gop=5)
    open_video(VideoRef("v.mp4", 30.0), tmp_path, cache=cache).read([3, 4], image=JPEG)
    os.remove(tmp_path / "v.mp4")
    write_video(tmp_path / "v.mp4", 30, gop=5, width=128, height=96)  # new content, same name
    video = open_video(VideoRef("v.mp4", 30.0), tmp_path, cache=cache)
    frames = video.read([3, 4], image=JPEG)
    assert video.stats.cache_misses == 1 and frames.arrays.shape[1:3] == (96, 128)
    shutil.copy(tmp_path / "v.mp4", tmp_path / "copy.mp4")  # same content, other name: a hit
    copy = open_video(VideoRef("copy.mp4", 30.0), tmp_path, cache=cache)
    assert copy.read([3, 4], image=JPEG).encoded(*JPEG) == frames.encoded(*JPEG)
    assert copy.stats.cache_hits == 1


def test_repeated_and_unsorted_indices_keep_their_images_in_order(clips, tmp_path):
    cache = Cache(tmp_path / "c")
    ref = VideoRef("gop10.mp4", 30.0)
    open_video(ref, clips, cache=cache).read([9, 2, 9, 5], image=JPEG)
    hit = open_video(ref, clips, cache=cache)
    frames = hit.read([9, 2, 9, 5], image=JPEG)
    assert hit.stats.cache_hits == 1
    assert decode_indices(frames.arrays) == [9, 2, 9, 5]
    assert list(frames.encoded(*JPEG)) == [encode_image(a) for a in frames.arrays]


def test_default_cache_is_the_process_wide_one(clips, tmp_cache):
    video = open_video(VideoRef("gop10.mp4", 30.0), clips)
    assert video.cache is tmp_cache
    video.read([1, 2], image=JPEG)
    assert frame_entries(tmp_cache) == 1
    assert open_video(VideoRef("frames", 8.0), clips, use_cache=False).cache is None


def test_frame_cache_evicts_least_recently_used_past_its_cap(tmp_path):
    store = FrameCache(tmp_path / "frames", max_bytes=10_000)
    for age, key in enumerate(("aa1", "bb2", "cc3"), start=1):
        store.put(key, [bytes(2988)])  # 3000 bytes with the header
        os.utime(tmp_path / "frames" / key[:2] / key, (age, age))  # mtime is the LRU clock
    assert store.get("aa1") == [bytes(2988)]  # touched: now the most recently used
    store.put("dd4", [bytes(2988)])  # 12 KB > 10 KB: evict down to 9 KB
    assert store.get("bb2") is None and store.get("aa1") is not None
    assert store.get("dd4") is not None
    info = store.info()
    assert info["bytes"] <= 9_000 and info["max_bytes"] == 10_000
    os.utime(tmp_path / "frames" / "cc" / "cc3", (1, 1))  # unused since 1970
    assert store.clear(older_than_s=3600) == (1, 3000)  # only the stale entry
    assert store.get("cc3") is None and store.get("aa1") is not None
    assert store.clear() == (2, 6000) and store.info()["entries"] == 0


def test_a_run_bigger_than_the_frame_cache_keeps_its_first_entries_for_the_next(tmp_path):
    # Plain LRU would evict the run's first entries to admit its last, and a rerun reading in the
    # same order would then miss every one.
    store = FrameCache(tmp_path / "frames", max_bytes=10_000)
    keys = [f"{i:02d}k" for i in range(5)]
    written = [store.put(key, [bytes(2988)]) for key in keys]  # 3000 bytes each
    assert written == [True, True, True, False, False] and store.skipped == 2
    store.begin_run()  # the rerun: every entry it finds it uses, so none is evicted for another
    assert [store.get(key) is not None for key in keys] == [True, True, True, False, False]
    assert store.put(keys[3], [bytes(2988)]) is False
    # Entries only earlier runs used do make room, least recently used first.
    os.utime(tmp_path / "frames" / "00" / "00k", (1, 1))
    os.utime(tmp_path / "frames" / "01" / "01k", (2, 2))
    store.begin_run()
    assert store.get("02k") is not None
    assert store.put("03k", [bytes(2988)]) is True
    assert store.get("00k") is None and store.get("01k") is not None  # 6 KB + 3 KB <= 9 KB


def test_a_failed_frame_cache_write_leaves_no_file_and_no_reservation(tmp_path):
    store = FrameCache(tmp_path / "frames", max_bytes=10_000)
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "ab").write_bytes(b"")  # a file where the entry's folder must go
    with pytest.raises(OSError):
        store.put("ab12", [bytes(2988)])
    assert store._pending == 0 and store._total == 0
    assert store.put("cd34", [bytes(2988)]) is True and store.info()["bytes"] == 3000


def test_frame_cache_damaged_entry_is_a_miss(tmp_path):
    store = FrameCache(tmp_path / "frames")
    store.put("ab12", [b"x" * 10, b"y" * 5])
    assert store.get("ab12") == [b"x" * 10, b"y" * 5]
    path = tmp_path / "frames" / "ab" / "ab12"
    path.write_bytes(path.read_bytes()[:-1])
    assert store.get("ab12") is None


# ------------------------------------------------------------------ errors


def test_missing_video_names_sample_path_root_and_remedy(tmp_path):
    with pytest.raises(VideoError) as err:
        open_video(VideoRef("fitness/nope.mp4", 8.0), tmp_path, sample_key="fitness_0_x")
    msg = str(err.value)
    assert str(tmp_path / "fitness/nope.mp4") in msg and "fitness_0_x" in msg
    assert f"video root: {tmp_path}" in msg
    assert "vidbench data download" in msg and "--video-root" in msg


def test_corrupt_and_empty_files(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "empty.mov").write_bytes(b"")
    for name in ("junk.mp4", "empty.mov"):
        with pytest.raises(VideoError, match="corrupt or undecodable") as err:
            open_video(VideoRef(name, 30.0), tmp_path, sample_key="s1", use_cache=False)
        assert str(tmp_path / name) in str(err.value) and "s1" in str(err.value)


def test_zero_frame_image_folder(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "notes.txt").write_text("no images here")
    with pytest.raises(VideoError, match="zero frames") as err:
        open_video(VideoRef("frames", 8.0), tmp_path, use_cache=False)
    assert str(tmp_path / "frames") in str(err.value)


def test_corrupt_frame_image(tmp_path):
    write_image_folder(tmp_path / "f", 4)
    (tmp_path / "f" / "000002.png").write_bytes(b"not a png")
    video = open_video(VideoRef("f", 8.0), tmp_path, use_cache=False)
    video.read([0, 1])
    with pytest.raises(VideoError, match="000002.png"):
        video.read([2])


@pytest.mark.parametrize("trim", [(100, None), (120, 130), (50, 40), (-5, -10), (0, 0)])
def test_trim_outside_the_video(clips, trim):
    with pytest.raises(VideoError) as err:
        open_video(VideoRef("gop10.mp4", 30.0, trim), clips, sample_key="k", use_cache=False)
    msg = str(err.value)
    assert f"trim {list(trim)}" in msg and "100 frames" in msg
    assert str(clips / "gop10.mp4") in msg


@pytest.mark.parametrize("bad", [[88], [-1], [0, 200]])
def test_reading_out_of_range(clips, bad):
    video = _open(clips, "gop10.mp4", trim=(5, -7))
    with pytest.raises(VideoError, match="out of range") as err:
        video.read(bad)
    assert str(clips / "gop10.mp4") in str(err.value)


# ------------------------------------------------------------------ probe, root


def test_probe_reports_counts_fps_and_problems(clips, tmp_path):
    ok = probe(VideoRef("gop10.mov", 30.0, (10, -10)), clips)
    assert (ok.exists, ok.decodes, ok.n_frames_total, ok.n_frames_trimmed) == (True, True, 100, 80)
    assert ok.fps == pytest.approx(30.0) and (ok.width, ok.height) == (160, 120)
    assert ok.error is None
    folder = probe(VideoRef("frames", 8.0, (None, 10)), clips)
    assert folder.fps is None and folder.n_frames_trimmed == 10 and folder.decodes
    empty_trim = probe(VideoRef("frames", 8.0, (50, None)), clips)
    assert empty_trim.n_frames_trimmed == 0 and empty_trim.error is None

    missing = probe(VideoRef("gone.mp4", 30.0), tmp_path)
    assert not missing.exists and not missing.decodes
    assert str(tmp_path / "gone.mp4") in (missing.error or "")
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    bad = probe(VideoRef("bad.mp4", 30.0), tmp_path)
    assert bad.exists and not bad.decodes and "corrupt" in (bad.error or "")


def test_video_root_prefers_the_explicit_value(monkeypatch, tmp_path):
    monkeypatch.delenv("VIDBENCH_VIDEO_ROOT", raising=False)
    assert video_root(None) is None
    monkeypatch.setenv("VIDBENCH_VIDEO_ROOT", str(tmp_path / "env"))
    assert video_root(None) == tmp_path / "env"
    assert video_root(tmp_path / "cli") == tmp_path / "cli"
    assert video_root(str(tmp_path / "cli")) == tmp_path / "cli"


def test_preload_decodes_once_and_serves_later_reads(clips):
    video = _open(clips, "gop10.mp4")
    plain = _open(clips, "gop10.mp4")
    video.preload([40, 3, 77, 41])
    decoded = video.stats.frames_decoded
    for ask in ([3], [77, 40], [41, 41, 3]):
        got = video.read(ask)
        assert np.array_equal(got.arrays, plain.read(ask).arrays)
        assert decode_indices(got.arrays) == ask
    assert video.stats.frames_decoded == decoded  # nothing decoded after the preload
    video.read([5])  # not preloaded: decoded as usual
    assert video.stats.frames_decoded > decoded


@pytest.mark.parametrize("name", ["gop10.mp4", "default.mp4", "frames"])
def test_frames_kept_from_a_pass_convert_to_exactly_what_reads_return(clips, name):
    """`read_keeping` hands back decoded frames from the pass that reads others; held, they
    serve reads at any size, byte for byte what a read of its own returns, decoding nothing."""
    video = _open(clips, name, trim=(2, None))
    ask, keep = [30, 3, 17, 3], [17, 18, 31, 4, 30]
    frames, kept = video.read_keeping(ask, 64, keep)
    plain = _open(clips, name, trim=(2, None))
    assert np.array_equal(frames.arrays, plain.read(ask, 64).arrays)
    assert sorted(kept) == sorted(keep)
    decoded = video.stats.frames_decoded
    # One pass: fewer frames decoded than the two reads it stands for.
    separate = _open(clips, name, trim=(2, None))
    separate.read(ask, 64), separate.read(keep)
    assert decoded < separate.stats.frames_decoded
    video.without_cache().hold(kept)  # the held store is shared with cache-less copies
    assert video.held_bytes() > 0
    for max_side in (None, 96, 64):
        want = plain.read([31, 4, 17], max_side).arrays
        got = video.read([31, 4, 17], max_side).arrays
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert decode_indices(video.read([18, 30]).arrays) == [20, 32]
    assert video.stats.frames_decoded == decoded  # every read above came from held frames
    video.preload([4, 18], 96)  # converted from held frames too
    assert video.stats.frames_decoded == decoded and sorted(video.preloaded[96]) == [4, 18]
    video.drop_held()
    assert video.held == {} and video.held_bytes() == 0
    video.read([31])  # no longer held: decoded
    assert video.stats.frames_decoded > decoded


def test_preload_decodes_only_frames_not_already_preloaded(clips):
    video = _open(clips, "gop10.mp4")
    video.preload([10, 50], 96)
    decoded = video.stats.frames_decoded
    video.preload([50, 10], 96)
    assert video.stats.frames_decoded == decoded  # all there already
    video.preload([10, 70], 96)  # only 70 is missing
    assert sorted(video.preloaded[96]) == [10, 50, 70] and video.stats.frames_decoded > decoded
    assert video.frame_size(96) == (96, 72) and video.frame_size(None) == (160, 120)


def test_decode_runs_split_only_where_a_pass_would_seek(clips):
    video = _open(clips, "gop10.mp4", trim=(5, None))  # keyframes every 10 frames of the file
    assert video.decode_runs([0, 2, 35, 36, 85]) == [[0, 2], [35, 36], [85]]
    # 7 is frame 12, after the keyframe at 10: a pass starting there decodes no frame twice.
    assert video.decode_runs([0, 3, 7]) == [[0, 3], [7]]
    # Every frame: one group per keyframe interval, not one group for the whole clip (one task
    # for one worker: the GPU localizer's decoding would not scale).
    assert video.decode_runs(list(range(40))) == [
        list(range(0, 5)),
        list(range(5, 15)),
        list(range(15, 25)),
        list(range(25, 35)),
        list(range(35, 40)),
    ]
    assert _open(clips, "frames").decode_runs([1, 2]) == [[1], [2]]
