"""The VidDiff method end to end: proposer and differencer answered by a real OpenAI-compatible
server on loopback through the real LLMClient, localizer on real h264 videos whose frames encode
their own index (so the test can read back exactly which frames the VLM was shown)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import time

import numpy as np
import pydantic
import pytest
from PIL import Image

from tests.videos import decode_index, write_video
from vidbench.cache import Cache
from vidbench.contracts import DOMAIN_FPS, ClosedTask, FrameSpec, OpenTask, SampleInfo, VideoRef
from vidbench.errors import ParseError
from vidbench.llm import LLMClient
from vidbench.video import open_video
from vidbench_methods.viddiff.localizer import frames_around
from vidbench_methods.viddiff.method import VidDiffConfig, VidDiffMethod

FPS = 8
N_A, N_B = 40, 56
STAGES = ["setup", "descent", "bottom", "ascent"]
STATEMENTS = {
    "0": "The squat is deeper",
    "3": "The descent is faster",
    "7": "The back is more upright",
}


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("viddiff-videos")
    write_video(root / "a.mp4", N_A + 4, fps=FPS, gop=8)
    write_video(root / "b.mp4", N_B, fps=FPS, gop=8)
    return root


def _open_videos(video_root):
    # A is trimmed by 2 frames at each end: every index the method returns is a trimmed index.
    return (
        open_video(VideoRef("a.mp4", FPS, (2, N_A + 2)), video_root, sample_key="fitness_t0"),
        open_video(VideoRef("b.mp4", FPS, (None, None)), video_root, sample_key="fitness_t0"),
    )


@pytest.fixture
def videos(video_root, tmp_cache):
    return _open_videos(video_root)


def _info(videos) -> SampleInfo:
    return SampleInfo(
        key="fitness_t0",
        action="fitness_0",
        action_name="squat",
        action_description="A person does a bodyweight squat",
        domain="fitness",
        split="easy",
        source_dataset="HuMMan",
        sample_hash=12345,
        videos=(videos[0].ref, videos[1].ref),
        max_differences=3,
    )


def _prompt(body) -> str:
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


class Scripted:
    """Answers each VidDiff call from the request body; keeps what the differencer was shown."""

    def __init__(self, n_candidates: int = 2, links=None, answer=None):
        self.n_candidates = n_candidates
        self.links = links  # ids -> stage names, or None for a well-formed default
        self.answer = answer or (lambda statement: "b" if "faster" in statement else "a")
        self.shown: dict[str, dict[str, list[int]]] = {}  # statement -> video -> frame indices
        self.labels: dict[str, list[str]] = {}
        self.images: dict[str, list[str]] = {}  # statement -> the image data URLs, as sent
        self.proposer_prompts: list[str] = []

    def __call__(self, body) -> str:
        name = body["response_format"]["json_schema"]["name"]
        if name == "viddiff_differences":
            self.proposer_prompts.append(_prompt(body))
            return json.dumps(
                {
                    "differences": [
                        {
                            "name": f"cand {i}",
                            "description": f"Candidate difference {i} is faster"
                            if i % 2
                            else f"Candidate difference {i}",
                            "num_frames": "gt_1" if i % 2 else "1",
                        }
                        for i in range(self.n_candidates)
                    ]
                }
            )
        if name == "viddiff_plan":
            prompt = _prompt(body)
            self.proposer_prompts.append(prompt)
            ids = re.findall(r'- id "([^"]+)"', prompt)
            links = self.links or {k: [STAGES[int(k) % len(STAGES)]] for k in ids}
            return json.dumps(
                {
                    "stages": [
                        {
                            "name": s,
                            "description": f"the {s}",
                            "captions": [f"A photo of a person in the {s} {j}" for j in range(5)],
                        }
                        for s in STAGES
                    ],
                    "links": [
                        {"difference": k, "stages": v, "num_frames": "1"} for k, v in links.items()
                    ],
                }
            )
        assert name == "viddiff_answer"
        parts = body["messages"][0]["content"]
        statement = re.search(r'Statement: "([^"]*)"', parts[0]["text"]).group(1)
        shown: dict[str, list[int]] = {"A": [], "B": []}
        labels, video = [], None
        for part in parts[1:]:
            if part["type"] == "text" and part["text"].startswith("Video "):
                labels.append(part["text"])
                video = part["text"][6]
            elif part["type"] == "image_url":
                self.images.setdefault(statement, []).append(part["image_url"]["url"])
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                shown[video].append(decode_index(np.asarray(Image.open(io.BytesIO(raw)))))
        self.shown[statement] = shown
        self.labels[statement] = labels
        return json.dumps({"reasoning": "looked at the frames", "answer": self.answer(statement)})


def _method(server, localizer="viterbi", **kw) -> VidDiffMethod:
    kw.setdefault("preset", "vidbench")  # these tests script the merged proposer call
    config = VidDiffConfig(
        proposer_model="openai/proposer",
        differencer_model="openai/vlm",
        api_base=server.base_url,
        localizer=localizer,
        clip_model="viddiff-tiny",
        clip_pretrained=None,
        clip_device="cpu",
        clip_batch_size=8,
        clip_workers=2,
        **kw,
    )
    return VidDiffMethod(config)


@pytest.fixture
def session(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    return LLMClient(Cache(tmp_path / "llm"), backoff_base_s=0.01, timeout_s=10).session()


def _closed_task(videos, oracle=None) -> ClosedTask:
    frames = tuple(v.sample(FrameSpec(num_frames=1)) for v in videos)
    return ClosedTask(_info(videos), dict(STATEMENTS), frames, videos, oracle)


def _needs_clip(mode: str) -> None:
    if mode in ("viterbi", "independent"):
        pytest.importorskip("torch")
        pytest.importorskip("open_clip")


def _check_shown_frames(script: Scripted, out, statements) -> None:
    """The VLM saw exactly the localised frames, A first, each labelled with its time."""
    for key, statement in statements.items():
        frames_a, frames_b = out.localization[key]
        # Video A's file starts 2 frames before its trim: the drawn index is trimmed index + 2.
        assert script.shown[statement] == {"A": [i + 2 for i in frames_a], "B": frames_b}
        expected = [f"Video A, frame at {i / FPS:.2f} s" for i in frames_a] + [
            f"Video B, frame at {i / FPS:.2f} s" for i in frames_b
        ]
        assert script.labels[statement] == expected


@pytest.mark.parametrize("mode", ["viterbi", "independent", "uniform", "random", "oracle"])
def test_closed_mode_every_localizer(mode, videos, session, openai_server):
    _needs_clip(mode)
    script = Scripted()
    openai_server.respond_with(script)
    oracle = ({"0": [3], "3": [10, 12, 14], "7": None}, {"0": [50], "3": None, "7": [1]})
    method = _method(openai_server, mode)
    assert method.uses_ground_truth is (mode == "oracle")
    out = method.closed(_closed_task(videos, oracle if mode == "oracle" else None), session)

    assert set(out.predictions) == set(STATEMENTS)
    assert {k: p.prediction for k, p in out.predictions.items()} == {"0": "a", "3": "b", "7": "a"}
    assert {k: p.description for k, p in out.predictions.items()} == STATEMENTS
    _check_shown_frames(script, out, STATEMENTS)
    # The proposer saw the statements and never a label or ground-truth frame.
    plan_prompt = script.proposer_prompts[0]
    assert all(s in plan_prompt for s in STATEMENTS.values())
    assert "[10, 12, 14]" not in plan_prompt and '"a"' not in plan_prompt
    assert out.details["transcript"]["links"] == {"0": ["setup"], "3": ["ascent"], "7": ["ascent"]}
    assert out.details["localizer"]["mode"] == mode
    assert out.details["repairs"] == []
    if mode == "oracle":
        assert out.localization["0"] == ([3], [50])
        assert out.localization["3"][0] == [10, 12, 14]
        assert out.details["localizer"]["oracle_fallback"] == ["3:b", "7:a"]
    if mode == "uniform":  # stage 0 of 4 in A: frames 0..9, midpoint 4
        assert out.localization["0"] == ([4], [6])
    if mode == "viterbi":
        spans = out.details["localizer"]["videos"][0]["spans"]
        assert spans[0][0] == 0 and spans[-1][1] == 38  # last frame scored at 4 fps
        lo, hi = spans[0]  # scored every 2nd frame: the midpoint position, as a frame index
        assert out.localization["0"][0] == [2 * ((lo // 2 + hi // 2) // 2)]
    assert session.usage.calls == 1 + len(STATEMENTS)


@pytest.mark.parametrize("mode", ["viterbi", "independent", "uniform", "random"])
def test_open_mode_caps_candidates_and_uses_their_num_frames(mode, videos, session, openai_server):
    _needs_clip(mode)
    script = Scripted(n_candidates=5)  # one more than allowed: the cap must hold
    openai_server.respond_with(script)
    frames = tuple(v.sample(FrameSpec(num_frames=1)) for v in videos)
    task = OpenTask(_info(videos), 4, frames, videos)
    out = _method(openai_server, mode).open(task, session)

    assert list(out.predictions) == ["0", "1", "2", "3"]
    assert set(out.localization) == set(out.predictions)
    descriptions = {k: p.description for k, p in out.predictions.items()}
    assert descriptions["1"] == "Candidate difference 1 is faster"
    assert {k: p.prediction for k, p in out.predictions.items()} == {
        "0": "a",
        "1": "b",
        "2": "a",
        "3": "b",
    }
    _check_shown_frames(script, out, descriptions)
    # Odd candidates need motion: three distinct frames round(0.35 * 8) = 3 apart.
    for key in ("1", "3"):
        for frames_v in out.localization[key]:
            assert np.diff(frames_v).tolist() == [3, 3]
    assert len(out.localization["0"][0]) == 1
    # Too many candidates is cut to the cap at once (no re-ask) and recorded.
    assert len([p for p in script.proposer_prompts if "List up to 4" in p]) == 1
    assert out.details["repairs"] == ["kept the first 4 of 5 differences"]
    assert [c["key"] for c in out.details["candidates"]] == ["0", "1", "2", "3"]


def test_proposer_repairs_the_last_reply_after_the_re_ask(videos, session, openai_server):
    """Candidates with a bad num_frames fail the strict check three times (reply, retry, re-ask);
    the last reply is then repaired: the bad candidate dropped, the rest kept and renumbered."""
    good = {"name": "depth", "description": "The squat is deeper", "num_frames": "1"}
    bad = {"name": "speed", "description": "The squat is faster", "num_frames": "3"}
    openai_server.respond_with(lambda body: json.dumps({"differences": [bad, good]}))
    from vidbench_methods.viddiff.proposer import propose_differences

    repairs: list[str] = []
    out = propose_differences(
        session, "openai/proposer", "A squat", 4, repairs, api_base=openai_server.base_url
    )
    assert [(d.key, d.description) for d in out] == [("0", "The squat is deeper")]
    assert len(openai_server.requests) == 3
    assert repairs and "num_frames" in repairs[0]
    openai_server.respond_with(lambda body: json.dumps({"differences": [bad]}))
    with pytest.raises(ParseError, match="repair impossible"):
        propose_differences(
            session, "openai/proposer", "A lunge", 4, [], api_base=openai_server.base_url
        )


def test_bad_links_are_repaired_and_recorded(videos, session, openai_server):
    script = Scripted(links={"0": ["the bottom position"], "3": ["ascnt"]})  # "7" left unlinked
    openai_server.respond_with(script)
    out = _method(openai_server, "uniform").closed(_closed_task(videos), session)
    links = out.details["transcript"]["links"]
    assert links == {"0": ["bottom"], "3": ["ascent"], "7": ["bottom"]}  # middle of 4 stages
    repairs = out.details["repairs"]
    assert any("snapped to 'bottom'" in r for r in repairs)
    assert any("difference 7 is linked to no stage" in r for r in repairs)
    # Uniform split of A (40 frames, 4 stages): 'bottom' is frames 20..29.
    assert out.localization["7"][0] == [24]


def test_unparseable_differencer_answer_is_a_parse_error_not_a(videos, session, openai_server):
    script = Scripted(answer=lambda statement: "c")
    openai_server.respond_with(script)
    with pytest.raises(ParseError):
        _method(openai_server, "uniform").closed(_closed_task(videos), session)


def test_oracle_is_a_closed_only_ground_truth_method(openai_server):
    method = _method(openai_server, "oracle")
    assert method.uses_ground_truth and method.modes == ("closed",)
    assert VidDiffMethod.uses_ground_truth is False  # the class itself stays honest
    assert _method(openai_server, "viterbi").describe()["uses_ground_truth"] is False
    with pytest.raises(pydantic.ValidationError):
        VidDiffConfig(localiser="viterbi")  # a typo fails loudly


def test_gt1_rule_in_the_pipeline_matches_the_helper():
    assert frames_around(20, "gt_1", FPS, N_A) == [17, 20, 23]


@pytest.mark.parametrize("mode", ["viterbi", "oracle"])
def test_demo_benchmark_samples(mode, session, openai_server, tmp_cache):
    """Real dataset rows (the generated demo: image-folder and mp4 videos, trims, null
    retrieval frames) through the loader, the video reader and the method."""
    _needs_clip(mode)
    from vidbench.dataset import load_benchmark

    bench = load_benchmark("demo")
    samples = [s for s in bench.samples if s.key in ("fitness_0_pair1", "ballsports_0_pair2")]
    assert len(samples) == 2
    script = Scripted()
    openai_server.respond_with(script)
    method = _method(openai_server, mode)
    for sample in samples:
        videos = tuple(
            open_video(ref, bench.source.video_root, sample_key=sample.key)
            for ref in sample.info.videos
        )
        frames = tuple(v.sample(method.frame_spec(sample.info)) for v in videos)
        statements = sample.closed_statements()
        task = ClosedTask(
            sample.info,
            statements,
            frames,
            videos,
            sample.retrieval_frames if method.uses_ground_truth else None,
        )
        out = method.closed(task, session)
        assert set(out.predictions) == set(statements) == set(out.localization)
        for key, statement in statements.items():
            for v, video in enumerate(videos):
                chosen = out.localization[key][v]
                assert chosen and all(0 <= i < video.num_frames for i in chosen)
                fps = video.ref.fps_original
                assert script.labels[statement][: len(out.localization[key][0])] == [
                    f"Video A, frame at {i / fps:.2f} s" for i in out.localization[key][0]
                ]
                truth = sample.retrieval_frames[v].get(key)
                if mode == "oracle" and truth:
                    assert chosen == sorted({min(i, video.num_frames - 1) for i in truth})
            shown = script.shown[statement]
            assert [len(shown["A"]), len(shown["B"])] == [len(f) for f in out.localization[key]]
        if mode == "viterbi":
            fps = DOMAIN_FPS[sample.domain]  # fitness 8 -> 4 fps, ballsports 30 -> 5 fps
            n_scored = out.details["localizer"]["videos"][0]["n_scored_frames"]
            assert n_scored == len(
                range(0, videos[0].num_frames, round(videos[0].ref.fps_original / fps))
            )


class PaperScript:
    """Answers the paper preset's calls and keeps every request body in order."""

    def __init__(self):
        self.bodies: list[dict] = []

    def __call__(self, body) -> str:
        self.bodies.append(body)
        name = body["response_format"]["json_schema"]["name"]
        stages = [
            {
                "name": s,
                "description": f"the {s}",
                "captions": [f"A photo of a person in the {s} {j}" for j in range(5)],
            }
            for s in STAGES
        ]
        if name in ("viddiff_stages", "viddiff_refined_stages"):
            return json.dumps({"stages": stages})
        if name == "viddiff_links":
            ids = re.findall(r'- id "([^"]+)"', body["messages"][0]["content"])
            return json.dumps({"links": [{"difference": k, "stages": [STAGES[1]]} for k in ids]})
        assert name == "viddiff_answer"
        return json.dumps({"reasoning": "compared", "answer": "b"})


def test_paper_preset_call_sequence_and_request_settings(videos, session, openai_server):
    _needs_clip("viterbi")
    script = PaperScript()
    openai_server.respond_with(script)
    method = _method(openai_server, "viterbi", preset="paper")
    frames = tuple(v.sample(FrameSpec(num_frames=1)) for v in videos)
    statement_frames = {"0": "1", "3": "gt_1", "7": "1"}
    task = ClosedTask(_info(videos), dict(STATEMENTS), frames, videos, None, statement_frames)
    out = method.closed(task, session)

    names = [b["response_format"]["json_schema"]["name"] for b in script.bodies]
    # The reference's structure: stages, refine, link, then one differencer call per statement.
    assert names == ["viddiff_stages", "viddiff_refined_stages", "viddiff_links"] + [
        "viddiff_answer"
    ] * len(STATEMENTS)
    models = [b["model"] for b in script.bodies]
    assert models[:3] == ["proposer"] * 3 and set(models[3:]) == {"vlm"}
    assert {b["temperature"] for b in script.bodies} == {1.0}
    assert {b["max_tokens"] for b in script.bodies} == {2048}
    # seed + sample_hash for the sample's own stages call, the seed alone for the others.
    assert [b["seed"] for b in script.bodies] == [12345] + [0] * (2 + len(STATEMENTS))
    for body in script.bodies[3:]:
        system, user = body["messages"]
        assert system["role"] == "system"
        images = [p for p in user["content"] if p["type"] == "image_url"]
        assert all(p["image_url"]["detail"] == "high" for p in images)
        assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in images)
        assert not any(
            p["type"] == "text" and p["text"].startswith("Video ") for p in user["content"]
        )
    # num_frames came from the annotation: "3" is a motion difference (3 frames per video).
    assert [len(out.localization[k][0]) for k in ("0", "3", "7")] == [1, 3, 1]
    assert out.details["transcript"]["links"] == {k: ["descent"] for k in STATEMENTS}
    assert set(out.details["localizer"]["timestamps"]) == set(STATEMENTS)
    assert {p.prediction for p in out.predictions.values()} == {"b"}


def test_three_way_variant_records_c_and_scores_it_as_no_answer(videos, session, openai_server):
    def answer_c(body):
        name = body["response_format"]["json_schema"]["name"]
        if name == "viddiff_answer_abc":
            return json.dumps({"reasoning": "same", "answer": "c"})
        return Scripted()(body)

    openai_server.respond_with(answer_c)
    method = _method(openai_server, "uniform", answers="abc")
    out = method.closed(_closed_task(videos), session)
    assert {p.prediction for p in out.predictions.values()} == {None}
    assert {a["answer"] for a in out.details["answers"].values()} == {"c"}


def test_differencer_calls_run_concurrently_on_frames_decoded_once(videos, session, openai_server):
    _needs_clip("viterbi")
    from vidbench_methods.viddiff import onepass

    script = Scripted()
    openai_server.respond_with(script)
    openai_server.latency_s = 0.3  # long enough that concurrent calls overlap on the server
    task = _closed_task(videos)
    before = [video.stats.frames_decoded for video in videos]
    out = _method(openai_server, "viterbi").closed(task, session)

    _check_shown_frames(script, out, STATEMENTS)  # still exactly the localised frames
    assert openai_server.max_in_flight == len(STATEMENTS)  # all differencer calls at once
    # The CLIP pass kept every frame the differencer could be shown: after localisation nothing
    # was decoded, and the kept frames were let go (and their bytes given back).
    decode = out.details["decode"]
    assert decode["differencer_pass"] == ["shared", "shared"]
    assert [video.stats.frames_decoded for video in videos] == before
    assert not any(video.held for video in videos) and onepass.budget.held == 0
    for v, video in enumerate(videos):
        scored = out.details["localizer"]["videos"][v]["n_scored_frames"]
        assert scored <= decode["frames_needed"][v] <= video.num_frames
        assert decode["frames_decoded"][v] >= decode["frames_needed"][v]
        assert decode["kept_frames"][v] >= decode["frames_needed"][v] - scored
    timing = out.details["timing"]
    assert list(timing) == [
        "proposer_s",
        "clip_wait_s",
        "localizer_s",
        "differencer_frames_s",
        "differencer_s",
    ]
    assert all(t >= 0 for t in timing.values())


def test_shared_pass_sends_byte_identical_images_to_the_differencers_own_pass(
    video_root, openai_server, tmp_path, tmp_cache, monkeypatch
):
    """The frames kept from the CLIP pass are exactly what the differencer's own reads give:
    same requests, byte for byte, with the pass shared and with it refused by the memory cap."""
    _needs_clip("viterbi")
    from vidbench_methods.viddiff import onepass

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")

    def run(name: str):
        videos = _open_videos(video_root)
        script = Scripted()
        openai_server.respond_with(script)
        # A fresh LLM cache per run: an identical request must reach the server again.
        session = LLMClient(Cache(tmp_path / name), backoff_base_s=0.01, timeout_s=10).session()
        task = _closed_task(videos)
        before = [video.stats.frames_decoded for video in videos]
        # Both sizes resize the 160x120 frames (AREA), each its own size; PNG is lossless.
        method = _method(
            openai_server, "viterbi", differencer_max_side=96, clip_max_side=64, image_format="png"
        )
        out = method.closed(task, session)
        own = [video.stats.frames_decoded - b for video, b in zip(videos, before)]
        return script, out, own

    shared, shared_out, shared_own = run("shared")
    monkeypatch.setattr(onepass, "KEEP_MAX_BYTES", 0)
    alone, alone_out, alone_own = run("alone")
    assert shared_out.details["decode"]["differencer_pass"] == ["shared", "shared"]
    assert alone_out.details["decode"]["differencer_pass"] == ["over_cap", "over_cap"]
    assert alone_out.details["decode"]["kept_frames"] == [0, 0]
    assert shared_own == [0, 0] and all(n > 0 for n in alone_own)
    assert shared_out.localization == alone_out.localization
    assert set(shared.images) == set(STATEMENTS.values())
    assert shared.images == alone.images
    first = shared.images[STATEMENTS["0"]][0]
    image = Image.open(io.BytesIO(base64.b64decode(first.split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (96, 72)


def test_clip_embeddings_are_cached_per_video_and_a_warm_cache_decodes_once(
    video_root, session, openai_server, tmp_path, tmp_cache
):
    _needs_clip("viterbi")
    openai_server.respond_with(Scripted())
    store = Cache(tmp_path / "store")
    outs, own = [], []
    for _ in range(2):
        videos = _open_videos(video_root)
        task = dataclasses.replace(_closed_task(videos), store=store)
        before = [video.stats.frames_decoded for video in videos]
        outs.append(_method(openai_server, "viterbi").closed(task, session))
        own.append([video.stats.frames_decoded - b for video, b in zip(videos, before)])
    cold, warm = (out.details for out in outs)
    # Cold: the warm-up embedded both videos while the proposer call was out and handed the
    # embeddings to the localizer; the differencer's frames came from that same pass.
    assert [v["embeddings_cached"] for v in cold["localizer"]["videos"]] == [False, False]
    assert cold["decode"]["differencer_pass"] == ["shared", "shared"] and own[0] == [0, 0]
    # Warm: each video's embeddings were found under its own key; no CLIP pass, so the
    # differencer's own pass is the only decoding.
    assert [v["embeddings_cached"] for v in warm["localizer"]["videos"]] == [True, True]
    assert warm["decode"]["differencer_pass"] == ["embeddings_cached"] * 2
    assert warm["decode"]["frames_decoded"] == own[1] and all(n > 0 for n in own[1])
    assert outs[0].localization == outs[1].localization


def test_kept_frames_are_capped_across_samples_and_given_back(
    video_root, session, openai_server, tmp_cache, monkeypatch
):
    _needs_clip("viterbi")
    from vidbench_methods.viddiff import onepass

    localizer = _method(openai_server, "viterbi")._localizer(None)
    first = _open_videos(video_root)
    passes = onepass.warm(localizer, first, 8.0)
    assert [p.differencer_pass for p in passes] == ["shared", "shared"]
    held = onepass.budget.held
    assert held >= sum(video.held_bytes() for video in first) > 0
    # A second sample in flight would take all samples' held frames over the total cap: it
    # keeps nothing, and its differencer will decode its own frames.
    monkeypatch.setattr(onepass.budget, "limit", held)
    second = _open_videos(video_root)
    refused = onepass.warm(localizer, second, 8.0)
    assert [p.differencer_pass for p in refused] == ["over_cap", "over_cap"]
    assert [p.kept for p in refused] == [0, 0] and not any(v.held for v in second)
    onepass.release(passes, first)
    onepass.release(passes, first)  # twice is harmless
    assert onepass.budget.held == 0 and not any(v.held for v in first)
    # A sample whose proposer fails (while its warm-up may still run) gives its frames back
    # once the warm-up is done.
    monkeypatch.setattr(onepass.budget, "limit", onepass.KEEP_MAX_BYTES_TOTAL)
    openai_server.respond_with(lambda body: json.dumps({"stages": [], "links": []}))
    third = _open_videos(video_root)
    with pytest.raises(ParseError):
        _method(openai_server, "viterbi").closed(_closed_task(third), session)
    deadline = time.monotonic() + 30
    while (onepass.budget.held or any(v.held for v in third)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert onepass.budget.held == 0 and not any(v.held for v in third)


def test_a_warm_up_failing_on_the_second_video_gives_the_first_ones_frames_back(
    video_root, openai_server, tmp_cache
):
    _needs_clip("viterbi")
    from vidbench_methods.viddiff import onepass

    localizer = _method(openai_server, "viterbi")._localizer(None)
    first, second = _open_videos(video_root)

    class Unsampleable:
        """B's frame indices cannot be computed (after A's frames were reserved)."""

        def __getattr__(self, name):
            return getattr(second, name)

        def indices(self, spec):
            raise RuntimeError("no frame rate")

    assert onepass.budget.held == 0
    with pytest.raises(RuntimeError, match="no frame rate"):
        onepass.warm(localizer, (first, Unsampleable()), 8.0)
    assert onepass.budget.held == 0 and not first.held
