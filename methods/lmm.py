"""Zero-shot large multimodal models (the paper's LMM baselines): show both videos, ask once.

Closed set: one request per sample with the action, the statements by key, the frames of A then
the frames of B (each preceded by a label such as "Video A, frame 3 at 1.75 s"), and a JSON schema
{key: "a"|"b"}. Open set: one request asking for at most N direction-free differences, each with
the video it applies more to; the cap is enforced here (the reference code never enforced it).

Native video (`video_input="video"`, for Gemini): the harness-sampled frames are re-encoded to
mp4 at their true sampled rate (VideoFrames.sampled_fps), from RGB arrays, and sent as an OpenAI
"file" content part with a `data:video/mp4;base64,` URL, which litellm turns into Gemini
`inline_data` with mime type video/mp4. The reference code wrote these clips with swapped colour
channels and a wrong frame rate; both are checked by tests here.
"""

from __future__ import annotations

import base64
import io
import os
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from vidbench.contracts import (
    DOMAIN_FPS,
    ClosedTask,
    DifferencePrediction,
    FrameSpec,
    LLMSession,
    Method,
    MethodConfig,
    MethodOutput,
    ModelEndpoint,
    NamedConfig,
    OpenTask,
    PlannedCall,
    SampleInfo,
    VideoFrames,
    sorted_keys,
)
from vidbench.errors import SampleFailure, UserError
from vidbench.messages import PROVIDER_MAX_IMAGES, encoded_image_part, provider_of, text_part

# What each preset sets; an option given explicitly (-M key=value) always wins.
PRESETS: dict[str, dict[str, Any]] = {
    # The reference's LMM runs: every frame at the domain's rate (integer stride), at most 150
    # frames for both videos together or the sample is refused; temperature 1, seed 0 for every
    # request; full-size PNG frames with detail "high".
    "paper": {
        "temperature": 1.0,
        "seed": 0,
        "seed_adds_hash": False,
        "max_images": 150,
        "over_budget": "refuse",
        "max_side": None,
        "image_format": "png",
        "image_detail": "high",
        "index_rule": "stride",
    },
    # vidbench's choices: greedy decoding, frames subsampled to fit 48, 512-px JPEG.
    "vidbench": {
        "temperature": 0.0,
        "seed": None,
        "seed_adds_hash": True,
        "max_images": 48,
        "over_budget": "subsample",
        "max_side": 512,
        "image_format": "jpeg",
        "image_detail": None,
        "index_rule": "exact",
    },
}


class LMMConfig(MethodConfig):
    """Options of the LMM baseline; `fps=None` uses the paper-era rate of each domain. `preset`
    fills every option it lists (PRESETS) that was not given explicitly."""

    preset: Literal["paper", "vidbench"] = "paper"
    model: str = "gpt-4o-2024-08-06"
    api_base: str | None = None
    temperature: float = 1.0
    max_tokens: int = 2048
    fps: float | None = None
    index_rule: Literal["exact", "stride"] = "stride"
    max_images: int = Field(150, description="frames of both videos together, per request")
    over_budget: Literal["refuse", "subsample"] = Field(
        "refuse", description="more frames than max_images: fail the sample, or subsample"
    )
    max_side: int | None = None
    image_format: Literal["jpeg", "png"] = "png"
    image_detail: Literal["high", "low", "auto"] | None = "high"
    video_input: Literal["frames", "video", "video_url"] = Field(
        "frames", description="video: mp4 file part (Gemini); video_url: vLLM's native video"
    )
    seed: int | None = 0
    seed_adds_hash: bool = Field(False, description="request seed = seed + the sample's hash")
    # Self-hosted models (vLLM & co.) have no public endpoint: fail early without api_base.
    requires_api_base: bool = False

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset", "paper") not in PRESETS:
            return data
        return {**PRESETS[data.get("preset", "paper")], **data}

    @model_validator(mode="after")
    def _check(self) -> LMMConfig:
        if self.max_images < 2:
            raise ValueError("max_images must be >= 2 (at least one frame per video)")
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be positive")
        limit = PROVIDER_MAX_IMAGES.get(provider_of(self.model))
        if limit is not None and self.video_input == "frames" and self.max_images > limit:
            raise ValueError(
                f"{self.model} accepts at most {limit} images per request; "
                f"max_images={self.max_images}"
            )
        return self


def encode_mp4(frames: VideoFrames, crf: int = 18) -> bytes:
    """The frames as an H.264 mp4 played at their true sampled rate (RGB in, correct colours)."""
    import av

    arrays = np.asarray(frames.arrays, dtype=np.uint8)
    if arrays.ndim != 4 or arrays.shape[-1] != 3 or len(arrays) == 0:
        raise ValueError(f"expected (T, H, W, 3) RGB frames, got shape {arrays.shape}")
    # yuv420p needs even sides: repeat the last row/column rather than crop content away.
    pad_h, pad_w = arrays.shape[1] % 2, arrays.shape[2] % 2
    if pad_h or pad_w:
        arrays = np.pad(arrays, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    rate = Fraction(frames.sampled_fps).limit_denominator(1000)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = arrays.shape[2], arrays.shape[1]
        stream.pix_fmt = "yuv420p"
        # One thread and fixed options: the same frames give the same bytes (stable cache keys).
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf)}
        for i, array in enumerate(arrays):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def video_url_part(mp4: bytes) -> dict[str, Any]:
    """An OpenAI-compatible `video_url` content part (what vLLM accepts for video models such
    as Qwen2-VL and LLaVA-Video) holding the mp4 as a data URL."""
    url = f"data:video/mp4;base64,{base64.b64encode(mp4).decode('ascii')}"
    return {"type": "video_url", "video_url": {"url": url}}


def video_part(mp4: bytes) -> dict[str, Any]:
    """An OpenAI "file" content part with an mp4 data URL (litellm -> Gemini inline_data)."""
    url = f"data:video/mp4;base64,{base64.b64encode(mp4).decode('ascii')}"
    return {"type": "file", "file": {"file_data": url, "format": "video/mp4"}}


def closed_schema(keys: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": "closed_answers",
        "properties": {k: {"type": "string", "enum": ["a", "b"]} for k in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


OPEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "open_differences",
    "properties": {
        "differences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "prediction": {"type": "string", "enum": ["a", "b"]},
                },
                "required": ["description", "prediction"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["differences"],
    "additionalProperties": False,
}


def _answer(value: Any, where: str) -> str:
    if isinstance(value, str) and value.strip().lower() in ("a", "b"):
        return value.strip().lower()
    raise ValueError(f'{where} must be "a" or "b", got {value!r}')


def parse_closed(value: Any, keys: list[str]) -> dict[str, str]:
    """{key: "a"|"b"} for every asked key; anything missing or different raises ValueError.
    Extra keys are ignored (they cannot be scored)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object keyed by statement, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"missing answers for statement keys {missing}")
    return {k: _answer(value[k], f"the answer for key {k!r}") for k in keys}


def parse_open(value: Any) -> list[tuple[str, str]]:
    """[(description, "a"|"b"), ...] in the model's order; malformed items raise ValueError."""
    if not isinstance(value, dict) or not isinstance(value.get("differences"), list):
        raise ValueError('expected {"differences": [...]}')
    out = []
    for i, item in enumerate(value["differences"]):
        if not isinstance(item, dict):
            raise ValueError(f"differences[{i}] must be an object")
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"differences[{i}].description must be a non-empty string")
        out.append(
            (description.strip(), _answer(item.get("prediction"), f"differences[{i}].prediction"))
        )
    return out


class LMMMethod(Method):
    """One request per sample to a multimodal chat model, frames or native video."""

    name = "lmm"
    summary = "zero-shot multimodal LLM shown both videos (frames or native video)"
    Config = LMMConfig
    named_configs = {
        "gpt-4o": NamedConfig(
            "paper row GPT-4o: gpt-4o-2024-08-06, frames as images",
            {"model": "gpt-4o-2024-08-06"},
        ),
        # Anthropic takes at most 100 images per request (the reference's budget is 150).
        "claude-3.5-sonnet": NamedConfig(
            "paper row Claude-3.5-Sonnet: claude-3-5-sonnet-20241022, frames as images (<= 100)",
            {"model": "anthropic/claude-3-5-sonnet-20241022", "max_images": 100},
        ),
        "gemini-1.5-pro": NamedConfig(
            "paper row Gemini-1.5-Pro: gemini-1.5-pro-002, native video (frames re-encoded)",
            {"model": "gemini/gemini-1.5-pro-002", "video_input": "video"},
        ),
        "qwen2-vl-7b": NamedConfig(
            "paper row Qwen2-VL-7B: native video on your vLLM server (api_base)",
            {
                "model": "openai/Qwen/Qwen2-VL-7B-Instruct",
                "requires_api_base": True,
                "video_input": "video_url",
            },
        ),
        "llava-video-7b": NamedConfig(
            "paper row LLaVA-Video-7B: native video on your vLLM server (api_base), greedy",
            {
                "model": "openai/lmms-lab/LLaVA-Video-7B-Qwen2",
                "requires_api_base": True,
                "video_input": "video_url",
                "temperature": 0.0,
            },
        ),
    }

    def __init__(self, config: LMMConfig):
        super().__init__(config)
        self.config: LMMConfig = config
        if config.requires_api_base and not self._api_base():
            raise UserError(
                f"{config.model} is self-hosted: it needs the URL of an OpenAI-compatible server",
                where="method option api_base",
                fix="start e.g. `vllm serve <model>` and pass the option "
                "api_base=http://HOST:8000/v1, or set OPENAI_API_BASE",
            )

    def _api_base(self) -> str | None:
        return (
            self.config.api_base
            or os.environ.get("OPENAI_API_BASE")
            or os.environ.get("OPENAI_BASE_URL")
        )

    @classmethod
    def models(cls, config: MethodConfig) -> list[ModelEndpoint]:
        cfg: LMMConfig = config  # type: ignore[assignment]
        base = (
            cfg.api_base or os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL")
        )
        return [ModelEndpoint(cfg.model, base)]

    def frame_spec(self, info: SampleInfo) -> FrameSpec:
        fps = self.config.fps or DOMAIN_FPS.get(info.domain, 2.0)
        # Refusing needs every frame at the rate: the budget is checked per sample (_check_budget).
        per_video = None if self.config.over_budget == "refuse" else self.config.max_images // 2
        # Frames sent as images are encoded by the harness while it prepares the sample (and
        # kept in its frame cache); native video re-encodes the arrays instead.
        as_images = self.config.video_input == "frames"
        return FrameSpec(
            fps=fps,
            max_frames=per_video,
            max_side=self.config.max_side,
            index_rule=self.config.index_rule,
            image_format=self.config.image_format if as_images else None,
        )

    def _check_budget(self, frames: tuple[VideoFrames, VideoFrames]) -> None:
        """The reference's refusal: both videos' frames together above the budget fail the
        sample (it raised and stopped the whole run); lower the rate (-M fps=...) to fit."""
        total = len(frames[0].indices) + len(frames[1].indices)
        if self.config.over_budget == "refuse" and total > self.config.max_images:
            raise SampleFailure(
                f"refused: {total} frames at this rate exceed the budget of "
                f"{self.config.max_images} for both videos (-M fps=... lowers the rate, "
                "-M over_budget=subsample subsamples)"
            )

    # -- requests ----------------------------------------------------------------------------
    def _params(self, info: SampleInfo) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if self.config.seed is not None:
            offset = info.sample_hash if self.config.seed_adds_hash else 0
            params["seed"] = (self.config.seed + offset) % (2**31)
        if self._api_base():
            params["api_base"] = self._api_base()
        return params

    def _video_parts(self, label: str, frames: VideoFrames) -> list[dict[str, Any]]:
        if self.config.video_input == "video":
            duration = (frames.timestamps[-1] - frames.timestamps[0]) if frames.timestamps else 0
            header = (
                f"Video {label}: {len(frames.indices)} frames at "
                f"{frames.sampled_fps:.2f} fps ({duration:.2f} s)."
            )
            return [text_part(header), video_part(encode_mp4(frames))]
        if self.config.video_input == "video_url":
            duration = (frames.timestamps[-1] - frames.timestamps[0]) if frames.timestamps else 0
            header = f"Video {label}: {len(frames.indices)} frames ({duration:.2f} s)."
            return [text_part(header), video_url_part(encode_mp4(frames))]
        parts: list[dict[str, Any]] = []
        fmt = self.config.image_format
        for i, (t, image) in enumerate(zip(frames.timestamps, frames.encoded(fmt)), start=1):
            parts.append(text_part(f"Video {label}, frame {i} at {t:.2f} s"))
            part = encoded_image_part(image, fmt)
            if self.config.image_detail:
                part["image_url"]["detail"] = self.config.image_detail
            parts.append(part)
        return parts

    def _messages(
        self, info: SampleInfo, frames: tuple[VideoFrames, VideoFrames], question: str
    ) -> list[dict[str, Any]]:
        order = (
            "The frames of video A come first, then the frames of video B."
            if self.config.video_input == "frames"
            else "Video A comes first, then video B."
        )
        intro = (
            "You are shown two videos, A and B, of people performing the same action: "
            f"{info.action_description}\n{order}"
        )
        content = [
            text_part(intro),
            *self._video_parts("A", frames[0]),
            *self._video_parts("B", frames[1]),
            text_part(question),
        ]
        return [{"role": "user", "content": content}]

    def _details(self, frames: tuple[VideoFrames, VideoFrames]) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "video_input": self.config.video_input,
            "frames_sent": [len(frames[0].indices), len(frames[1].indices)],
            "sampled_fps": [round(frames[0].sampled_fps, 4), round(frames[1].sampled_fps, 4)],
        }

    # -- modes -------------------------------------------------------------------------------
    def closed(self, task: ClosedTask, llm: LLMSession) -> MethodOutput:
        keys = sorted_keys(task.statements)
        if not keys:
            return MethodOutput({}, details={"note": "no statements to judge"})
        self._check_budget(task.frames)
        listing = "\n".join(f'- "{k}": {task.statements[k]}' for k in keys)
        example = ", ".join(f'"{k}": "a"' for k in keys[:2])
        question = (
            "For each statement below, decide whether it applies more to video A or to video B. "
            'Answer "a" for video A and "b" for video B; you must choose one for every '
            "statement.\n\nStatements (key: statement):\n"
            f'{listing}\n\nReply with only a JSON object mapping every key to "a" or "b", '
            f"like {{{example}}}."
        )
        answers = llm.complete_json(
            self.config.model,
            self._messages(task.info, task.frames, question),
            closed_schema(keys),
            lambda v: parse_closed(v, keys),
            **self._params(task.info),
        )
        return MethodOutput(
            {
                k: DifferencePrediction(task.statements[k], answers[k])  # type: ignore[arg-type]
                for k in keys
            },
            details=self._details(task.frames),
        )

    def plan(
        self, info: SampleInfo, mode: str, n_statements: int, n_frames: tuple[int, int]
    ) -> list[PlannedCall]:
        images = 2 if self.config.video_input == "video" else sum(n_frames)
        text = 150 + 12 * sum(n_frames) + 25 * n_statements
        return [
            PlannedCall(
                f"lmm-{mode}",
                self.config.model,
                images=images,
                text_tokens=text,
                completion_tokens=10 * n_statements + 20
                if mode == "closed"
                else 30 * n_statements + 20,
            )
        ]

    def open(self, task: OpenTask, llm: LLMSession) -> MethodOutput:
        self._check_budget(task.frames)
        n = task.max_differences
        question = (
            f"List at most {n} differences in how the action is performed in the two videos. "
            "Write each difference as a short statement that does not name either video, e.g. "
            '"the knees bend more deeply" or "the arms swing faster", and give its prediction: '
            '"a" if the statement applies more to video A, "b" if more to video B. Focus on '
            "differences a coach would point out.\n\nReply with only a JSON object "
            '{"differences": [{"description": "...", "prediction": "a"}, ...]} with at most '
            f"{n} items."
        )
        items = llm.complete_json(
            self.config.model,
            self._messages(task.info, task.frames, question),
            OPEN_SCHEMA,
            parse_open,
            **self._params(task.info),
        )
        details = {
            **self._details(task.frames),
            "returned": len(items),
            "truncated": max(0, len(items) - n),
        }
        kept = items[:n]
        return MethodOutput(
            {
                str(i): DifferencePrediction(d, p)  # type: ignore[arg-type]
                for i, (d, p) in enumerate(kept)
            },
            details=details,
        )
