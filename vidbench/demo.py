"""The built-in demo benchmark: a dozen pairs of tiny rendered videos, generated at first use.

The folder has the exact Hugging Face Hub layout of VidDiffBench (`data/test-00000-of-00001.parquet`
plus a README.md whose YAML `configs` maps split `test` to `data/test-*`) and its videos under
`videos/`, so the real loader, the video reader and every method run on it offline.

Every label is true by construction: a stick figure is rendered from motion parameters (squat
depth, descent speed, stance width, ...), and each difference statement is tied to one parameter
and to the direction in which the statement applies more. A pair's label is 'a' when A's
parameter goes further in that direction, 'b' when B's does, 'c' when they are equal.
`demo_design()` returns those parameters without rendering anything, for tests and curious users.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

DEMO_REPO_ID = "vidbench/demo"
DEMO_REVISION = "demo-v1"  # bump whenever the generated content changes: old folders regenerate
PARQUET = "data/test-00000-of-00001.parquet"
STAMP = ".vidbench-demo-version"
WIDTH, HEIGHT = 128, 96
FLOOR_Y = 88

# Marker colours, distinct so tests can find body parts in the decoded frames.
BACKGROUND = (40, 40, 48)
LIMB = (200, 200, 200)
HEAD = (230, 40, 40)
HANDS = (40, 210, 60)
FEET = (50, 90, 230)
BALL = (240, 150, 20)
DRUM = (140, 90, 50)

README = """---
configs:
- config_name: default
  data_files:
  - split: test
    path: data/test-*
---
# vidbench demo

A tiny, procedurally generated stand-in for VidDiffBench (same columns, same layout) so that
`vidbench` runs offline. The videos are rendered stick figures; every label holds by construction.
Not a benchmark: never report numbers on it.
"""


@dataclass(frozen=True)
class DiffSpec:
    """One difference statement of an action, tied to the motion parameter it talks about.

    The statement applies more to the video whose `param` is larger (`sign` +1) or smaller (-1).
    `phase` is where in a repetition the difference is best seen (for retrieval frames).
    """

    key: str
    name: str
    description: str
    param: str
    sign: int
    num_frames: str  # "1" or "gt_1"
    phase: float


@dataclass(frozen=True)
class ActionSpec:
    action: str
    action_name: str
    action_description: str
    domain: str
    split: str
    source_dataset: str
    fps: int
    n_frames: int
    lead_in: int  # still frames before the movement starts
    image_folder: bool
    differences: tuple[DiffSpec, ...]
    # Parameter -> (low, high): the two values a pair chooses between when they differ.
    ranges: dict[str, tuple[float, float]]


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "fitness_0",
        "squat",
        "A person does one bodyweight squat: they bend the knees and hips "
        "to lower the body, then stand back up.",
        "fitness",
        "easy",
        "HuMMan",
        8,
        32,
        4,
        True,
        (
            DiffSpec("0", "squat depth", "deeper squat", "amplitude", +1, "1", 0.5),
            DiffSpec("3", "descent speed", "faster descent", "period", -1, "gt_1", 0.25),
            DiffSpec("5", "stance width", "wider stance", "stance", +1, "1", 0.5),
            DiffSpec("7", "arm height", "arms raised higher", "arm", +1, "1", 0.5),
        ),
        {
            "amplitude": (0.45, 0.95),
            "period": (1.6, 2.6),
            "stance": (18.0, 34.0),
            "arm": (0.6, 1.5),
            "lean": (0.2, 0.2),
            "extra": (0.0, 0.0),
        },
    ),
    ActionSpec(
        "ballsports_0",
        "basketball dribble",
        "A person dribbles a basketball in place with one hand.",
        "ballsports",
        "medium",
        "EgoExo4D",
        30,
        90,
        10,
        False,
        (
            DiffSpec("0", "bounce height", "higher ball bounce", "amplitude", +1, "1", 0.0),
            DiffSpec("2", "dribble speed", "faster dribbling", "period", -1, "gt_1", 0.5),
            DiffSpec("4", "torso lean", "more forward-leaning torso", "lean", +1, "1", 0.0),
            DiffSpec(
                "6", "ball distance", "ball dribbled further from the body", "extra", +1, "1", 0.5
            ),
        ),
        {
            "amplitude": (0.35, 0.9),
            "period": (0.45, 0.8),
            "stance": (22.0, 22.0),
            "arm": (0.9, 0.9),
            "lean": (0.05, 0.45),
            "extra": (4.0, 16.0),
        },
    ),
    ActionSpec(
        "music_0",
        "drumming",
        "A seated person strikes a drum repeatedly with a stick.",
        "music",
        "hard",
        "EgoExo4D",
        30,
        75,
        8,
        False,
        (
            DiffSpec(
                "1", "lift height", "higher arm lift before each strike", "amplitude", +1, "1", 0.0
            ),
            DiffSpec("2", "tempo", "faster tempo", "period", -1, "gt_1", 0.5),
            DiffSpec("5", "forward lean", "more forward lean", "lean", +1, "1", 0.5),
            DiffSpec("8", "knee spread", "wider knee spread", "stance", +1, "1", 0.5),
        ),
        {
            "amplitude": (0.3, 0.9),
            "period": (0.4, 0.7),
            "stance": (10.0, 24.0),
            "arm": (0.0, 0.0),
            "lean": (0.0, 0.4),
            "extra": (0.0, 0.0),
        },
    ),
)
PAIRS_PER_ACTION = 4
# The relation of A to B per pair (rows) and difference (columns, in ACTIONS order); '-' means
# the parameter differs but the label is left null, 'n' makes the annotation itself null.
RELATIONS: dict[str, tuple[str, ...]] = {
    "fitness_0": ("abca", "bac-", "cbab", "aacb"),
    "ballsports_0": ("abcb", "ba-a", "bcab", "abbc"),
    "music_0": ("bacn", "abca", "c-ba", "bbac"),
}


@dataclass(frozen=True)
class Motion:
    """What one rendered performance does. `amplitude` in 0..1 (depth / bounce / lift height),
    `period` seconds per repetition, `stance` pixels between feet (knees), `arm` radians from
    hanging, `lean` radians forward, `extra` action-specific pixels (ball offset)."""

    amplitude: float
    period: float
    stance: float
    arm: float
    lean: float
    extra: float

    def value(self, param: str) -> float:
        return float(getattr(self, param))


@dataclass(frozen=True)
class DemoPair:
    """One generated pair: its parameters, labels (by construction), trims and video paths."""

    sample_key: str
    action: ActionSpec
    motions: tuple[Motion, Motion]
    labels: dict[str, str | None]
    null_annotations: frozenset[str]
    paths: tuple[str, str]
    trims: tuple[tuple[int, int | None], tuple[int, int | None]]


def _label(spec: DiffSpec, a: Motion, b: Motion) -> str:
    """The rule every demo label follows: whose parameter goes further in the statement's way."""
    delta = (a.value(spec.param) - b.value(spec.param)) * spec.sign
    return "c" if abs(delta) < 1e-9 else ("a" if delta > 0 else "b")


def _motions(action: ActionSpec, relations: str, pair: int) -> tuple[Motion, Motion]:
    values: tuple[dict[str, float], dict[str, float]] = ({}, {})
    for param, (low, high) in action.ranges.items():
        values[0][param] = values[1][param] = (low + high) / 2
    for spec, rel in zip(action.differences, relations):
        low, high = action.ranges[spec.param]
        # Which video gets the value that makes the statement apply more.
        more, less = (high, low) if spec.sign > 0 else (low, high)
        if rel == "a" or (rel in "-n" and pair % 2 == 0):
            values[0][spec.param], values[1][spec.param] = more, less
        elif rel == "b" or rel in "-n":
            values[0][spec.param], values[1][spec.param] = less, more
        else:  # 'c': equal, though not the default value so pairs still vary
            values[0][spec.param] = values[1][spec.param] = low + (high - low) * 0.3
    return Motion(**values[0]), Motion(**values[1])


def _active_frames(action: ActionSpec, motion: Motion) -> int:
    """Frames the movement lasts: one squat; dribbling/drumming until near the end."""
    if action.domain == "fitness":
        return int(round(motion.period * action.fps))
    return action.n_frames - 2 * action.lead_in


def demo_design() -> list[DemoPair]:
    """Every pair of the demo with its parameters and labels; pure and deterministic."""
    pairs = []
    for action in ACTIONS:
        for j in range(PAIRS_PER_ACTION):
            relations = RELATIONS[action.action][j]
            motions = _motions(action, relations, j)
            labels: dict[str, str | None] = {}
            nulls = set()
            for spec, rel in zip(action.differences, relations):
                labels[spec.key] = None if rel in "-n" else _label(spec, *motions)
                if rel == "n":
                    nulls.add(spec.key)
            key = f"{action.action}_pair{j}"
            ext = "" if action.image_folder else ".mp4"
            paths = (f"{action.domain}/{key}_a{ext}", f"{action.domain}/{key}_b{ext}")
            trims = []
            for v, motion in enumerate(motions):
                end = action.lead_in + _active_frames(action, motion) + 2
                # Trim styles vary on purpose: both ends, start only, none.
                style = (j + v) % 3
                trims.append(
                    (action.lead_in - 2, min(end, action.n_frames - 1))
                    if style == 0
                    else (1, None)
                    if style == 1
                    else (0, action.n_frames)
                )
            pairs.append(
                DemoPair(
                    key, action, motions, labels, frozenset(nulls), paths, (trims[0], trims[1])
                )
            )
    return pairs


# --------------------------------------------------------------------------------------------
# Rendering: a stick figure drawn with numpy distance fields (no drawing library needed).

_YY, _XX = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)


def _box(img: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
    """The pixel window a shape can touch: drawing only there keeps rendering fast."""
    return (
        slice(max(int(y0), 0), min(int(math.ceil(y1)) + 1, img.shape[0])),
        slice(max(int(x0), 0), min(int(math.ceil(x1)) + 1, img.shape[1])),
    )


def _segment(
    img: np.ndarray,
    p: tuple[float, float],
    q: tuple[float, float],
    width: float,
    color: tuple[int, int, int],
) -> None:
    (px, py), (qx, qy), r = p, q, width / 2
    rows, cols = _box(img, min(px, qx) - r, min(py, qy) - r, max(px, qx) + r, max(py, qy) + r)
    yy, xx = _YY[rows, cols], _XX[rows, cols]
    dx, dy = qx - px, qy - py
    length2 = dx * dx + dy * dy or 1e-6
    t = np.clip(((xx - px) * dx + (yy - py) * dy) / length2, 0.0, 1.0)
    dist2 = (xx - (px + t * dx)) ** 2 + (yy - (py + t * dy)) ** 2
    img[rows, cols][dist2 <= r * r] = color


def _disk(img: np.ndarray, c: tuple[float, float], r: float, color: tuple[int, int, int]) -> None:
    rows, cols = _box(img, c[0] - r, c[1] - r, c[0] + r, c[1] + r)
    inside = (_XX[rows, cols] - c[0]) ** 2 + (_YY[rows, cols] - c[1]) ** 2 <= r * r
    img[rows, cols][inside] = color


def _progress(action: ActionSpec, motion: Motion, frame: int) -> float | None:
    """Repetition phase (cycles since the start) of a frame, None while standing still."""
    active = _active_frames(action, motion)
    t = frame - action.lead_in
    if t < 0 or t >= active:
        return None
    return t / (motion.period * action.fps)


def render_frame(action: ActionSpec, motion: Motion, frame: int) -> np.ndarray:
    """One RGB frame of `motion` at frame index `frame` (of the untrimmed video)."""
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    img[FLOOR_Y + 2 :] = (70, 70, 78)
    phase = _progress(action, motion, frame)
    cx = WIDTH / 2
    if action.domain == "fitness":
        depth = 0.0 if phase is None else motion.amplitude * (1 - math.cos(2 * math.pi * phase)) / 2
        drop = depth * 26
        hip = (cx, 56 + drop)
        lean = motion.lean * depth / max(motion.amplitude, 1e-6) if phase is not None else 0.0
        neck = (hip[0] + 22 * math.sin(lean) * 0.3, hip[1] - 22 * math.cos(lean))
        arm = motion.arm * (depth / max(motion.amplitude, 1e-6)) if phase is not None else 0.0
        feet = ((cx - motion.stance / 2, FLOOR_Y), (cx + motion.stance / 2, FLOOR_Y))
        for side, foot in zip((-1, 1), feet):
            knee = ((hip[0] + foot[0]) / 2 + side * (4 + 10 * depth), (hip[1] + foot[1]) / 2)
            _segment(img, hip, knee, 4, LIMB)
            _segment(img, knee, foot, 4, LIMB)
            hand = (neck[0] + side * 16 * math.sin(arm + 0.15), neck[1] + 16 * math.cos(arm + 0.15))
            _segment(img, neck, hand, 3, LIMB)
            _disk(img, hand, 2.5, HANDS)
            _disk(img, foot, 3, FEET)
        _segment(img, hip, neck, 5, LIMB)
        _disk(img, (neck[0], neck[1] - 8), 6, HEAD)
    elif action.domain == "ballsports":
        hip = (cx - 8, 58)
        neck = (hip[0] + 22 * math.sin(motion.lean), hip[1] - 22 * math.cos(motion.lean))
        for side in (-1, 1):
            foot = (hip[0] + side * motion.stance / 2, FLOOR_Y)
            _segment(img, hip, foot, 4, LIMB)
            _disk(img, foot, 3, FEET)
        _segment(img, hip, neck, 5, LIMB)
        _disk(img, (neck[0] + 3 * math.sin(motion.lean), neck[1] - 8), 6, HEAD)
        ball_x = cx + 8 + motion.extra
        top = FLOOR_Y - 5 - (FLOOR_Y - 5 - 40) * motion.amplitude
        # |cos| bounce: at the hand (top) at phase 0, on the floor at phase 0.5.
        height = 1.0 if phase is None else abs(math.cos(math.pi * phase))
        ball_y = FLOOR_Y - 5 - (FLOOR_Y - 5 - top) * height
        hand = (ball_x, min(ball_y - 5, top - 5 + 6 * (1 - height)))
        _segment(img, neck, hand, 3, LIMB)
        _disk(img, hand, 2.5, HANDS)
        _disk(img, (ball_x, ball_y), 5, BALL)
        _segment(img, neck, (neck[0] - 12, neck[1] + 14), 3, LIMB)
    else:  # drumming, seen from the side: stool, drum in front, stick hand rising and striking
        hip = (cx - 14, 66)
        neck = (hip[0] + 24 * math.sin(motion.lean), hip[1] - 24 * math.cos(motion.lean))
        _segment(img, (hip[0] - 6, 70), (hip[0] - 6, FLOOR_Y), 3, DRUM)
        for side in (-1, 1):
            knee = (hip[0] + 14, hip[1] + side * motion.stance / 4)
            foot = (knee[0] + 2, FLOOR_Y)
            _segment(img, hip, knee, 4, LIMB)
            _segment(img, knee, foot, 4, LIMB)
            _disk(img, foot, 3, FEET)
        _segment(img, hip, neck, 5, LIMB)
        _disk(img, (neck[0] + 2, neck[1] - 8), 6, HEAD)
        img[60:76, int(cx + 10) : int(cx + 34)] = DRUM
        lift = 0.0 if phase is None else (1 + math.cos(2 * math.pi * phase)) / 2
        hand = (cx + 20, 56 - lift * 40 * motion.amplitude)
        _segment(img, neck, hand, 3, LIMB)
        _disk(img, hand, 2.5, HANDS)
    return img


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # A short GOP keeps seeks cheap; a fixed seed-free preset keeps output deterministic.
        stream.options = {"crf": "20", "preset": "veryfast", "g": str(fps), "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_folder(path: Path, frames: list[np.ndarray]) -> None:
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(path / f"{i:06d}.jpg", quality=92)


# --------------------------------------------------------------------------------------------
# Rows.


def _retrieval(pair: DemoPair, video: int) -> dict[str, list[int] | None]:
    """Key frames (trimmed indices) where each difference is seen: the first repetition at the
    statement's phase; three frames around it for 'gt_1' statements; null where unlabelled."""
    action, motion = pair.action, pair.motions[video]
    start, end = pair.trims[video]
    n_trimmed = len(range(action.n_frames)[slice(start, end)])
    out: dict[str, list[int] | None] = {}
    for spec in action.differences:
        # Unlabelled differences have no frames; one labelled one is left null as in the data.
        extra_null = spec.key == action.differences[-1].key and pair.sample_key.endswith("pair2")
        if pair.labels[spec.key] is None or extra_null:
            out[spec.key] = None
            continue
        key_frame = action.lead_in + round(spec.phase * motion.period * action.fps) - start
        frames = (
            [key_frame] if spec.num_frames == "1" else [key_frame, key_frame - 2, key_frame + 2]
        )
        out[spec.key] = [min(max(f, 0), n_trimmed - 1) for f in frames]
    return out


def _row(pair: DemoPair, thumbs: tuple[Any, Any]) -> dict[str, Any]:
    action = pair.action
    annotated: dict[str, Any] = {}
    for spec in action.differences:
        annotated[spec.key] = (
            None
            if spec.key in pair.null_annotations
            else {
                "name": spec.name,
                "description": spec.description,
                "query_string": f"Which video shows the {spec.description}, video A or video B?",
                "num_frames": spec.num_frames,
            }
        )
    n_labelled = sum(v is not None for v in pair.labels.values())
    digest = hashlib.blake2b(pair.sample_key.encode(), digest_size=8).digest()
    return {
        "sample_key": pair.sample_key,
        "vid0_thumbnail": thumbs[0],
        "vid1_thumbnail": thumbs[1],
        "videos": json.dumps(
            [
                {"path": p, "fps_original": action.fps, "frames_trim": list(t)}
                for p, t in zip(pair.paths, pair.trims)
            ]
        ),
        "action": action.action,
        "action_name": action.action_name,
        "action_description": action.action_description,
        "source_dataset": action.source_dataset,
        "sample_hash": int.from_bytes(digest, "big") >> 1,  # non-negative int64
        "retrieval_frames": json.dumps([_retrieval(pair, 0), _retrieval(pair, 1)]),
        "differences_annotated": json.dumps(annotated),
        "differences_gt": json.dumps(pair.labels),
        "domain": action.domain,
        "split": action.split,
        "n_differences_open_prediction": math.ceil(1.5 * n_labelled),
    }


def _features() -> Any:
    from datasets import Features, Image, Value

    text = Value("string")
    return Features(
        {
            "sample_key": text,
            "vid0_thumbnail": Image(),
            "vid1_thumbnail": Image(),
            "videos": text,
            "action": text,
            "action_name": text,
            "action_description": text,
            "source_dataset": text,
            "sample_hash": Value("int64"),
            "retrieval_frames": text,
            "differences_annotated": text,
            "differences_gt": text,
            "domain": text,
            "split": text,
            "n_differences_open_prediction": Value("int64"),
        }
    )


def _build(folder: Path) -> None:
    """Render every video and write the parquet and README into `folder` (empty)."""
    from datasets import Dataset
    from datasets.utils import logging as datasets_logging
    from PIL import Image

    rows = []
    for pair in demo_design():
        thumbs = []
        for v, (motion, rel_path) in enumerate(zip(pair.motions, pair.paths)):
            frames = [render_frame(pair.action, motion, i) for i in range(pair.action.n_frames)]
            target = folder / "videos" / rel_path
            if pair.action.image_folder:
                _write_folder(target, frames)
            else:
                _write_mp4(target, frames, pair.action.fps)
            first = range(len(frames))[slice(*pair.trims[v])][0]
            thumbs.append(Image.fromarray(frames[first]).resize((64, 48)))
        rows.append(_row(pair, (thumbs[0], thumbs[1])))
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    (folder / "data").mkdir(parents=True, exist_ok=True)
    was_enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()  # a progress bar for one tiny file is noise
    try:
        Dataset.from_dict(columns, features=_features()).to_parquet(str(folder / PARQUET))
    finally:
        if was_enabled:
            datasets_logging.enable_progress_bar()
    (folder / "README.md").write_text(README)
    (folder / STAMP).write_text(DEMO_REVISION)  # last: a folder without it is incomplete


def default_demo_dir() -> Path:
    env = os.environ.get("VIDBENCH_DEMO_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vidbench" / "demo"


_build_lock = threading.Lock()


def _is_current(root: Path) -> bool:
    stamp = root / STAMP
    return (
        stamp.is_file()
        and stamp.read_text().strip() == DEMO_REVISION
        and (root / PARQUET).is_file()
    )


def ensure_demo(root: str | os.PathLike[str] | None = None) -> Path:
    """The demo folder, generated on first use (or when its version stamp is stale)."""
    root = Path(root) if root is not None else default_demo_dir()
    if _is_current(root):
        return root
    with _build_lock:
        if _is_current(root):
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename into place, so a crash or a concurrent process
        # never leaves (or sees) a half-written demo.
        tmp = root.with_name(f".{root.name}.build-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            _build(tmp)
            if _is_current(root):  # another process finished first: keep its copy
                return root
            old = root.with_name(f".{root.name}.old-{os.getpid()}-{threading.get_ident()}")
            if root.exists():
                os.replace(root, old)
            try:
                os.replace(tmp, root)
            except OSError:
                # Another process renamed its copy in between: fine if that copy is complete.
                if not _is_current(root):
                    raise
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root
