"""VidDiff, the paper's three-stage agent, as a vidbench method.

proposer (text LLM: stages, captions, candidate differences, links) -> localizer (CLIP frame
scores + left-to-right Viterbi, per video) -> differencer (VLM: frames of A then B, per
difference). See docs/viddiff.md for the options and what differs from the reference code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field
from vidbench_methods.viddiff import differencer, proposer
from vidbench_methods.viddiff.localizer import DifferenceTarget, Localizer

from vidbench.cache import get_cache
from vidbench.contracts import (
    DOMAIN_FPS,
    ClosedTask,
    DifferencePrediction,
    FrameSpec,
    LLMSession,
    Method,
    MethodConfig,
    MethodOutput,
    OpenTask,
    PlannedCall,
    SampleInfo,
    VideoSource,
)
from vidbench.errors import UserError


class VidDiffConfig(MethodConfig):
    """Options of the VidDiff method (`-M key=value`); unknown keys are rejected."""

    proposer_model: str = "gpt-4o-mini-2024-07-18"
    differencer_model: str = "gpt-4o-2024-08-06"
    api_base: str | None = Field(None, description="OpenAI-compatible endpoint for both LLMs")
    temperature: float = 0.0
    llm_seed: int | None = Field(None, description="seed sent to the LLMs (+ the sample hash)")
    max_stages: int = Field(5, ge=1)
    min_captions: int = Field(5, ge=1)
    localizer: Literal["viterbi", "independent", "uniform", "random", "oracle"] = "viterbi"
    emission: Literal["paper", "zscore", "raw"] = "paper"
    clip_model: str = "ViT-bigG-14"
    clip_pretrained: str | None = Field(
        "laion2b_s39b_b160k",
        description="open_clip tag, a local checkpoint path, or null for (seeded) random weights",
    )
    clip_device: str | None = Field(None, description="default: cuda when available, else cpu")
    clip_batch_size: int = Field(128, ge=1)
    clip_workers: int = Field(4, ge=1, description="decode workers feeding the CLIP model")
    clip_decode_backend: Literal["auto", "thread", "process"] = Field(
        "auto", description="auto: worker processes when feeding a GPU, threads otherwise"
    )
    clip_max_side: int | None = Field(448, ge=1, description="decode frames no larger than this")
    clip_cache: bool = True
    fps: float | None = Field(None, gt=0, description="CLIP frame rate; default: per domain")
    gt1_spacing_s: float = Field(0.35, gt=0)
    differencer_max_side: int | None = Field(512, ge=1)
    seed: int = Field(0, description="seed of the random localizer")


class VidDiffMethod(Method):
    """The VidDiff agent (proposer, CLIP+Viterbi localizer, VLM differencer)."""

    name = "viddiff"
    summary = "the paper's agent: LLM proposer, CLIP+Viterbi localizer, VLM differencer"
    Config = VidDiffConfig
    modes = ("closed", "open")

    def __init__(self, config: MethodConfig):
        super().__init__(config)
        self.cfg: VidDiffConfig = config  # type: ignore[assignment]
        if self.cfg.localizer in ("viterbi", "independent"):
            missing = [m for m in ("torch", "open_clip") if importlib.util.find_spec(m) is None]
            if missing:
                raise UserError(
                    f"the CLIP localizer needs {' and '.join(missing)}, not installed",
                    where=f"method option localizer={self.cfg.localizer}",
                    fix='pip install -e ".[clip]" (or -M localizer=uniform to run without CLIP)',
                )
        if self.cfg.localizer == "oracle":
            # Instance attributes: the harness reads them after construction. The oracle needs
            # ground-truth keys, which open-mode candidates do not have.
            self.uses_ground_truth = True  # type: ignore[misc]
            self.modes = ("closed",)  # type: ignore[misc]

    def frame_spec(self, info: SampleInfo) -> FrameSpec:
        # VidDiff reads its own frames through task.videos; the harness's copy only needs to exist.
        return FrameSpec(num_frames=1, max_side=64)

    def plan(
        self, info: SampleInfo, mode: str, n_statements: int, n_frames: tuple[int, int]
    ) -> list[PlannedCall]:
        """Proposer calls (one for stages, plus one for candidates in open mode), then one
        differencer call per difference with 1-3 frames of each video (3 assumed: an upper
        bound)."""
        calls = [
            PlannedCall(
                "proposer",
                self.cfg.proposer_model,
                text_tokens=400 + 40 * n_statements,
                completion_tokens=600 + 60 * n_statements,
            )
        ]
        if mode == "open":
            calls.append(
                PlannedCall(
                    "proposer",
                    self.cfg.proposer_model,
                    text_tokens=300,
                    completion_tokens=80 * n_statements,
                )
            )
        calls += [
            PlannedCall(
                "differencer",
                self.cfg.differencer_model,
                images=6,
                text_tokens=200,
                completion_tokens=120,
            )
        ] * n_statements
        return calls

    # ------------------------------------------------------------ helpers

    def _params(self, info: SampleInfo) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.cfg.temperature}
        if self.cfg.api_base:
            params["api_base"] = self.cfg.api_base
        if self.cfg.llm_seed is not None:
            params["seed"] = self.cfg.llm_seed + int(info.sample_hash) % (2**31)
        return params

    def _localizer(self) -> Localizer:
        c = self.cfg
        return Localizer(
            mode=c.localizer,
            emission=c.emission,
            clip_model=c.clip_model,
            clip_pretrained=c.clip_pretrained,
            clip_device=c.clip_device,
            batch_size=c.clip_batch_size,
            workers=c.clip_workers,
            decode_backend=c.clip_decode_backend,
            max_side=c.clip_max_side,
            gt1_spacing_s=c.gt1_spacing_s,
            seed=c.seed,
            cache=get_cache() if c.clip_cache else None,
        )

    def _run(
        self,
        info: SampleInfo,
        videos: tuple[VideoSource, VideoSource],
        statements: Mapping[str, str],
        num_frames: Mapping[str, str],
        llm: LLMSession,
        oracle: Any,
        details: dict[str, Any],
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Stages -> localisation -> one differencer call per statement; returns answers."""
        params = self._params(info)
        repairs: list[str] = details.setdefault("repairs", [])
        plan = proposer.plan_stages(
            llm,
            self.cfg.proposer_model,
            info.action_description,
            statements,
            max_stages=self.cfg.max_stages,
            min_captions=self.cfg.min_captions,
            repairs=repairs,
            **params,
        )
        details["transcript"] = plan.record()
        targets = [
            DifferenceTarget(k, tuple(plan.links[k]), num_frames.get(k, plan.num_frames[k]))
            for k in statements
        ]
        fps = self.cfg.fps or DOMAIN_FPS.get(info.domain, 2.0)
        localization, loc_details = self._localizer().localize(
            sample_key=info.key,
            videos=videos,
            captions=[s.captions for s in plan.stages],
            targets=targets,
            fps=fps,
            oracle=oracle,
        )
        details["localizer"] = loc_details
        answers: dict[str, str] = {}
        reasoning: dict[str, Any] = {}
        for key, statement in statements.items():
            verdict = differencer.compare(
                llm,
                self.cfg.differencer_model,
                info.action_description,
                statement,
                videos,
                localization[key],
                self.cfg.differencer_max_side,
                **params,
            )
            answers[key] = verdict.answer
            reasoning[key] = {
                "answer": verdict.answer,
                "reasoning": verdict.reasoning,
                "frames": [list(localization[key][0]), list(localization[key][1])],
            }
        details["answers"] = reasoning
        return answers, localization

    # ------------------------------------------------------------ the two modes

    def closed(self, task: ClosedTask, llm: LLMSession) -> MethodOutput:
        statements = dict(task.statements)
        details: dict[str, Any] = {}
        # Closed statements come without num_frames (that is annotation): the proposer decides
        # per statement whether it needs one frame or motion, along with its stages.
        answers, localization = self._run(
            task.info, task.videos, statements, {}, llm, task.oracle_frames, details
        )
        predictions = {
            k: DifferencePrediction(statements[k], answers[k])  # type: ignore[arg-type]
            for k in statements
        }
        return MethodOutput(predictions, localization, details)

    def open(self, task: OpenTask, llm: LLMSession) -> MethodOutput:
        if self.cfg.localizer == "oracle":
            raise NotImplementedError(
                "the oracle localizer needs ground-truth difference keys; "
                "it runs in closed mode only"
            )
        details: dict[str, Any] = {"repairs": []}
        if task.max_differences < 1:
            return MethodOutput({}, {}, details)
        candidates = proposer.propose_differences(
            llm,
            self.cfg.proposer_model,
            task.info.action_description,
            task.max_differences,
            details["repairs"],
            **self._params(task.info),
        )
        details["candidates"] = [
            {"key": d.key, "name": d.name, "description": d.description, "num_frames": d.num_frames}
            for d in candidates
        ]
        statements = {d.key: d.description for d in candidates}
        answers, localization = self._run(
            task.info,
            task.videos,
            statements,
            {d.key: d.num_frames for d in candidates},
            llm,
            None,
            details,
        )
        predictions = {
            k: DifferencePrediction(statements[k], answers[k])  # type: ignore[arg-type]
            for k in statements
        }
        return MethodOutput(predictions, localization, details)
