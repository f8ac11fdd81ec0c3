"""VidDiff stage 3: a VLM sees the localised frames of A, then of B, and picks a video.

An answer that is not "a" or "b" is never turned into one: the client's ParseError propagates and
the sample is recorded as a parse error (the reference code silently answered "a").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vidbench_methods.viddiff import prompts

from vidbench.contracts import Answer, LLMSession, VideoFrames, VideoSource
from vidbench.llm import image_part, text_part


@dataclass(frozen=True)
class Verdict:
    """The differencer's answer to one statement."""

    answer: Answer
    reasoning: str


def parse_answer(payload: Any) -> Verdict:
    """Strict: the reply must name "a" or "b"; anything else raises ValueError (re-asked)."""
    if not isinstance(payload, Mapping):
        raise ValueError('expected an object {"reasoning": ..., "answer": "a" | "b"}')
    answer = str(payload.get("answer", "")).strip().lower()
    if answer not in ("a", "b"):
        raise ValueError(f'answer must be "a" or "b", got {payload.get("answer")!r}')
    return Verdict(answer, str(payload.get("reasoning", "")))  # type: ignore[arg-type]


def build_messages(
    action: str, statement: str, frames: Sequence[VideoFrames]
) -> list[dict[str, Any]]:
    """One user message: the question, then each frame of A and of B after its text label."""
    content: list[dict[str, Any]] = [
        text_part(prompts.DIFFERENCER.format(action=action, statement=statement))
    ]
    for video, clip in zip("AB", frames):
        for array, seconds in zip(clip.arrays, clip.timestamps):
            content.append(text_part(prompts.frame_label(video, seconds)))
            content.append(image_part(array))
    content.append(text_part(f'Statement: "{statement}". Answer "a" or "b".'))
    return [{"role": "user", "content": content}]


def compare(
    llm: LLMSession,
    model: str,
    action: str,
    statement: str,
    videos: Sequence[VideoSource],
    frames_ab: tuple[list[int], list[int]],
    max_side: int | None,
    **params: Any,
) -> Verdict:
    """Read the localised frames of both videos and ask which one the statement fits more."""
    frames = [videos[v].read(list(frames_ab[v]), max_side=max_side) for v in range(2)]
    messages = build_messages(action, statement, frames)
    return llm.complete_json(model, messages, prompts.ANSWER_SCHEMA, parse_answer, **params)
