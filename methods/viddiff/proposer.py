"""VidDiff stage 1: a text-only LLM plans the action before any frame is looked at.

It writes (open mode only) direction-free candidate differences, then a transcript of ordered
sub-action stages with single-frame retrieval captions, and links every difference to the stages
where it is visible. It never sees labels: in closed mode it gets only the statements.

Replies are validated strictly first, so the LLM client re-asks with the exact complaint. If the
re-asked reply is still invalid, the last decoded reply is repaired deterministically (unknown stage
names snapped to the closest real one, unlinked differences linked to the middle stage, ...), and
each repair is recorded; only a reply with nothing usable (no stages, no differences) fails.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vidbench.contracts import LLMSession
from vidbench.errors import ParseError
from vidbench_methods.viddiff import prompts

T = TypeVar("T")


@dataclass(frozen=True)
class Stage:
    """One sub-action stage and the captions CLIP retrieves its frames with."""

    name: str
    description: str
    captions: tuple[str, ...]


@dataclass(frozen=True)
class ProposedDifference:
    """A direction-free candidate difference (open mode); `key` is "0".."n-1"."""

    key: str
    name: str
    description: str
    num_frames: str


@dataclass
class Plan:
    """The proposer's transcript: stages in order and, per difference key, its stage indices."""

    stages: list[Stage]
    links: dict[str, list[int]]
    num_frames: dict[str, str] = field(default_factory=dict)  # "1" | "gt_1" per difference key
    repairs: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "stages": [
                {"name": s.name, "description": s.description, "captions": list(s.captions)}
                for s in self.stages
            ],
            "links": {k: [self.stages[i].name for i in v] for k, v in self.links.items()},
            "num_frames": dict(self.num_frames),
            "repairs": list(self.repairs),
        }


def _ask_with_repair(
    llm: LLMSession,
    model: str,
    prompt: str,
    schema: dict[str, Any],
    strict: Callable[[Any], T],
    repair: Callable[[Any, list[str]], T],
    repairs: list[str],
    **params: Any,
) -> T:
    """complete_json with `strict`; if the client gives up, repair its last decoded reply."""
    last: dict[str, Any] = {}

    def remember(payload: Any) -> T:
        last["payload"] = payload
        return strict(payload)

    try:
        return llm.complete_json(model, prompts.user_message(prompt), schema, remember, **params)
    except ParseError as exc:
        if "payload" not in last:
            raise  # never got decodable JSON: nothing to repair
        try:
            return repair(last["payload"], repairs)
        except ValueError as inner:
            raise ParseError(f"{exc}; repair impossible: {inner}") from exc


# ---------------------------------------------------------------- open mode: candidate differences


def _difference_items(payload: Any) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("differences"), list):
        raise ValueError('expected an object {"differences": [...]}')
    return payload["differences"]


def _parse_difference(item: Any, index: int) -> ProposedDifference:
    if not isinstance(item, Mapping):
        raise ValueError(f"difference {index} is not an object")
    description = str(item.get("description") or "").strip()
    if not description:
        raise ValueError(f"difference {index} has no description")
    num_frames = str(item.get("num_frames", "")).strip()
    if num_frames not in ("1", "gt_1"):
        raise ValueError(
            f'difference {index}: num_frames must be "1" or "gt_1", got {num_frames!r}'
        )
    name = str(item.get("name") or "").strip() or description[:60]
    return ProposedDifference(str(index), name, description, num_frames)


def propose_differences(
    llm: LLMSession,
    model: str,
    action: str,
    max_differences: int,
    repairs: list[str],
    **params: Any,
) -> list[ProposedDifference]:
    """Up to `max_differences` candidates, keyed "0".."n-1" (the cap is always enforced)."""

    def strict(payload: Any) -> list[ProposedDifference]:
        items = _difference_items(payload)
        if not items:
            raise ValueError("no differences proposed")
        # Too many is not worth a re-ask: they come most important first, so keep the first N.
        kept = [_parse_difference(item, i) for i, item in enumerate(items[:max_differences])]
        if len(items) > max_differences:
            repairs.append(f"kept the first {max_differences} of {len(items)} differences")
        return kept

    def repair(payload: Any, notes: list[str]) -> list[ProposedDifference]:
        kept = []
        for i, item in enumerate(_difference_items(payload)):
            try:
                kept.append(_parse_difference(item, i))
            except ValueError as exc:
                notes.append(f"dropped candidate: {exc}")
        if len(kept) > max_differences:
            notes.append(f"kept the first {max_differences} of {len(kept)} differences")
        kept = kept[:max_differences]
        if not kept:
            raise ValueError("no usable difference")
        return [
            ProposedDifference(str(i), d.name, d.description, d.num_frames)
            for i, d in enumerate(kept)
        ]

    prompt = prompts.PROPOSE_DIFFERENCES.format(action=action, n=max_differences)
    return _ask_with_repair(
        llm, model, prompt, prompts.DIFFERENCES_SCHEMA, strict, repair, repairs, **params
    )


# ---------------------------------------------------------------- stages and links


def _stage_items(payload: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("stages"), list):
        raise ValueError('expected an object {"stages": [...], "links": [...]}')
    links = payload.get("links")
    return payload["stages"], links if isinstance(links, list) else []


def _parse_stages(
    items: list[Any], max_stages: int, min_captions: int, notes: list[str] | None
) -> list[Stage]:
    """Strict when `notes` is None (raise ValueError); otherwise repair and note each repair."""

    def problem(msg: str) -> None:
        if notes is None:
            raise ValueError(msg)
        notes.append(msg)

    stages: list[Stage] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            problem(f"stage {i} is not an object (dropped)")
            continue
        name = str(item.get("name") or "").strip() or f"stage {i + 1}"
        description = str(item.get("description") or "").strip()
        raw = item.get("captions")
        raw_captions: list[Any] = raw if isinstance(raw, list) else []
        captions = tuple(dict.fromkeys(str(c).strip() for c in raw_captions if str(c).strip()))
        if len(captions) < min_captions:
            problem(f"stage {name!r} has {len(captions)} captions; at least {min_captions} needed")
            if not captions:  # CLIP needs something to retrieve with
                captions = (f"A photo of a person: {description or name}",)
        if any(s.name.lower() == name.lower() for s in stages):
            problem(f"duplicate stage name {name!r}")
            name = f"{name} ({i + 1})"
        stages.append(Stage(name, description, captions))
    if not stages:
        raise ValueError("no stages")
    if len(stages) > max_stages:
        problem(f"{len(stages)} stages; at most {max_stages} (kept the first {max_stages})")
        stages = stages[:max_stages]
    return stages


def _closest_stage(name: str, stages: list[Stage]) -> int:
    lowered = [s.name.lower() for s in stages]
    ratios = [difflib.SequenceMatcher(None, name.lower(), s).ratio() for s in lowered]
    return max(range(len(stages)), key=lambda i: (ratios[i], -i))  # ties: the earlier stage


def _parse_links(
    items: list[Any], stages: list[Stage], keys: list[str], notes: list[str] | None
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Stage indices and num_frames per difference key (strict, or repaired into `notes`)."""

    def problem(msg: str) -> None:
        if notes is None:
            raise ValueError(msg)
        notes.append(msg)

    by_name = {s.name.lower(): i for i, s in enumerate(stages)}
    links: dict[str, list[int]] = {}
    num_frames: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            problem("a link is not an object (ignored)")
            continue
        key = str(item.get("difference", "")).strip()
        if key not in keys:
            problem(f"link for unknown difference id {key!r} (ignored)")
            continue
        frames = str(item.get("num_frames", "1")).strip()
        if frames not in ("1", "gt_1"):
            problem(f'difference {key}: num_frames must be "1" or "gt_1", got {frames!r} -> "1"')
            frames = "1"
        num_frames[key] = frames
        raw_names = item.get("stages")
        names: list[Any] = raw_names if isinstance(raw_names, list) else []
        indices: list[int] = links.setdefault(key, [])
        for raw in names:
            name = str(raw).strip()
            index = by_name.get(name.lower())
            if index is None:
                problem(f"difference {key}: unknown stage {name!r}")
                index = _closest_stage(name, stages)
                if notes is not None:
                    notes[-1] += f" -> snapped to {stages[index].name!r}"
            if index not in indices:
                indices.append(index)
    for key in keys:
        if not links.get(key):
            problem(f"difference {key} is linked to no stage")
            links[key] = [len(stages) // 2]
            if notes is not None:
                notes[-1] += f" -> linked to the middle stage {stages[len(stages) // 2].name!r}"
    return (
        {key: sorted(links[key]) for key in keys},
        {key: num_frames.get(key, "1") for key in keys},
    )


def plan_stages(
    llm: LLMSession,
    model: str,
    action: str,
    statements: Mapping[str, str],
    *,
    max_stages: int = 5,
    min_captions: int = 5,
    repairs: list[str] | None = None,
    **params: Any,
) -> Plan:
    """Stages with retrieval captions, and each statement's stages (keys of `statements`)."""
    notes = repairs if repairs is not None else []
    keys = list(statements)

    def strict(payload: Any) -> Plan:
        stage_items, link_items = _stage_items(payload)
        stages = _parse_stages(stage_items, max_stages, min_captions, None)
        return Plan(stages, *_parse_links(link_items, stages, keys, None))

    def repair(payload: Any, sink: list[str]) -> Plan:
        stage_items, link_items = _stage_items(payload)
        stages = _parse_stages(stage_items, max_stages, min_captions, sink)
        return Plan(stages, *_parse_links(link_items, stages, keys, sink))

    prompt = prompts.PLAN_STAGES.format(
        action=action,
        max_stages=max_stages,
        min_captions=min_captions,
        differences=prompts.format_differences(statements),
    )
    plan = _ask_with_repair(
        llm, model, prompt, prompts.PLAN_SCHEMA, strict, repair, notes, **params
    )
    plan.repairs = list(notes)
    return plan


# ---------------------------------------------------------------- the paper's separate calls


def _stages_only(payload: Any) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("stages"), list):
        raise ValueError('expected an object {"stages": [...]}')
    return payload["stages"]


def _links_only(payload: Any) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("links"), list):
        raise ValueError('expected an object {"links": [...]}')
    return payload["links"]


def plan_stages_separately(
    llm: LLMSession,
    model: str,
    action: str,
    statements: Mapping[str, str],
    num_frames: Mapping[str, str],
    *,
    max_stages: int = 5,
    min_captions: int = 5,
    repairs: list[str] | None = None,
    sample_params: Mapping[str, Any],
    fixed_params: Mapping[str, Any],
) -> Plan:
    """The reference proposer's call structure: (1) stages with captions, (2) the same stages
    with their least distinctive captions dropped, (3) each statement linked to its stages.

    `sample_params` go to call 1 (the reference seeds it with seed + sample_hash),
    `fixed_params` to calls 2 and 3 (seeded with the seed alone). `num_frames` per statement
    comes from the annotation (closed) or the differences call (open), not from these calls.
    A refined reply that is unusable is replaced by the unrefined stages (recorded as a repair).
    """
    notes = repairs if repairs is not None else []
    keys = list(statements)

    def strict_stages(payload: Any) -> list[Stage]:
        return _parse_stages(_stages_only(payload), max_stages, min_captions, None)

    def repair_stages(payload: Any, sink: list[str]) -> list[Stage]:
        return _parse_stages(_stages_only(payload), max_stages, min_captions, sink)

    prompt = prompts.STAGES.format(action=action, max_stages=max_stages, min_captions=min_captions)
    stages = _ask_with_repair(
        llm,
        model,
        prompt,
        prompts.STAGES_SCHEMA,
        strict_stages,
        repair_stages,
        notes,
        **sample_params,
    )

    def strict_refined(payload: Any) -> list[Stage]:
        refined = _parse_stages(_stages_only(payload), max_stages, 1, None)
        if [s.name for s in refined] != [s.name for s in stages]:
            raise ValueError(
                "the refined stages must keep the stage names and order: "
                + ", ".join(s.name for s in stages)
            )
        return refined

    def keep_unrefined(payload: Any, sink: list[str]) -> list[Stage]:
        sink.append("refined stages unusable: kept the unrefined stages")
        return stages

    prompt = prompts.REFINE_STAGES.format(action=action, stages=prompts.format_stages(stages))
    stages = _ask_with_repair(
        llm,
        model,
        prompt,
        prompts.REFINED_SCHEMA,
        strict_refined,
        keep_unrefined,
        notes,
        **fixed_params,
    )

    def strict_links(payload: Any) -> dict[str, list[int]]:
        return _parse_links(_links_only(payload), stages, keys, None)[0]

    def repair_links(payload: Any, sink: list[str]) -> dict[str, list[int]]:
        return _parse_links(_links_only(payload), stages, keys, sink)[0]

    prompt = prompts.LINK_STAGES.format(
        action=action,
        stages=prompts.format_stages(stages),
        differences=prompts.format_differences(statements),
    )
    links = _ask_with_repair(
        llm,
        model,
        prompt,
        prompts.LINKS_SCHEMA,
        strict_links,
        repair_links,
        notes,
        **fixed_params,
    )
    return Plan(stages, links, {k: num_frames.get(k, "1") for k in keys}, list(notes))
