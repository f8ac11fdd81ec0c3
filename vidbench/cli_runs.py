"""CLI commands that work on finished run folders: compare, merge, view, submit. Kept apart from
cli.py (the eval/score/data commands) and registered onto the same app by `register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def compare_command(
    run_a: Path = typer.Argument(..., help="Run folder A."),
    run_b: Path = typer.Argument(..., help="Run folder B."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Compare two runs on the items both scored: difference with a paired interval, exact
    McNemar (closed set), items each got right that the other did not."""
    from vidbench.compare import compare_runs, render_comparison

    result = compare_runs(run_a, run_b, seed=seed)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(render_comparison(result))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


__all__ = ["register", "Optional"]
