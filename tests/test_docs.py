"""The guides are executed, so they cannot drift: every ```bash and ```python block of these docs
runs, in order, in a fresh folder (offline; the methods guide against the loopback server), unless
an HTML comment `<!-- not run: why -->` right before it says why it cannot run here. A python
block whose first line is `# NAME.py` is a file the following blocks use: it is written, not run.
Bash blocks run as if typed into one shell: variables set in one (`NAME=...`) hold in the next."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_eval_llm import answer_everything

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXECUTED = [
    "quickstart.md",
    "python-api.md",
    "methods.md",
    "metrics.md",
    "reproducing.md",
    "scale.md",
]
BLOCK = re.compile(r"(<!-- not run: [^>]*-->\s*\n)?```(\w+)[^\n]*\n(.*?)```", re.S)
EXAMPLE_SERVER = "http://localhost:8000/v1"


def blocks(doc: str) -> list[tuple[str, str]]:
    """(language, code) of every block that runs, in document order."""
    return [
        (lang, code)
        for skip, lang, code in BLOCK.findall((DOCS / doc).read_text())
        if not skip and lang in ("bash", "python")
    ]


def test_every_executed_doc_has_runnable_blocks():
    for doc in EXECUTED:
        assert blocks(doc), f"{doc} has no block that runs"


@pytest.mark.parametrize("doc", EXECUTED)
def test_doc_blocks_run(doc, tmp_path, monkeypatch, openai_server):
    openai_server.respond_with(answer_everything)
    monkeypatch.chdir(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(tmp_path),
    }
    namespace: dict = {"__name__": "__main__"}  # classes defined here live in __main__
    assignments: list[str] = []
    for n, (lang, code) in enumerate(blocks(doc)):
        code = code.replace(EXAMPLE_SERVER, openai_server.base_url)
        first = code.splitlines()[0].strip()
        where = f"{doc} block {n + 1} ({lang}): {first[:60]}"
        if lang == "python" and re.fullmatch(r"# [\w/]+\.py", first):
            (tmp_path / first[2:]).write_text(code)
            continue
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
            continue
        script = "\n".join([*assignments, code])
        assignments += [line for line in code.splitlines() if re.match(r"[A-Z_]+=", line)]
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, f"{where}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
