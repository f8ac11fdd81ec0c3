"""Output that other programs open: CSV cells that a spreadsheet would run as formulas get a
leading quote; markdown (leaderboards/README.md, report.md) carries no raw HTML, no line breaks
inside a cell or heading, no unescaped pipes. (index.html was already escaped.)"""

from __future__ import annotations

import csv
import json

import pytest

from tests.cli_helpers import run_cli
from vidbench.leaderboard import csv_cell
from vidbench.report import markdown_table, md_text

EVIL = '=HYPERLINK("http://x")\r# Injected <script>alert(1)</script> | col\n- item'


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\r=x", "'\r=x"),
        ("-1.5", "-1.5"),  # a plain number stays a number
        ("+3", "+3"),
        ("1e-3", "1e-3"),
        ("gpt-4o", "gpt-4o"),
        (None, ""),
    ],
)
def test_csv_cells_are_neutralised(value, expected):
    assert csv_cell(value) == expected


def test_markdown_text_is_inert():
    text = md_text(EVIL)
    assert "\r" not in text and "\n" not in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\\|" in text and " | " not in text.replace("\\|", "")
    table = markdown_table([{"name": EVIL, "n": 1}])
    assert len(table.splitlines()) == 3  # header, rule, one row: nothing broke out


def test_a_hostile_submission_name_reaches_no_output_raw(capsys, tmp_path):
    from vidbench.dataset import load_benchmark

    preds = {
        s.key: {k: "a" for k, d in s.differences.items() if d.askable}
        for s in load_benchmark("demo").samples
    }
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    run = tmp_path / "run"
    res = run_cli(
        capsys, "score", str(path), "--mode", "closed", "--into", str(run), "--name", EVIL
    )
    assert res.code == 0, res.err
    report = (run / "report.md").read_text()
    out = tmp_path / "lb"
    res = run_cli(capsys, "leaderboard", str(run), "--out-dir", str(out), "--include-partial")
    assert res.code == 0, res.err
    readme = (out / "README.md").read_text()
    for md in (report, readme):
        assert "<script>" not in md and "\r" not in md
        assert not any(line.startswith("# Injected") for line in md.splitlines())
        assert not any(line.startswith("- item") for line in md.splitlines())
    with open(out / "closed.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    evil_rows = [r for r in rows if "HYPERLINK" in r["model_name"]]
    assert len(evil_rows) == 1 and evil_rows[0]["model_name"].startswith("'=")
    page = (out / "index.html").read_text()
    assert page.count("<script>") == 1  # the page's own column-sorting script, nothing injected
