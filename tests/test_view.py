"""`vidbench view`: the site of real demo runs, opened in headless Chromium (no console errors;
metrics table, charts, filterable sample list and sample pages render); thumbnails of the frames
actually sent; VidDiff timelines; several runs side by side; the size budget."""

from __future__ import annotations

import json
import os

import pytest

import vidbench
from tests.browser import render
from tests.cli_helpers import run_cli
from vidbench.view.thumbs import MAX_THUMBS, shown_positions


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("view-runs")
    return (
        vidbench.evaluate("random", "demo", runs_dir=root).run_dir,
        vidbench.evaluate("constant-a", "demo", runs_dir=root).run_dir,
    )


def test_the_detector_sees_a_script_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<p id=x>no</p><script>x.textContent = 'ran'; nope();</script>")
    dom, console = render(page)
    assert "ran" in dom and any("nope is not defined" in line for line in console)


def test_site_of_two_runs_renders_in_a_browser(capsys, two_runs, tmp_path):
    out = tmp_path / "site"
    res = run_cli(capsys, "view", *map(str, two_runs), "--out", str(out))
    assert res.code == 0, res.err
    dom, console = render(out / "index.html")
    assert console == []
    assert 'id="samples"' in dom and "12 of 12 shown" in dom  # the filter script ran
    assert dom.count("<svg") >= 3  # split, domain and action charts
    assert "random" in dom and "constant-a" in dom and "Average (paper)" in dom

    pages = sorted((out / "samples").glob("*.html"))
    assert len(pages) == 12
    page_dom, console = render(pages[0])
    assert console == []
    assert "Statements" in page_dom and ("✔ right" in page_dom or "✘ wrong" in page_dom)
    thumbs = list((out / "thumbs").glob("*.jpg"))
    assert thumbs and all(t.stat().st_size < 40_000 for t in thumbs)
    # One strip per distinct set of frames: both runs sent the same frames, so 2 per pair.
    assert len(thumbs) == 24


def test_default_site_lands_in_the_run_folder_and_reflects_answers(capsys, two_runs):
    run = two_runs[1]
    res = run_cli(capsys, "view", str(run), "--no-frames")
    assert res.code == 0, res.err
    index = run / "view" / "index.html"
    html = index.read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"{100 * metrics['average']:.1f}" in html
    record = json.loads((run / "predictions.jsonl").read_text().splitlines()[0])
    page = (run / "view" / "samples" / f"{record['sample_key']}.html").read_text()
    assert page.count('class="answer">a<') == len(record["predictions"]) > 0  # always 'a'
    assert not (run / "view" / "thumbs").exists()


def test_text_is_escaped():
    from vidbench.view import environment

    assert "&lt;script&gt;" in environment().from_string("{{ x }}").render(x="<script>")


def test_viddiff_timeline_from_a_record(two_runs, tmp_path):
    from vidbench.view.data import read_run, timeline

    run = read_run(two_runs[0])
    bench = vidbench.load_benchmark("demo")
    sample = next(s for s in bench.samples if any(s.retrieval_frames[0].values()))
    record = run.records[sample.key]
    record.localization = {"0": ([2, 3], [5])}
    record.details = {
        "transcript": {"stages": [{"name": "down"}, {"name": "up"}]},
        "localizer": {"videos": [{"spans": [[0, 4], [5, 9]]}, {"spans": [[0, 2], [3, 9]]}]},
    }
    tl = timeline(sample, run, (10, 10))
    a, b = tl["videos"]
    assert [s["name"] for s in a["stages"]] == ["down", "up"]
    assert a["stages"][1]["left"] == 50.0 and a["stages"][1]["width"] == 50.0
    row = next(r for r in a["rows"] if r["key"] == "0")
    assert [m["index"] for m in row["chosen"]] == [2, 3]
    truth_keys = {k for k, f in sample.retrieval_frames[0].items() if f}
    assert truth_keys <= {r["key"] for r in a["rows"]}
    assert [m["index"] for m in next(r for r in b["rows"] if r["key"] == "0")["chosen"]] == [5]


def test_thumbnail_budget_for_the_whole_benchmark():
    import numpy as np

    from vidbench.view.thumbs import BENCHMARK_PAIRS, THUMB_SIDE, strip_jpeg

    assert len(shown_positions(48)) == MAX_THUMBS and shown_positions(48)[-1] == 47
    assert shown_positions(5) == [0, 1, 2, 3, 4]
    # Worst case for JPEG: every strip pure noise, 16:9 frames at the thumbnail size.
    noise = np.random.default_rng(0).integers(
        0, 256, (MAX_THUMBS, THUMB_SIDE * 9 // 16, THUMB_SIDE, 3), dtype=np.uint8
    )
    assert BENCHMARK_PAIRS * 2 * len(strip_jpeg(noise)) < 50_000_000


def test_open_run_pages_show_the_judges_matches(capsys, tmp_path, openai_server):
    from tests.test_eval_llm import answer_everything

    openai_server.respond_with(answer_everything)
    run = vidbench.evaluate(
        "random",
        "demo",
        mode="open",
        runs_dir=tmp_path,
        judge="openai/test-judge",
        judge_protocol="single",
        judge_api_base=openai_server.base_url,
    )
    res = run_cli(capsys, "view", str(run.run_dir), "--no-frames")
    assert res.code == 0, res.err
    pages = sorted((run.run_dir / "view" / "samples").glob("*.html"))
    matched = [p for p in pages if "matched: “" in p.read_text()]
    assert matched, "the scripted judge matches something on some page"
    dom, console = render(matched[0])
    assert console == []
    assert "matched: “" in dom and "recall" in (run.run_dir / "view" / "index.html").read_text()
    assert "judge (ok): raw replies" in dom


def test_leaderboard_page_renders_in_a_browser(capsys, two_runs, tmp_path):
    run_cli(capsys, "view", str(two_runs[0]), "--no-frames")  # the first run gets a viewer
    out = tmp_path / "lb"
    res = run_cli(
        capsys, "leaderboard", *map(str, two_runs), "--out-dir", str(out), "--include-partial"
    )
    assert res.code == 0, res.err
    dom, console = render(out / "index.html")
    assert console == []
    assert dom.count('class="leaderboard"') == 2 and dom.count("<svg") >= 2
    assert "±" in dom and "★" in dom  # intervals in the cell, significance marks (paper rows)
    assert 'class="reported"' in dom and 'class="reproduced"' in dom
    assert 'href="https://' in dom  # model names link to their pages
    viewer = (two_runs[0] / "view" / "index.html").resolve()
    assert f'href="{os.path.relpath(viewer, out.resolve())}"' in dom
