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
    """Compare two runs on the items both scored (paired interval, exact McNemar).

    Per split and pooled: the difference A - B with a 95% interval from a bootstrap over pairs,
    the exact McNemar test (closed set) and the items each got right that the other did not."""
    from vidbench.compare import compare_runs, render_comparison

    result = compare_runs(run_a, run_b, seed=seed)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(render_comparison(result))


def merge_command(
    shards: list[Path] = typer.Argument(..., help="The run folders of every --shard I/N."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the merged run goes."),
    out: Optional[Path] = typer.Option(None, "--out", help="Merged run folder (default: new)."),
) -> None:
    """Join the shards of one `vidbench eval --shard I/N` into one scored run folder.

    Refused unless the shards are of one configuration, disjoint and complete."""
    from vidbench.api import open_run
    from vidbench.merge import merge_runs

    merged = merge_runs(list(shards), runs_dir, out)
    typer.echo(open_run(merged).summary())
    typer.echo(f"\nmerged {len(shards)} shards into {merged}")


def view_command(
    run_dirs: list[Path] = typer.Argument(..., help="One run folder, or several side by side."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Folder for the site (default: FIRST_RUN/view)."
    ),
    frames: bool = typer.Option(
        True, "--frames/--no-frames", help="Thumbnails of the frames sent (decodes the videos)."
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open the site in a browser."),
) -> None:
    """Write a static site of one or several runs into the run folder (view/index.html).

    Metrics and charts with intervals, every sample's frames, answers and judge matches, VidDiff
    timelines; several runs side by side. No server, no network."""
    from vidbench.view import build_view

    index = build_view(run_dirs, out, frames=frames)
    typer.echo(f"wrote {index}")
    if open_browser:
        import webbrowser

        webbrowser.open(index.resolve().as_uri())


def submit_command(
    run_dir: Path = typer.Argument(..., help="A finished run folder of the whole benchmark."),
    name: str = typer.Option(..., "--name", help="The row's file name: my-method-v2."),
    link: Optional[str] = typer.Option(None, "--link", help="Paper or code URL for the row."),
    leaderboard_dir: Path = typer.Option(
        Path("leaderboards"), "--out-dir", help="The leaderboard folder."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a submission of that name."),
) -> None:
    """Put a run on the leaderboard (leaderboards/submissions/NAME.json, tables rebuilt).

    The run must be complete, on the leaderboard's dataset revision, and its metrics are
    recomputed from predictions.jsonl (hand-edited metrics are refused)."""
    from vidbench.leaderboard import build_leaderboards
    from vidbench.submit import submit

    path = submit(run_dir, name, link, leaderboard_dir, force)
    typer.echo(f"wrote {path}")
    for written in build_leaderboards([], leaderboard_dir).values():
        typer.echo(f"wrote {written}")
    typer.echo(
        "next: commit leaderboards/ and open a pull request (see CONTRIBUTING.md for what to "
        "include)"
    )


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
    app.command("merge")(merge_command)
    app.command("view")(view_command)
    app.command("submit")(submit_command)
