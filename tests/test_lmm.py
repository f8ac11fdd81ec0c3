"""vidbench_methods.lmm and methods.trivial, run against the loopback OpenAI-compatible server."""

from __future__ import annotations

import base64
import io
import json

import av
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from tests.openai_server import iter_parts
from vidbench.cache import Cache
from vidbench.contracts import ClosedTask, OpenTask, SampleInfo, VideoFrames, VideoRef
from vidbench.errors import ParseError, SampleFailure, UserError
from vidbench.llm import LLMClient
from vidbench_methods.lmm import LMMMethod, closed_schema, encode_mp4
from vidbench_methods.trivial import ConstantAMethod, RandomMethod

NAMED_CONFIGS = {k: (v.summary, dict(v.options)) for k, v in LMMMethod.named_configs.items()}
COLOURS_A = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
COLOURS_B = [(255, 255, 0), (0, 255, 255)]


def make_frames(colours, fps_original=30.0, step=6, size=(24, 32)) -> VideoFrames:
    arrays = np.zeros((len(colours), *size, 3), np.uint8)
    for i, colour in enumerate(colours):
        arrays[i] = colour
    indices = tuple(i * step for i in range(len(colours)))
    return VideoFrames(indices, tuple(i / fps_original for i in indices), fps_original, arrays)


def make_info(domain="fitness", sample_hash=1234) -> SampleInfo:
    ref = VideoRef("x.mp4", 30.0)
    return SampleInfo(
        key="fitness_0_1",
        action="fitness_0",
        action_name="squat",
        action_description="a person does a squat",
        domain=domain,
        split="easy",
        source_dataset="HuMMan",
        sample_hash=sample_hash,
        videos=(ref, ref),
        max_differences=3,
    )


STATEMENTS = {
    "3": "the knees bend more",
    "0": "the back stays straighter",
    "12": "the squat is faster",
}
KEYS = ["0", "3", "12"]


def closed_task(statements=STATEMENTS) -> ClosedTask:
    return ClosedTask(
        make_info(),
        statements,
        (make_frames(COLOURS_A), make_frames(COLOURS_B)),
        videos=(None, None),
    )  # type: ignore[arg-type]  # LMM never decodes videos


def open_task(n=3) -> OpenTask:
    return OpenTask(
        make_info(), n, (make_frames(COLOURS_A), make_frames(COLOURS_B)), videos=(None, None)
    )  # type: ignore[arg-type]


def lmm(server, **options) -> LMMMethod:
    # These tests pin vidbench's own preset (JPEG, 48-frame cap, sample-hash seeds); the paper
    # preset has its own tests below.
    config = {"model": "openai/test-vlm", "api_base": server.base_url, "preset": "vidbench"}
    config.update(options)
    return LMMMethod(LMMMethod.Config(**config))


@pytest.fixture
def llm(tmp_path):
    return LLMClient(Cache(tmp_path / "cache"), backoff_base_s=0.01, timeout_s=10).session()


def decode_image(url: str) -> np.ndarray:
    assert url.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(url.split(",", 1)[1])
    assert data[:3] == b"\xff\xd8\xff"  # a real JPEG
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_closed_sends_labelled_frames_in_order_and_parses(openai_server, llm):
    openai_server.script(json.dumps({"0": "a", "3": "b", "12": "A"}))
    out = lmm(openai_server).closed(closed_task(), llm)
    assert {k: p.prediction for k, p in out.predictions.items()} == {"0": "a", "3": "b", "12": "a"}
    assert out.predictions["3"].description == "the knees bend more"
    request = openai_server.requests[0]
    # Each image is preceded by its label; A's frames come before B's, in time order.
    parts = list(iter_parts(request.body))
    labels, images = [], []
    for before, part in zip(parts, parts[1:]):
        if part["type"] == "image_url":
            labels.append(before["text"])
            images.append(decode_image(part["image_url"]["url"]))
    assert labels == [
        "Video A, frame 1 at 0.00 s",
        "Video A, frame 2 at 0.20 s",
        "Video A, frame 3 at 0.40 s",
        "Video B, frame 1 at 0.00 s",
        "Video B, frame 2 at 0.20 s",
    ]
    for image, colour in zip(images, COLOURS_A + COLOURS_B):
        assert image.shape == (24, 32, 3)
        assert np.abs(image.reshape(-1, 3).mean(0) - colour).max() < 12
    # The statements and their keys are in the prompt; the schema asks for every key.
    prompt = request.texts()[-1]
    assert all(f'"{k}": {s}' in prompt for k, s in STATEMENTS.items())
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert schema == closed_schema(KEYS) and schema["required"] == KEYS
    assert schema["properties"]["12"]["enum"] == ["a", "b"]
    assert request.body["temperature"] == 0.0 and request.body["max_tokens"] == 2048
    assert "seed" not in request.body
    assert request.headers.get("authorization") == "Bearer EMPTY"  # no key in env: vLLM style
    assert out.details["frames_sent"] == [3, 2]


def test_closed_reasks_then_parse_error(openai_server, llm):
    openai_server.respond_with(lambda body: json.dumps({"0": "a", "3": "b"}))  # "12" missing
    with pytest.raises(ParseError, match="12"):
        lmm(openai_server).closed(closed_task(), llm)
    assert len(openai_server.requests) == 3
    reask = openai_server.requests[2].body["messages"][-1]["content"]
    assert "missing answers for statement keys ['12']" in reask


def test_closed_bad_value_then_fixed(openai_server, llm):
    openai_server.script(
        json.dumps({"0": "a", "3": "c", "12": "b"}),
        json.dumps({"0": "a", "3": "both", "12": "b"}),
        json.dumps({"0": "a", "3": "b", "12": "b"}),
    )
    out = lmm(openai_server).closed(closed_task(), llm)
    assert out.predictions["3"].prediction == "b"
    assert "'both'" in openai_server.requests[2].body["messages"][-1]["content"]


def test_closed_without_statements_makes_no_request(openai_server, llm):
    out = lmm(openai_server).closed(closed_task({}), llm)
    assert out.predictions == {} and openai_server.requests == []


def test_open_cap_enforced(openai_server, llm):
    items = [{"description": f"difference {i}", "prediction": "ab"[i % 2]} for i in range(5)]
    openai_server.script(json.dumps({"differences": items}))
    out = lmm(openai_server).open(open_task(n=3), llm)
    assert list(out.predictions) == ["0", "1", "2"]
    assert [p.prediction for p in out.predictions.values()] == ["a", "b", "a"]
    assert out.predictions["2"].description == "difference 2"
    assert out.details["returned"] == 5 and out.details["truncated"] == 2
    body = openai_server.requests[0].body
    assert "at most 3 differences" in body["messages"][0]["content"][-1]["text"]
    assert body["response_format"]["json_schema"]["name"] == "open_differences"


def test_open_rejects_malformed_items(openai_server, llm):
    openai_server.respond_with(
        lambda body: json.dumps({"differences": [{"description": "", "prediction": "a"}]})
    )
    with pytest.raises(ParseError, match="description"):
        lmm(openai_server).open(open_task(), llm)


def test_seed_adds_sample_hash(openai_server, llm):
    openai_server.script(json.dumps({"0": "a", "3": "a", "12": "a"}))
    lmm(openai_server, seed=7, temperature=1.0).closed(closed_task(), llm)
    body = openai_server.requests[0].body
    assert body["seed"] == 7 + 1234 and body["temperature"] == 1.0


def decode_mp4(data_url: str):
    assert data_url.startswith("data:video/mp4;base64,")
    with av.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return rate, frames


def test_native_video_mp4_has_true_fps_and_rgb_colours(openai_server, llm):
    openai_server.script(json.dumps({"0": "a", "3": "b", "12": "b"}))
    # A sampled at 5 fps from 30 fps (every 6th frame); B at 3 fps from 12 fps (every 4th).
    task = ClosedTask(
        make_info(),
        STATEMENTS,
        (make_frames(COLOURS_A), make_frames(COLOURS_B, fps_original=12, step=4)),
        videos=(None, None),
    )  # type: ignore[arg-type]
    out = lmm(openai_server, video_input="video").closed(task, llm)
    assert out.predictions["12"].prediction == "b"
    body = openai_server.requests[0].body
    files = [p for p in iter_parts(body) if p["type"] == "file"]
    assert len(files) == 2 and not [p for p in iter_parts(body) if p["type"] == "image_url"]
    for part, frames, colours, fps in (
        (files[0], task.frames[0], COLOURS_A, 5.0),
        (files[1], task.frames[1], COLOURS_B, 3.0),
    ):
        # (litellm drops the "format" hint on the OpenAI route; the data URL carries the mime.)
        rate, decoded = decode_mp4(part["file"]["file_data"])
        assert float(rate) == pytest.approx(frames.sampled_fps) == pytest.approx(fps)
        assert len(decoded) == len(colours)
        for image, colour in zip(decoded, colours):  # not BGR: red stays red
            assert np.abs(image.reshape(-1, 3).mean(0) - colour).max() < 12
    texts = [p["text"] for p in iter_parts(body) if p["type"] == "text"]
    assert "Video A: 3 frames at 5.00 fps (0.40 s)." in texts


def test_video_part_becomes_gemini_inline_video():
    from vidbench.llm import _import_litellm
    from vidbench_methods.lmm import video_part

    _import_litellm()
    from litellm.llms.vertex_ai.gemini.transformation import gemini_convert_messages_with_history

    mp4 = encode_mp4(make_frames(COLOURS_A))
    contents = gemini_convert_messages_with_history(
        messages=[{"role": "user", "content": [video_part(mp4)]}], model="gemini-1.5-pro-002"
    )
    inline = contents[0]["parts"][0]["inline_data"]
    assert inline["mime_type"] == "video/mp4" and base64.b64decode(inline["data"]) == mp4


def test_frame_spec_per_domain_and_caps(openai_server):
    method = lmm(openai_server)
    spec = method.frame_spec(make_info("ballsports"))
    assert (spec.fps, spec.max_frames, spec.max_side) == (5.0, 24, 512)
    assert method.frame_spec(make_info("music")).fps == 2.0
    custom = lmm(openai_server, fps=1.5, max_images=10, max_side=256).frame_spec(make_info())
    assert (custom.fps, custom.max_frames, custom.max_side) == (1.5, 5, 256)


def test_named_configs_and_validation(monkeypatch):
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert set(NAMED_CONFIGS) == {
        "gpt-4o",
        "claude-3.5-sonnet",
        "gemini-1.5-pro",
        "qwen2-vl-7b",
        "llava-video-7b",
    }
    for _summary, overrides in NAMED_CONFIGS.values():
        config = LMMMethod.Config(**overrides)
        if config.requires_api_base:
            with pytest.raises(UserError, match="api_base"):
                LMMMethod(config)
            LMMMethod(LMMMethod.Config(**{**overrides, "api_base": "http://127.0.0.1:9/v1"}))
        else:
            LMMMethod(config)
    assert LMMMethod.Config(**NAMED_CONFIGS["gemini-1.5-pro"][1]).video_input == "video"
    assert LMMMethod.Config(**NAMED_CONFIGS["claude-3.5-sonnet"][1]).max_images <= 100
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
    LMMMethod(LMMMethod.Config(**NAMED_CONFIGS["qwen2-vl-7b"][1]))  # env var is enough
    with pytest.raises(ValidationError):
        LMMMethod.Config(model="anthropic/claude-3-5-sonnet-20241022", max_images=120)
    with pytest.raises(ValidationError):
        LMMMethod.Config(max_imgs=4)  # typo: extra keys are rejected


def test_random_method_is_deterministic_and_seeded():
    task = closed_task()
    a = RandomMethod(RandomMethod.Config()).closed(task, None)  # type: ignore[arg-type]
    b = RandomMethod(RandomMethod.Config()).closed(task, None)  # type: ignore[arg-type]
    assert {k: p.prediction for k, p in a.predictions.items()} == {
        k: p.prediction for k, p in b.predictions.items()
    }
    assert set(a.predictions) == set(STATEMENTS)
    # Across seeds the answers vary (24 statements: identical by chance with p = 2**-24).
    many = closed_task({str(i): f"s{i}" for i in range(24)})
    runs = {
        tuple(
            p.prediction
            for p in RandomMethod(RandomMethod.Config(seed=s))
            .closed(many, None)
            .predictions.values()
        )
        for s in range(3)
    }  # type: ignore[arg-type]
    assert len(runs) == 3
    out = RandomMethod(RandomMethod.Config()).open(open_task(n=4), None)  # type: ignore[arg-type]
    assert list(out.predictions) == ["0", "1", "2", "3"]
    assert all(p.prediction in ("a", "b") and p.description for p in out.predictions.values())


def test_constant_a():
    method = ConstantAMethod(ConstantAMethod.Config())
    out = method.closed(closed_task(), None)  # type: ignore[arg-type]
    assert {p.prediction for p in out.predictions.values()} == {"a"}
    assert set(out.predictions) == set(STATEMENTS)
    assert method.open(open_task(), None).predictions == {}  # type: ignore[arg-type]


def test_paper_frame_budget_refuses_beyond_150_and_sends_png_high_detail(openai_server, llm):
    seen = []

    def answer(body):
        seen.append(body)
        return json.dumps({"0": "a", "3": "b"})

    openai_server.respond_with(answer)
    method = LMMMethod(LMMMethod.Config(model="openai/test-vlm", api_base=openai_server.base_url))
    spec = method.frame_spec(make_info())
    # The paper preset never subsamples: every frame at the rate, integer stride, full size.
    assert (spec.max_frames, spec.max_side, spec.index_rule) == (None, None, "stride")
    big = [(i % 255, 0, 0) for i in range(76)]  # 76 + 75 = 151 frames > 150
    task = ClosedTask(
        make_info(),
        {"0": "x", "3": "y"},
        (make_frames(big), make_frames(big[:75])),
        videos=(None, None),  # type: ignore[arg-type]
    )
    with pytest.raises(SampleFailure, match="151 frames .* budget of 150"):
        method.closed(task, llm)
    assert seen == []  # refused before any request
    fits = ClosedTask(
        make_info(),
        {"0": "x", "3": "y"},
        (make_frames(big[:75]), make_frames(big[:75])),
        videos=(None, None),  # type: ignore[arg-type]
    )
    out = method.closed(fits, llm)
    assert {k: p.prediction for k, p in out.predictions.items()} == {"0": "a", "3": "b"}
    body = seen[0]
    images = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
    assert len(images) == 150
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in images)
    assert all(p["image_url"]["detail"] == "high" for p in images)
    assert body["temperature"] == 1.0 and body["seed"] == 0  # the reference: seed 0, no hash


def test_vllm_models_get_native_video_url_parts(openai_server, llm):
    seen = []
    answers = {"0": "a", "3": "b", "12": "a"}
    openai_server.respond_with(lambda body: seen.append(body) or json.dumps(answers))
    options = dict(LMMMethod.named_configs["qwen2-vl-7b"].options)
    method = LMMMethod(LMMMethod.Config(**{**options, "api_base": openai_server.base_url}))
    method.closed(closed_task(), llm)
    parts = seen[0]["messages"][0]["content"]
    videos = [p for p in parts if p["type"] == "video_url"]
    assert len(videos) == 2 and not any(p["type"] == "image_url" for p in parts)
    assert all(v["video_url"]["url"].startswith("data:video/mp4;base64,") for v in videos)
