"""Baselines that look at nothing: chance level and the constant answer.

They set the floor every real method must beat (the a/b classes are not exactly balanced, so
`constant-a` is the majority-class reference next to `random`).
"""

from __future__ import annotations

import random

from vidbench.contracts import (
    ClosedTask,
    DifferencePrediction,
    FrameSpec,
    LLMSession,
    Method,
    MethodConfig,
    MethodOutput,
    OpenTask,
    SampleInfo,
)

# Direction-free statements that fit any action; the random open-set baseline draws from these.
GENERIC_STATEMENTS: tuple[str, ...] = (
    "The movement is performed faster.",
    "The range of motion is larger.",
    "The body posture is more upright.",
    "The movement is smoother and more controlled.",
    "The arms are held further from the body.",
    "The stance is wider.",
    "The action takes more time to complete.",
    "The knees bend more.",
    "The head moves more.",
    "The movement is more symmetric.",
    "The final position is held longer.",
    "The hands move more precisely.",
)

# These methods ignore the frames: ask the harness for the least it can decode.
_NO_FRAMES = FrameSpec(num_frames=1, max_side=64)


class RandomConfig(MethodConfig):
    seed: int = 0


class RandomMethod(Method):
    """Chance: 'a' or 'b' uniformly per statement, deterministic per (sample_hash, seed)."""

    name = "random"
    summary = "chance baseline: uniform a/b per statement, reproducible per sample and seed"
    Config = RandomConfig

    def frame_spec(self, info: SampleInfo) -> FrameSpec:
        return _NO_FRAMES

    def _rng(self, info: SampleInfo) -> random.Random:
        # A string seed is hashed with SHA-512 by `random`: stable across runs and platforms,
        # unlike hash(), and independent of the order samples are processed in.
        return random.Random(f"{self.config.seed}:{info.sample_hash}:{info.key}")  # type: ignore[attr-defined]

    def closed(self, task: ClosedTask, llm: LLMSession) -> MethodOutput:
        rng = self._rng(task.info)
        return MethodOutput(
            {
                key: DifferencePrediction(text, rng.choice(("a", "b")))
                for key, text in sorted(task.statements.items())
            }
        )

    def open(self, task: OpenTask, llm: LLMSession) -> MethodOutput:
        rng = self._rng(task.info)
        count = min(task.max_differences, len(GENERIC_STATEMENTS))
        statements = rng.sample(GENERIC_STATEMENTS, count)
        return MethodOutput(
            {
                str(i): DifferencePrediction(text, rng.choice(("a", "b")))
                for i, text in enumerate(statements)
            }
        )


class ConstantAMethod(Method):
    """Always 'a' in the closed set; no predictions in the open set (nothing to describe)."""

    name = "constant-a"
    summary = "always answers 'a' (majority-class reference); open set: no predictions"
    Config = MethodConfig

    def frame_spec(self, info: SampleInfo) -> FrameSpec:
        return _NO_FRAMES

    def closed(self, task: ClosedTask, llm: LLMSession) -> MethodOutput:
        return MethodOutput(
            {key: DifferencePrediction(text, "a") for key, text in task.statements.items()}
        )

    def open(self, task: OpenTask, llm: LLMSession) -> MethodOutput:
        return MethodOutput({})
