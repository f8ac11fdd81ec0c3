"""The contracts every vidbench module speaks: one small module, imported from everywhere else.

Data flows one way: dataset -> Sample -> VideoFrames (one FrameSpec for both videos) -> Method
-> PredictionRecord -> scorer -> metrics -> leaderboard. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import threading
from abc import ABC
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Label = Literal["a", "b", "c"]
"""Ground-truth label: the statement applies more to video A, to video B, or 'c' (no difference)."""
Answer = Literal["a", "b"]
"""What a method predicts for one statement."""
Mode = Literal["closed", "open"]
SPLITS: tuple[str, ...] = ("easy", "medium", "hard")

# Paper-era inference frame rates of frame-based LMMs, per domain (viddiffbench.md).
DOMAIN_FPS: Mapping[str, float] = {
    "fitness": 4.0,
    "ballsports": 5.0,
    "diving": 6.0,
    "music": 2.0,
    "surgery": 2.0,
}


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (bytes are hashed as bytes): the key rule of the
    cache and of anything a method stores in its BlobStore."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, (bytes, bytearray, memoryview)):
            h.update(b"B")
            h.update(bytes(part))
        else:
            h.update(b"J")
            h.update(json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def sorted_keys(keys: Any) -> list[str]:
    """Difference keys in their natural order: stringified ints numerically ("2" before "10"),
    anything else after them, by name."""
    return sorted(keys, key=_natural)


def _natural(key: Any) -> tuple[int, int, str, str]:
    # ASCII digits only ("²".isdigit() is true but int() refuses it), compared by length then
    # text: no int() of a 5,000-digit key (Python refuses over 4,300 digits).
    text = str(key)
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0")
        return (0, len(digits), digits, text)
    return (1, 0, "", text)


@dataclass(frozen=True)
class VideoRef:
    """One video of a pair as the dataset describes it.

    `path` is relative to the video root: an .mp4/.mov file or a folder of frame images sorted by
    name. `trim` is applied as Python's `slice(start, end)` (end exclusive) on the decoded frames.
    """

    path: str
    fps_original: float
    trim: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class Difference:
    """One annotated difference of a pair.

    `label` is None when the pair leaves it unlabelled; `name`/`description`/`num_frames` are None
    when the annotation itself is null. Keys are stringified ints and are not contiguous.
    """

    key: str
    label: Label | None
    name: str | None = None
    description: str | None = None
    num_frames: str | None = None  # "1" or "gt_1"

    @property
    def scored(self) -> bool:
        """Only a/b items count towards accuracy and recall."""
        return self.label in ("a", "b")

    @property
    def askable(self) -> bool:
        """Presented in the closed set: annotated and labelled (a, b or c)."""
        return self.label is not None and bool(self.description)


@dataclass(frozen=True)
class SampleInfo:
    """What a method may see of a sample: no labels, no ground-truth texts or frames."""

    key: str
    action: str
    action_name: str
    action_description: str
    domain: str
    split: str
    source_dataset: str
    sample_hash: int
    videos: tuple[VideoRef, VideoRef]
    max_differences: int


@dataclass(frozen=True)
class Sample:
    """One VidDiffBench pair, decoded faithfully (null labels and null annotations kept)."""

    info: SampleInfo
    differences: Mapping[str, Difference]
    # Per video: difference key -> frame indices into the trimmed (not subsampled) video, or None.
    retrieval_frames: tuple[Mapping[str, list[int] | None], Mapping[str, list[int] | None]] = (
        {},
        {},
    )

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def split(self) -> str:
        return self.info.split

    @property
    def domain(self) -> str:
        return self.info.domain

    @property
    def action(self) -> str:
        return self.info.action

    def closed_statements(self) -> dict[str, str]:
        """Difference key -> statement, for every difference a closed-set method is asked about."""
        return {k: d.description for k, d in self.differences.items() if d.askable}  # type: ignore[misc]

    def scored_labels(self) -> dict[str, Answer]:
        return {k: d.label for k, d in self.differences.items() if d.scored}  # type: ignore[misc]


@dataclass(frozen=True)
class FrameSpec:
    """How to sample frames from a video; the same spec is applied to both videos of a pair.

    Exactly one of `fps` (target rate, capped at the original rate) and `num_frames` (evenly
    spaced over the trimmed video). `max_frames` then caps the count by even subsampling;
    `max_side` resizes so the longer side is at most that many pixels. `image_format` ("jpeg" or
    "png", at `image_quality` for JPEG) says the method sends the frames as images: the harness
    encodes them while preparing the sample (`VideoFrames.encoded`) and keeps them in the frame
    cache, so a rerun neither decodes nor encodes.

    `index_rule` says which frames a rate selects when the rates do not divide: "exact" takes
    frame floor(i * fps_original / fps), so the sampled rate is `fps` on average (30 -> 4 fps:
    0, 7, 15, 22, 30, ...); "stride" is the reference code's rule, every
    int(fps_original / fps)-th frame (30 -> 4 fps: 0, 7, 14, 21, ..., really 4.29 fps).
    """

    fps: float | None = None
    num_frames: int | None = None
    max_frames: int | None = None
    max_side: int | None = None
    index_rule: Literal["exact", "stride"] = "exact"
    image_format: Literal["jpeg", "png"] | None = None
    image_quality: int = 90

    def __post_init__(self) -> None:
        if (self.fps is None) == (self.num_frames is None):
            raise ValueError("FrameSpec needs exactly one of fps and num_frames")
        if self.fps is not None and not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"FrameSpec.fps must be a positive number, got {self.fps}")
        for name in ("num_frames", "max_frames", "max_side"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"FrameSpec.{name} must be >= 1, got {value}")
        if self.image_format not in (None, "jpeg", "png"):
            raise ValueError(f"FrameSpec.image_format must be jpeg or png, got {self.image_format}")
        if not 1 <= self.image_quality <= 100:
            raise ValueError(f"FrameSpec.image_quality must be 1..100, got {self.image_quality}")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fps": self.fps,
            "num_frames": self.num_frames,
            "max_frames": self.max_frames,
            "max_side": self.max_side,
            "index_rule": self.index_rule,
        }
        if self.image_format is not None:  # older run folders have no such keys
            out["image_format"] = self.image_format
            out["image_quality"] = self.image_quality
        return out


class VideoFrames:
    """Frames sampled from one trimmed video.

    `indices` index the trimmed video (0 = first frame after the trim); `timestamps` are seconds
    from the trimmed video's start (index / fps_original). `arrays` is (T, H, W, 3) RGB uint8;
    when the frames came from the frame cache as encoded images, it is decoded on first use
    (`decode`). `encoded(fmt, quality)` gives the frames as image files, as sent to a model.
    """

    def __init__(
        self,
        indices: Sequence[int],
        timestamps: Sequence[float],
        fps_original: float,
        arrays: np.ndarray | None = None,
        *,
        decode: Callable[[], np.ndarray] | None = None,
        images: Mapping[tuple[str, int], Sequence[bytes]] | None = None,
    ):
        if arrays is None and decode is None:
            raise ValueError("VideoFrames needs arrays or a way to decode them")
        self.indices: tuple[int, ...] = tuple(indices)
        self.timestamps: tuple[float, ...] = tuple(timestamps)
        self.fps_original = fps_original
        self._arrays = arrays
        self._decode = decode
        self._images = {k: tuple(v) for k, v in (images or {}).items()}
        self._lock = threading.Lock()

    @property
    def arrays(self) -> np.ndarray:
        if self._arrays is None:
            with self._lock:
                if self._arrays is None:
                    assert self._decode is not None
                    self._arrays = self._decode()
        return self._arrays

    def encoded(self, fmt: str = "jpeg", quality: int = 90) -> tuple[bytes, ...]:
        """Each frame as a JPEG (at `quality`) or PNG file; made once per format."""
        key = self.image_key(fmt, quality)
        fmt = key[0]
        with self._lock:
            done = self._images.get(key)
        if done is None:
            from vidbench.video import encode_image  # the one encoder (lazy: contracts do no I/O)

            done = tuple(encode_image(a, fmt, quality) for a in self.arrays)
            with self._lock:
                self._images[key] = done
        return done

    @staticmethod
    def image_key(fmt: str, quality: int) -> tuple[str, int]:
        """(format, quality) normalised: "jpg" is "jpeg"; PNG has no quality."""
        fmt = "jpeg" if fmt.lower() in ("jpg", "jpeg") else fmt.lower()
        return (fmt, quality if fmt == "jpeg" else 0)

    def __repr__(self) -> str:
        return f"VideoFrames(indices={self.indices!r}, fps_original={self.fps_original!r})"

    @property
    def sampled_fps(self) -> float:
        """The true rate of the sampled frames (what a re-encoded clip must be labelled with)."""
        if len(self.timestamps) < 2:
            return self.fps_original
        span = self.timestamps[-1] - self.timestamps[0]
        return (len(self.timestamps) - 1) / span if span > 0 else self.fps_original

    def record(self) -> dict[str, Any]:
        return {"indices": list(self.indices), "timestamps": [round(t, 4) for t in self.timestamps]}


class VideoSource(Protocol):
    """A decodable trimmed video; methods that pick their own frames (the localizer) use it."""

    ref: VideoRef

    @property
    def num_frames(self) -> int:
        """Number of frames after the trim."""

    @property
    def fps_original(self) -> float:
        """The video's own frame rate (the dataset's, else the container's)."""

    def indices(self, spec: FrameSpec) -> list[int]:
        """The trimmed-video indices `spec` selects (the harness's frame rule), without
        decoding anything."""

    def sample(self, spec: FrameSpec) -> VideoFrames:
        """Frames chosen by a spec."""

    def read(self, indices: Sequence[int], max_side: int | None = None) -> VideoFrames:
        """Exactly these trimmed-video frame indices."""

    @property
    def content_id(self) -> str:
        """A hash of the video's content: what caches of derived data (embeddings) key on."""

    def without_cache(self) -> VideoSource:
        """The same video, reading without storing decoded frames in the frame cache (for
        callers that cache something smaller derived from many frames)."""


class BlobStore(Protocol):
    """Where a method may keep derived data across runs (CLIP embeddings): bytes by namespace
    and key. The harness hands its cache to a task; None means "do not store"."""

    def get(self, ns: str, key: str) -> bytes | None:
        """The stored value, or None."""

    def put(self, ns: str, key: str, value: bytes) -> None:
        """Store a value (last write wins)."""


class Status(str, enum.Enum):
    """Outcome of one sample. Anything but OK is a failure, never an answer."""

    OK = "ok"
    API_ERROR = "api_error"
    PARSE_ERROR = "parse_error"
    BUDGET_EXCEEDED = "budget_exceeded"
    VIDEO_ERROR = "video_error"
    METHOD_ERROR = "method_error"


@dataclass
class DifferencePrediction:
    """One predicted difference: its statement (open set) and its direction."""

    description: str
    prediction: Answer | None


@dataclass
class Usage:
    """LLM usage of one sample (or a whole run). `cost_usd` None means some price was unknown."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += other.cost_usd


@dataclass
class MethodOutput:
    """What a method returns for one task.

    `predictions`: closed mode keys are the asked difference keys; open mode keys are "0".."n-1".
    `localization`: optional, difference key -> (frame indices in A, frame indices in B), trimmed
    video indices, for methods that choose frames per difference (scored against ground truth).
    `details`: method-specific intermediate outputs worth keeping (stage transcripts, ...). An
    oracle method sets `details["oracle_fallback"]` (["diff_key:a"|"diff_key:b", ...]: no
    ground-truth frames there) and `details["oracle_fallback_rule"]` (what it did instead); the
    harness counts them in metrics.json and report.md.
    """

    predictions: dict[str, DifferencePrediction]
    localization: dict[str, tuple[list[int], list[int]]] | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClosedTask:
    """Judge each statement: does it apply more to video A ('a') or to video B ('b')?"""

    info: SampleInfo
    statements: Mapping[str, str]
    frames: tuple[VideoFrames, VideoFrames]
    videos: tuple[VideoSource, VideoSource]
    # Ground-truth retrieval frames per video, given only to methods that declare
    # `uses_ground_truth` (the oracle localisation ablation); None otherwise.
    oracle_frames: tuple[Mapping[str, list[int] | None], Mapping[str, list[int] | None]] | None = (
        None
    )
    # The annotation's `num_frames` per statement ("1" or "gt_1"; a property of the statement,
    # not of its label): the reference agent reads it in closed mode.
    statement_frames: Mapping[str, str] = field(default_factory=dict)
    store: BlobStore | None = None


@dataclass(frozen=True)
class OpenTask:
    """Name at most `max_differences` differences, each with the video it applies more to."""

    info: SampleInfo
    max_differences: int
    frames: tuple[VideoFrames, VideoFrames]
    videos: tuple[VideoSource, VideoSource]
    oracle_frames: tuple[Mapping[str, list[int] | None], Mapping[str, list[int] | None]] | None = (
        None
    )
    store: BlobStore | None = None


@dataclass
class PredictionRecord:
    """One line of predictions.jsonl: everything a run knows about one sample. Serialised with
    pydantic like the run outputs below (vidbench.runs.RECORD: dump_json / validate_json)."""

    sample_key: str
    mode: Mode
    status: Status
    predictions: dict[str, DifferencePrediction] = field(default_factory=dict)
    error: str | None = None
    frames: dict[str, Any] = field(default_factory=dict)  # {"a": VideoFrames.record(), "b": ...}
    localization: dict[str, tuple[list[int], list[int]]] | None = None
    # The same frames as seconds from each trimmed video's start (index / fps_original).
    localization_seconds: dict[str, tuple[list[float], list[float]]] | None = None
    usage: Usage = field(default_factory=Usage)
    details: dict[str, Any] = field(default_factory=dict)
    swapped: bool = (
        False  # True for the B/A pass of --both-orders (predictions already mapped back)
    )
    # Raw evidence: per LLM call, {"model", "cache_key", "cached", "text"} (the reply as received).
    llm_calls: list[dict[str, Any]] = field(default_factory=list)


def latest_records(
    records: Iterable[PredictionRecord], swapped: bool = False
) -> dict[str, PredictionRecord]:
    """The last record per sample of one order (`swapped` selects the B/A pass of
    --both-orders): the log is append-only and a retry appends, so later lines supersede."""
    return {r.sample_key: r for r in records if r.swapped == swapped}


T = TypeVar("T")


@dataclass
class LLMReply:
    """One completion: its text, its usage (cost None = unknown price) and whether it was cached."""

    text: str
    usage: Usage
    cached: bool = False


class LLMSession(Protocol):
    """The LLM client as one sample sees it: every call is cached, retried, priced and added to
    `usage`. Failures raise ApiError / ParseError / BudgetExceeded (vidbench.errors)."""

    usage: Usage

    def complete(self, model: str, messages: list[dict[str, Any]], **params: Any) -> LLMReply:
        """One chat completion; `params` go to litellm (temperature, max_tokens, api_base, ...)."""

    def complete_json(
        self,
        model: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        parse: Callable[[Any], T],
        **params: Any,
    ) -> T:
        """A JSON-schema constrained completion; `parse` validates the decoded JSON and raises
        ValueError when it is unusable. Invalid replies are retried, then re-asked once with the
        error, then raise ParseError."""


@dataclass(frozen=True)
class PlannedCall:
    """One LLM call a method expects to make for a sample; `--dry-run` adds these up."""

    stage: str
    model: str
    images: int = 0
    text_tokens: int = 0  # prompt tokens excluding images
    completion_tokens: int = 0


class MethodConfig(BaseModel):
    """Base of every method's options: unknown keys are rejected so a typo fails loudly."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ModelEndpoint:
    """A model a method will call, and the OpenAI-compatible server it is reached at (None: the
    provider's public API). The credential check runs on these before any work."""

    model: str
    api_base: str | None = None


@dataclass(frozen=True)
class NamedConfig:
    """A registry name a method class declares for one of its configurations (`gpt-4o` for the
    LMM method with model=gpt-4o-2024-08-06); `summary` is what `vidbench methods` shows."""

    summary: str
    options: Mapping[str, Any] = field(default_factory=dict)


class Method(ABC):
    """A video-differencing method. Subclasses set the class attributes and implement `closed`
    and/or `open`; the harness owns frame sampling (see `frame_spec`), retries, caching and
    bookkeeping. Raise a vidbench.errors.SampleFailure subclass for a failed sample.

    A method uses only this module, vidbench.errors, pure helpers (message building) and what it
    is handed: the task (frames, video sources, a BlobStore) and the LLMSession."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line: what `vidbench methods` shows
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    modes: ClassVar[tuple[str, ...]] = ("closed", "open")
    uses_ground_truth: ClassVar[bool] = False  # True only for oracle ablations; flagged in results
    # Registry names for configurations of this class: name -> NamedConfig.
    named_configs: ClassVar[Mapping[str, NamedConfig]] = {}

    def __init__(self, config: MethodConfig):
        self.config = config

    @classmethod
    def models(cls, config: MethodConfig) -> list[ModelEndpoint]:
        """Every model this configuration will call (for the credential check). Default: none
        declared; such a method's missing key shows as the first failed call's status."""
        return []

    def frame_spec(self, info: SampleInfo) -> FrameSpec:
        """Frames the harness samples for both videos; default: the paper-era rate per domain."""
        return FrameSpec(fps=DOMAIN_FPS.get(info.domain, 2.0), max_frames=48, max_side=512)

    def closed(self, task: ClosedTask, llm: LLMSession) -> MethodOutput:
        raise NotImplementedError(f"method {self.name!r} has no closed mode")

    def open(self, task: OpenTask, llm: LLMSession) -> MethodOutput:
        raise NotImplementedError(f"method {self.name!r} has no open mode")

    def plan(
        self, info: SampleInfo, mode: str, n_statements: int, n_frames: tuple[int, int]
    ) -> list[PlannedCall]:
        """The calls this method would make for one sample (for --dry-run); `n_frames` is how many
        frames the harness would sample from each video. Default: no LLM calls."""
        return []

    def describe(self) -> dict[str, Any]:
        """What a run's manifest records about the method."""
        return {
            "name": self.name,
            "config": self.config.model_dump(mode="json"),
            "uses_ground_truth": self.uses_ground_truth,
        }


# =================================================================================================
# Typed run outputs: what a run folder holds (config.json, manifest.json, metrics.json,
# judgements.jsonl) and the predictions the scorer takes. Every writer builds these models and every
# reader (report, leaderboard, score, resume) parses them, so a field that no run writes cannot be
# read, and a file from an older vidbench fails with the file and field named (runs.read_model).
# Serialising is always pydantic's model_dump(mode="json", by_alias=True) / model_validate.
# =================================================================================================

Predictions = dict[str, dict[str, DifferencePrediction]]
"""sample_key -> difference key -> prediction: what the scorer takes (from a file or a run)."""


class Strict(BaseModel):
    """A run-output model: unknown keys are an error, so a misspelt or stale field is caught."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SelectionConfig(Strict):
    """Which samples a run covers (vidbench.dataset.Selection, as saved)."""

    split: str = "all"
    domains: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    sample_ids: list[str] = Field(default_factory=list)
    per_action: int | None = None
    limit: int | None = None
    shard: tuple[int, int] | None = None  # (i, n): the i-th of n parts (`--shard i/n`)


class RunConfig(Strict):
    """Everything that defines a run; config.json, what `--resume` rebuilds the run from.

    `method` is the name the run was started with: a registry name, a named configuration
    (`gpt-4o`) or `path/file.py:Class`; the manifest's `method.name` is the same string."""

    method: str
    options: dict[str, Any] = Field(default_factory=dict)
    mode: Mode
    dataset: str = "demo"
    revision: str | None = None
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    video_root: str | None = None
    both_orders: bool = False
    judge: str | None = None
    judge_api_base: str | None = None
    # The open-set judge's protocol (vidbench.judge). `vidbench eval` writes "paper" by default;
    # a config.json from before the option existed was judged by the one-call judge.
    judge_protocol: Literal["paper", "single"] = "single"


class MethodInfo(Strict):
    """The method as a run's manifest records it. `link`: the method's or model's page, from the
    method's own `link` attribute or the paper's table of models (vidbench.reported)."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    uses_ground_truth: bool = False
    link: str = ""


class DatasetInfo(Strict):
    """Where the samples came from; `split_samples` is how many samples the whole split has
    (before domain/action/limit filters), the denominator of the leaderboard's coverage."""

    kind: str
    repo_id: str | None = None
    revision: str | None = None
    folder: str
    split: str
    selection: SelectionConfig
    n_samples: int
    split_samples: int


class ResumeEntry(Strict):
    """One `vidbench eval --resume`: when, the command (credentials removed), the run-time
    options it ran with, and what it changed: field -> [old, new] (vidbench.resume)."""

    at: str
    command: str
    run_options: dict[str, Any] = Field(default_factory=dict)
    changes: dict[str, list[Any]] = Field(default_factory=dict)


class Manifest(Strict):
    """manifest.json: provenance of a run, written when it starts (usage is in metrics.json).
    `run_options`: the run-time knobs it started with (concurrency, budget, timeout, cache,
    prices); `resumes`: every resume since, with what it changed."""

    vidbench_version: str
    git_commit: str | None = None
    created: str
    python: str
    platform: str
    packages: dict[str, str | None]
    command: str
    method: MethodInfo
    mode: Mode
    dataset: DatasetInfo
    frame_specs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    judge: str | None = None
    both_orders: bool = False
    # "run": `vidbench eval` made the predictions; "submitted": a predictions file was scored.
    source: Literal["run", "submitted"] = "run"
    run_options: dict[str, Any] = Field(default_factory=dict)
    resumes: list[ResumeEntry] = Field(default_factory=list)


class Judgement(Strict):
    """The judge's validated one-to-one matching for one sample (one line of judgements.jsonl).

    `matches`: every ground-truth key shown to the judge -> matched prediction key or None.
    `opposite`: ground-truth key -> True when the matched statements are direct opposites (the
    scorer flips the prediction). `replies`: the judge's decoded replies as returned, before
    normalisation. `dropped`: what normalisation threw away, and why.
    """

    sample_key: str
    status: Literal["ok", "judge_failure"]
    matches: dict[str, str | None] = Field(default_factory=dict)
    opposite: dict[str, bool] = Field(default_factory=dict)
    replies: list[Any] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    error: str | None = None
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)


Interval = list[float] | None  # [low, high], None where undefined (n = 0)


class RateStats(Strict):
    """A rate's counts, intervals and tests (vidbench.scoring._rate_block)."""

    n: int
    n_correct: int
    n_samples: int
    wilson: Interval
    bootstrap: Interval
    p_vs_chance: float | None
    majority_rate: float | None
    p_vs_majority: float | None
    significant: bool


class ClosedRate(RateStats):
    accuracy: float | None

    @property
    def rate(self) -> float | None:
        return self.accuracy


class OpenRate(RateStats):
    recall: float | None

    @property
    def rate(self) -> float | None:
        return self.recall


class OpenExtras(Strict):
    """Precision, F1 and the unmatched / wrong-direction split of the a/b items (open set)."""

    precision: float | None
    f1: float | None
    n_predictions: int
    mean_predictions: float | None
    unmatched_rate: float | None
    wrong_direction_rate: float | None


class OpenSplit(OpenRate, OpenExtras):
    pass


class GroupRate(Strict):
    """One row of a by-domain / by-action breakdown; `accuracy` (closed) or `recall` (open)."""

    n: int
    n_correct: int
    wilson: Interval
    accuracy: float | None = None
    recall: float | None = None

    @property
    def rate(self) -> float | None:
        return self.accuracy if self.accuracy is not None else self.recall


class Coverage(Strict):
    samples: int
    ok: int
    rate: float | None
    failures: dict[str, int] = Field(default_factory=dict)
    rule: str


class OrderConsistency(Strict):
    """--both-orders: answers that survive swapping A and B."""

    n: int
    consistency: float | None
    accuracy_both_orders: float | None


class DistanceStats(Strict):
    n: int
    mean_abs_s: float | None
    median_abs_s: float | None
    within_half_s: float | None = Field(alias="within_0.5s")
    within_1s: float | None
    mean_predicted_frames: float | None


class LocalizationMetrics(Strict):
    """Per split (and overall), per video ("a", "b", "both"): distance to the key frame."""

    rule: str
    splits: dict[str, dict[str, DistanceStats]]
    overall: dict[str, DistanceStats]


class MetricsBase(Strict):
    """What closed and open metrics share: splits, the paper's average, pooled, breakdowns."""

    average: float | None
    average_definition: str
    average_bootstrap: Interval
    pooled: float | None
    pooled_definition: str
    by_domain: dict[str, GroupRate]
    by_action: dict[str, GroupRate]
    coverage: Coverage
    localization: LocalizationMetrics | None = None
    usage: Usage = Field(default_factory=Usage)
    # Scoring a predictions file: the format read ("keyed" or the reference's "list") and every
    # warning `vidbench validate` would print (answers other than a/b, differences left out).
    input_format: str | None = None
    warnings: list[str] = Field(default_factory=list)

    def cost_usd(self) -> float | None:
        """Every LLM cost of the run (the method's, and the judge's in open mode); None when a
        price was unknown."""
        return self.usage.cost_usd


class OracleCoverage(Strict):
    """An oracle run's ground-truth coverage: how many of its differences had no ground-truth
    frames in at least one video (`missing`: "sample:key"), and what the method did instead."""

    items: int
    items_without_ground_truth: int
    videos_without_ground_truth: int
    fallback: str
    missing: list[str]


class ClosedMetrics(MetricsBase):
    """metrics.json of a closed-set run (vidbench.scoring.score_closed)."""

    mode: Literal["closed"] = "closed"
    splits: dict[str, ClosedRate]
    pooled_stats: ClosedRate
    missing_predictions: int
    invalid_predictions: int
    order: OrderConsistency | None = None
    oracle: OracleCoverage | None = None


class OpenMetrics(MetricsBase, OpenExtras):
    """metrics.json of an open-set run (vidbench.scoring.score_open)."""

    mode: Literal["open"] = "open"
    splits: dict[str, OpenSplit]
    pooled_stats: OpenRate
    judge_failures: int
    judge_failure_samples: list[str]
    judge_missing: int
    judge_usage: Usage = Field(default_factory=Usage)

    def cost_usd(self) -> float | None:
        method, judge = self.usage.cost_usd, self.judge_usage.cost_usd
        return None if method is None or judge is None else method + judge


Metrics = ClosedMetrics | OpenMetrics
