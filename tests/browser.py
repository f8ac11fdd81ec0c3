"""Open a page in real headless Chromium and return its DOM after scripts ran, plus every console
message (an uncaught exception is one). Tests using it skip when no Chromium is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium here (.ci/run installs Debian's `chromium` package)")


def render(page: Path) -> tuple[str, list[str]]:
    """(DOM after load, console messages) of a local page, opened as a file:// URL."""
    out = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out.stdout, console
