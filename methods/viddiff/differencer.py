"""VidDiff stage 3: a VLM sees the localised frames of A, then of B, and picks a video.

An answer that is not "a" or "b" (or "c" in the 3-way oracle variant) is never turned into one:
the client's ParseError propagates and the sample is recorded as a parse error (the reference
code silently answered "a").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vidbench.contracts import Answer, LLMSession, VideoFrames, VideoSource
from vidbench.messages import image_part, text_part
from vidbench_methods.viddiff import prompts


@dataclass(frozen=True)
class Verdict:
    """The differencer's answer to one statement."""

    answer: Answer
    reasoning: str


def parse_answer(payload: Any, choices: str = "ab") -> Verdict:
    """Strict: the reply must name one of `choices` ("ab", or "abc" for the 3-way oracle
    variant); anything else raises ValueError (re-asked)."""
    if not isinstance(payload, Mapping):
        raise ValueError('expected an object {"reasoning": ..., "answer": "a" | "b"}')
    answer = str(payload.get("answer", "")).strip().lower()
    if len(answer) != 1 or answer not in choices:
        allowed = " or ".join(f'"{c}"' for c in choices)
        raise ValueError(f"answer must be {allowed}, got {payload.get('answer')!r}")
    return Verdict(answer, str(payload.get("reasoning", "")))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Style:
    """How the differencer asks. `paper`: the reference's request (a system prompt, the question,
    then the frames of A and of B with no labels, full-size PNG with detail "high"); `vidbench`:
    the question with each frame after a text label, JPEG, no detail."""

    layout: str = "paper"  # "paper" | "vidbench"
    image_format: str = "png"
    detail: str | None = "high"
    max_side: int | None = None
    choices: str = "ab"  # "abc": the paper's 3-way oracle experiment ('c': no difference)


def _image(array: Any, style: Style) -> dict[str, Any]:
    part = image_part(array, fmt=style.image_format)
    if style.detail:
        part["image_url"]["detail"] = style.detail
    return part


def build_paper_messages(
    action: str, statement: str, frames: Sequence[VideoFrames], style: Style
) -> list[dict[str, Any]]:
    """The reference's request shape: system prompt; one user message with the question, then
    the frames of A, then of B."""
    n = len(frames[0].indices)
    if n <= 1:
        text = prompts.DIFFERENCER_PAPER_1.format(action=action, statement=statement)
    else:
        gap = frames[0].timestamps[1] - frames[0].timestamps[0]
        text = prompts.DIFFERENCER_PAPER_N.format(action=action, statement=statement, n=n, gap=gap)
    if "c" in style.choices:
        text += ' Answer "c" if the two look the same or you cannot tell.'
    content: list[dict[str, Any]] = [text_part(text)]
    for clip in frames:
        content += [_image(array, style) for array in clip.arrays]
    return [
        {"role": "system", "content": prompts.SYSTEM_VISION},
        {"role": "user", "content": content},
    ]


def build_messages(
    action: str, statement: str, frames: Sequence[VideoFrames], style: Style | None = None
) -> list[dict[str, Any]]:
    """One user message: the question, then each frame of A and of B after its text label."""
    content: list[dict[str, Any]] = [
        text_part(prompts.DIFFERENCER.format(action=action, statement=statement))
    ]
    for video, clip in zip("AB", frames):
        for array, seconds in zip(clip.arrays, clip.timestamps):
            content.append(text_part(prompts.frame_label(video, seconds)))
            content.append(_image(array, style or Style("vidbench", "jpeg", None)))
    if style is not None and "c" in style.choices:
        content.append(text_part(f'Statement: "{statement}". Answer "a", "b" or "c" (same).'))
    else:
        content.append(text_part(f'Statement: "{statement}". Answer "a" or "b".'))
    return [{"role": "user", "content": content}]


def answer_schema(choices: str) -> dict[str, Any]:
    if choices == "ab":
        return prompts.ANSWER_SCHEMA
    schema = json.loads(json.dumps(prompts.ANSWER_SCHEMA))
    schema["title"] = "viddiff_answer_abc"
    schema["properties"]["answer"]["enum"] = list(choices)
    return schema


def compare(
    llm: LLMSession,
    model: str,
    action: str,
    statement: str,
    videos: Sequence[VideoSource],
    frames_ab: tuple[list[int], list[int]],
    style: Style,
    **params: Any,
) -> Verdict:
    """Read the localised frames of both videos and ask which one the statement fits more."""
    frames = [videos[v].read(list(frames_ab[v]), max_side=style.max_side) for v in range(2)]
    if style.layout == "paper":
        messages = build_paper_messages(action, statement, frames, style)
    else:
        messages = build_messages(action, statement, frames, style)
    return llm.complete_json(
        model,
        messages,
        answer_schema(style.choices),
        lambda payload: parse_answer(payload, style.choices),
        **params,
    )
