"""Options shared by several CLI commands, defined once so every command spells them the same."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from vidbench.contracts import Mode as ModeName
from vidbench.dataset import DEFAULT_REPO_ID, Selection

Dataset = typer.Option(
    "demo",
    "--dataset",
    "-d",
    help=f"'demo' (built in, offline), a folder in the Hub layout, or a Hub "
    f"dataset repo id such as {DEFAULT_REPO_ID}.",
)
Revision = typer.Option(None, "--revision", help="Hub revision (commit, tag or branch) to pin.")
Split = typer.Option("all", "--split", "-s", help="easy, medium, hard or all.")
Domain = typer.Option(None, "--domain", help="Only this domain (repeatable).")
Action = typer.Option(None, "--action", help="Only this action code, e.g. fitness_2 (repeatable).")
Limit = typer.Option(None, "--limit", min=1, help="At most N samples (after other filters).")
SampleIds = typer.Option(
    None, "--sample-ids", help="Comma-separated sample keys to run (repeatable)."
)
Shard = typer.Option(
    None,
    "--shard",
    help="I/N: run only the I-th of N deterministic, disjoint parts of the selected samples "
    "(1 <= I <= N) into its own run folder; `vidbench merge` joins the parts.",
)
PerAction = typer.Option(None, "--per-action", min=1, help="At most N samples per action.")
VideoRoot = typer.Option(
    None,
    "--video-root",
    help="Folder the dataset's video paths are relative to "
    "(default: $VIDBENCH_VIDEO_ROOT, else the cache's videos/).",
)
CacheDir = typer.Option(
    None, "--cache-dir", help="Cache folder (default: $VIDBENCH_CACHE, else ~/.cache/vidbench)."
)
Mode = typer.Option("closed", "--mode", "-m", help="closed or open.")
Judge = typer.Option(
    None, "--judge", help="litellm model id of the open-set judge (default: a pinned dated GPT-4o)."
)
JudgeProtocol = typer.Option(
    None,
    "--judge-protocol",
    help="Open-set judge: paper (two steps: gpt-4o-2024-08-06 matching, gpt-4o-mini opposite "
    "check in batches of 6; the default) or single (one call per sample).",
)
JudgeApiBase = typer.Option(
    None, "--judge-api-base", help="OpenAI-compatible base URL for the judge (e.g. a local server)."
)

Price = typer.Option(
    None,
    "--price",
    help="MODEL=IN,OUT: USD per million input/output tokens "
    "for a model litellm has no price for (repeatable).",
)
CacheMode = typer.Option(
    "use",
    "--cache",
    help="LLM answer cache: use (read and write), refresh (call again and overwrite) or off.",
)
Timeout = typer.Option(
    120.0, "--timeout", min=0.001, help="Seconds one LLM call may take before it is retried."
)


# Command-line parameters by the config.json field they set (when it is named differently).
_FIELD_OF_PARAM = {"domain": "domains", "action": "actions"}


def given_on_command_line(ctx: typer.Context) -> set[str]:
    """Parameters the user typed (or set through the environment), by parameter name and, where
    it differs, by the config.json field they set; defaults are not "given"."""
    # Compared by name: typer carries its own copy of click, with its own ParameterSource enum.
    typed = ("COMMANDLINE", "ENVIRONMENT")
    names = [p.name for p in ctx.command.params if p.name]
    given = {n for n in names if getattr(ctx.get_parameter_source(n), "name", None) in typed}
    return given | {_FIELD_OF_PARAM[n] for n in given if n in _FIELD_OF_PARAM}


def check_cache_mode(mode: str) -> str:
    from vidbench.errors import UserError

    if mode not in ("use", "refresh", "off"):
        raise UserError(f"unknown --cache {mode!r}", fix="use --cache use, refresh or off")
    return mode


def parse_age(value: str) -> float:
    """'30d', '12h', '15m', '90s' or a number of days -> seconds."""
    from vidbench.errors import UserError

    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    text = value.strip().lower()
    unit = units.get(text[-1:], None)
    number = text[:-1] if unit is not None else text
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if amount < 0:
        raise UserError(
            f"--older-than {value!r} is not an age", fix="e.g. --older-than 30d (or 12h, 15m, 90s)"
        )
    return amount * (unit or units["d"])


def parse_prices(values: Optional[list[str]]) -> dict[str, tuple[float, float]]:
    from vidbench.errors import UserError

    prices: dict[str, tuple[float, float]] = {}
    for value in values or []:
        model, sep, rest = value.rpartition("=")
        try:
            inp, out = (float(x) for x in rest.split(","))
        except ValueError:
            model = ""
        if not sep or not model:
            raise UserError(
                f"--price {value!r} is not MODEL=IN,OUT",
                fix="e.g. --price openai/Qwen/Qwen2-VL-7B-Instruct=0.2,0.2",
            )
        prices[model] = (inp, out)
    return prices


def selection(
    split: str,
    domain: Optional[list[str]],
    action: Optional[list[str]],
    limit: Optional[int],
    sample_ids: Optional[list[str]],
    per_action: Optional[int],
    shard: Optional[str] = None,
) -> Selection:
    ids = [i.strip() for group in (sample_ids or []) for i in group.split(",") if i.strip()]
    return Selection(
        split=split,
        domains=tuple(domain or ()),
        actions=tuple(action or ()),
        sample_ids=tuple(ids),
        per_action=per_action,
        limit=limit,
        shard=parse_shard(shard),
    )


def parse_shard(value: Optional[str]) -> tuple[int, int] | None:
    from vidbench.errors import UserError

    if value is None:
        return None
    index, sep, count = value.partition("/")
    if sep and index.strip().isdigit() and count.strip().isdigit():
        i, n = int(index), int(count)
        if 1 <= i <= n:
            return (i, n)
    raise UserError(
        f"--shard {value!r} is not I/N with 1 <= I <= N",
        fix="e.g. --shard 1/4 ... --shard 4/4 (Slurm: --shard $SLURM_ARRAY_TASK_ID/4)",
    )


def check_mode(mode: str) -> ModeName:
    from vidbench.errors import UserError

    if mode not in ("closed", "open"):
        raise UserError(f"unknown mode {mode!r}", fix="use --mode closed or --mode open")
    return mode  # type: ignore[return-value]


def use_cache(cache_dir: Optional[Path]) -> None:
    from vidbench import cache

    if cache_dir is not None:
        cache.use_cache_dir(cache_dir)


def check_judge_protocol(value: str | None) -> Literal["paper", "single"] | None:
    from vidbench.errors import UserError

    if value is not None and value not in ("paper", "single"):
        raise UserError(f"--judge-protocol {value!r} is not a protocol", fix="use paper or single")
    return value  # type: ignore[return-value]  # checked just above
