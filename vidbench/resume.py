"""`vidbench eval --resume RUN`: what may change between a run and its resume, and what may not.

A resume finishes the run that was started, so everything that defines its numbers comes from
the saved config.json: method, options, mode, dataset and revision, selection, order, judge.
What only says *how* to run may be given again on the command line and is applied:

- run-time knobs: concurrency, budget, timeout, cache mode, prices, progress (never saved in
  config.json; the manifest records their values at the start and at each resume);
- where things are: the endpoint of a restarted server (`-M api_base=...`, `--judge-api-base`),
  its credentials (`-M api_key=...`, never stored), and the video root.

Any other option given with a value different from the saved one is refused (exit 2) with every
difference listed, so a resume can never quietly mix two configurations in one run folder.
"""

from __future__ import annotations

import json
from typing import Any

from vidbench.errors import UserError
from vidbench.secrets import REDACTED, is_credential_name, normalise_endpoint, strip_url_credentials

# -M options that say where a model is served or how to authenticate, not what it answers.
ENDPOINT_OPTIONS = frozenset({"api_base", "base_url"})
# config.json fields that are locations, not definitions.
LOCATION_FIELDS = frozenset({"judge_api_base", "video_root"})
SELECTION_FIELDS = frozenset({"split", "domains", "actions", "sample_ids", "per_action", "limit"})
# The command-line flag of each config.json field, for messages.
FLAGS = {
    "method": "--method",
    "mode": "--mode",
    "dataset": "--dataset",
    "revision": "--revision",
    "split": "--split",
    "domains": "--domain",
    "actions": "--action",
    "sample_ids": "--sample-ids",
    "per_action": "--per-action",
    "limit": "--limit",
    "video_root": "--video-root",
    "both_orders": "--both-orders",
    "judge": "--judge",
    "judge_api_base": "--judge-api-base",
}


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (tuples and lists, 1 and 1.0 alike)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _shown(value: Any) -> str:
    return strip_url_credentials(value) if isinstance(value, str) else json.dumps(value)


def _recorded(value: Any) -> Any:
    return strip_url_credentials(value) if isinstance(value, str) else value


def reconcile(
    saved: dict[str, Any],
    given: dict[str, Any],
    given_options: dict[str, Any],
    resolved_options: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The config a resume runs with, and what it changed.

    `saved` is config.json; `given` holds the config fields set explicitly on the command line
    (selection fields at top level: split, domains, ...); `given_options` the -M options given;
    `resolved_options` the method's full configuration as the run used it (the manifest's), so
    that an option given with the value the run already had is not a difference.
    Returns (config, changes) where changes maps a field or `options.KEY` to [old, new] (URLs
    without credentials; credential values never). Raises UserError listing every refused
    difference.
    """
    config = json.loads(json.dumps(saved))
    selection = config.setdefault("selection", {})
    changes: dict[str, list[Any]] = {}
    refused: list[str] = []

    for name, new in given.items():
        old = selection.get(name) if name in SELECTION_FIELDS else config.get(name)
        if _same(old, new):
            continue
        if name in LOCATION_FIELDS:
            if name == "judge_api_base" and normalise_endpoint(old) == normalise_endpoint(new):
                config[name] = new  # the same endpoint, maybe with credentials: not a change
                continue
            config[name] = new
            changes[name] = [_recorded(old), _recorded(new)]
        else:
            refused.append(f"{FLAGS.get(name, name)}: saved {_shown(old)}, given {_shown(new)}")

    options = config.setdefault("options", {})
    for key in [k for k, v in options.items() if v == REDACTED]:
        del options[key]  # a credential is never stored: it must come again from the command line
    for key, new in given_options.items():
        old = options.get(key, (resolved_options or {}).get(key))
        if is_credential_name(key):
            options[key] = new  # applied, never recorded
        elif key in ENDPOINT_OPTIONS:
            if normalise_endpoint(str(old) if old else None) != normalise_endpoint(str(new)):
                changes[f"options.{key}"] = [_recorded(old), _recorded(new)]
            options[key] = new
        elif not _same(old, new):
            refused.append(f"-M {key}: saved {_shown(old)}, given {_shown(new)}")

    if refused:
        raise UserError(
            f"--resume cannot change what defines the run ({len(refused)} difference(s))",
            where="\n    " + "\n    ".join(refused),
            fix="drop those options to finish the run as it was started, or start a new run "
            "without --resume; a resume may change only --max-concurrency, --max-cost, "
            "--timeout, --cache, --price, the endpoint (-M api_base, --judge-api-base), "
            "credentials and --video-root",
        )
    return config, changes
