"""The VidDiff prompts and the JSON schemas their replies must follow (vidbench's own wording).

Schemas are plain JSON Schema objects in the subset OpenAI's strict structured outputs accept
(every property required, no additional properties, no minItems): counts and cross-references
are checked by the parsers in proposer.py / differencer.py instead. Each schema's `title` becomes
the response_format name, which also tells a scripted test server which call it is answering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROPOSE_DIFFERENCES = """\
You are an expert coach and analyst of human actions.
Two people were filmed performing the same action:
  "{action}"
List up to {n} ways their performances could visibly differ. Each difference must be:
- about how the action is performed (body position, speed, range, timing, technique), not about
  clothing, background or camera;
- visible in video frames (one frame, or a few consecutive frames for motion and speed);
- stated WITHOUT a direction, so that it can apply more to either person, e.g. "depth of the squat"
  or "the knees are pushed further outwards", never "person A squats deeper".
For each give a short `name`, a one-sentence `description`, and `num_frames`: "1" if a single frame
shows it, "gt_1" if it needs motion across several frames (speed, smoothness, timing).
Give at most {n} differences, the most important first."""

PLAN_STAGES = """\
You are an expert coach and analyst of human actions. The action is:
  "{action}"
1. Break the action into at most {max_stages} sub-action stages, in the order they happen.
   Give each a short unique `name`, a one-sentence `description`, and at least {min_captions}
   `captions`: each caption describes ONE still frame of that stage as an image-retrieval text,
   starting with "A photo of a person" (or "A photo of hands" / "A photo of a diver" when that fits
   better) and mentioning what is visible, e.g. "A photo of a person standing upright holding a
   barbell on the shoulders".
2. For each difference below, list the stage names in which it is visible (`links`, one entry per
   difference id, using the exact stage names from step 1), and its `num_frames`: "1" if one
   frame shows it, "gt_1" if it needs motion across several frames (speed, smoothness, timing).
Differences:
{differences}"""

# The `paper` preset's proposer: the reference's separate calls (stages; refining the captions;
# linking), each its own prompt and reply, in vidbench's words.
STAGES = """\
You are an expert coach and analyst of human actions. The action is:
  "{action}"
Break the action into at most {max_stages} sub-action stages, in the order they happen. Give each
a short unique `name`, a one-sentence `description`, and at least {min_captions} `captions`: each
caption describes ONE still frame of that stage as an image-retrieval text about what is visible
(pose, position, appearance), without naming the action, starting like "A photo of a person ..."."""

REFINE_STAGES = """\
You are an expert coach and analyst of human actions. The action is:
  "{action}"
These stages were written for it, each with captions used to find its frames in a video:
{stages}
Captions only help if they tell their stage apart from the others. Return the same stages (same
names and descriptions, same order) with the same captions, except those too similar to captions
of several other stages, which you drop. Do not add captions or stages."""

LINK_STAGES = """\
You are an expert coach and analyst of human actions. The action is:
  "{action}"
Its stages, in order:
{stages}
Statements about how two performances of it may differ:
{differences}
For every statement, list the names of the stages in which it is visible (`links`: one entry per
statement id, stage names exactly as given). A statement may be visible in several stages; a stage
may have no statement; every statement needs at least one stage."""

SYSTEM_VISION = """\
You are a vision assistant. The images come from a public machine-learning dataset of people
performing actions; your answers are used only to measure visual understanding."""

DIFFERENCER_PAPER_1 = """\
The images are frames from two videos of people performing the action "{action}": the first image
is from video A, the second from video B.
Statement: "{statement}"
Which video shows more of what the statement describes: (a) video A or (b) video B? The answer
must be "a" or "b". Reply in JSON with your reasoning and the answer."""

DIFFERENCER_PAPER_N = """\
The images are frames from two videos of people performing the action "{action}": the first
{n} images are from video A, the last {n} from video B. Within each video the frames are close
together, {gap:.2f} seconds apart.
Statement: "{statement}"
Which video shows more of what the statement describes: (a) video A or (b) video B? The answer
must be "a" or "b". Reply in JSON with your reasoning and the answer."""

DIFFERENCER = """\
You compare two videos of people performing the same action:
  "{action}"
You see frames from video A, then frames from video B, each labelled with its video and time.
Statement: "{statement}"
Which video does the statement apply to more? Think about what the frames show, then answer "a"
for video A or "b" for video B. You must choose one of the two."""

DIFFERENCE_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "num_frames": {"type": "string", "enum": ["1", "gt_1"]},
    },
    "required": ["name", "description", "num_frames"],
    "additionalProperties": False,
}

DIFFERENCES_SCHEMA: dict[str, Any] = {
    "title": "viddiff_differences",
    "type": "object",
    "properties": {"differences": {"type": "array", "items": DIFFERENCE_ITEM}},
    "required": ["differences"],
    "additionalProperties": False,
}

PLAN_SCHEMA: dict[str, Any] = {
    "title": "viddiff_plan",
    "type": "object",
    "properties": {
        "stages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "captions": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "description", "captions"],
                "additionalProperties": False,
            },
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "difference": {"type": "string"},
                    "stages": {"type": "array", "items": {"type": "string"}},
                    "num_frames": {"type": "string", "enum": ["1", "gt_1"]},
                },
                "required": ["difference", "stages", "num_frames"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["stages", "links"],
    "additionalProperties": False,
}

_STAGE_ITEMS = PLAN_SCHEMA["properties"]["stages"]

STAGES_SCHEMA: dict[str, Any] = {
    "title": "viddiff_stages",
    "type": "object",
    "properties": {"stages": _STAGE_ITEMS},
    "required": ["stages"],
    "additionalProperties": False,
}

REFINED_SCHEMA: dict[str, Any] = {**STAGES_SCHEMA, "title": "viddiff_refined_stages"}

LINKS_SCHEMA: dict[str, Any] = {
    "title": "viddiff_links",
    "type": "object",
    "properties": {
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "difference": {"type": "string"},
                    "stages": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["difference", "stages"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["links"],
    "additionalProperties": False,
}

ANSWER_SCHEMA: dict[str, Any] = {
    "title": "viddiff_answer",
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "answer": {"type": "string", "enum": ["a", "b"]},
    },
    "required": ["reasoning", "answer"],
    "additionalProperties": False,
}


def format_differences(statements: Mapping[str, str]) -> str:
    """The differences block of PLAN_STAGES: one `id: statement` line each."""
    return "\n".join(f'- id "{key}": {text}' for key, text in statements.items())


def format_stages(stages: Any) -> str:
    """Stages as the refine and link prompts show them (JSON, one object per stage)."""
    import json

    return json.dumps(
        [
            {"name": st.name, "description": st.description, "captions": list(st.captions)}
            for st in stages
        ],
        indent=1,
        ensure_ascii=False,
    )


def user_message(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def frame_label(video: str, seconds: float) -> str:
    """The text placed before each image, e.g. "Video A, frame at 1.75 s"."""
    return f"Video {video}, frame at {seconds:.2f} s"
