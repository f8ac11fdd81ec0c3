"""Telling the user what is going on while it works: progress bars on long loops (judging, data
doctor, the localizer's embedding) and run.log in the run folder. The status lines before there
is progress to show are evaluate.status's.

Bars are off unless the CLI turns them on (`show_progress`), so library use and tests print
nothing extra. Everything said through `stage` goes to the `vidbench` logger, hence run.log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("vidbench")
RUN_LOG = "run.log"


class _State:
    progress = False  # progress bars on (the CLI's --progress)


_state = _State()


def show_progress(enabled: bool = True) -> None:
    """Turn progress bars on (the CLI, when it shows progress); `reset` turns them off."""
    _state.progress = enabled


def reset() -> None:
    _state.progress = False
    detach_run_log()


@contextmanager
def progress_on(enabled: bool = True) -> Iterator[None]:
    show_progress(enabled)
    try:
        yield
    finally:
        reset()


def stage(message: str) -> None:
    """What is happening now, for run.log (the `vidbench` logger)."""
    log.info(message)


def bar(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Any:
    """`items` with a tqdm bar on stderr when progress is on (as is, otherwise)."""
    if not _state.progress:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)


def attach_run_log(run_dir: Path) -> None:
    """Append the `vidbench` logger's INFO and above to RUN_DIR/run.log (one run's log at a time:
    a previous run's handler is removed)."""
    detach_run_log()
    handler = logging.FileHandler(run_dir / RUN_LOG, encoding="utf-8")
    handler.set_name(RUN_LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)


def detach_run_log() -> None:
    for handler in list(log.handlers):
        if handler.get_name() == RUN_LOG:
            log.removeHandler(handler)
            handler.close()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def counter(total: int, desc: str, unit: str = "it") -> Any:
    """A bar updated by hand (`.update(n)`, `.close()`), cleared when closed: for work inside a
    sample (the localizer's embedding), shown under the run's bar; a no-op when progress is off."""
    if not _state.progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr)
