"""vidbench: the evaluation harness for VidDiffBench (video action differencing).

The Python API is loaded on first use, so `import vidbench` stays cheap:

    import vidbench
    run = vidbench.evaluate(method="random", dataset="demo", split="all")
    run.metrics["average"]
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# name -> module it lives in; imported when first asked for (PEP 562).
_LAZY = {
    "load_benchmark": "vidbench.api",
    "evaluate": "vidbench.api",
    "score": "vidbench.api",
    "open_run": "vidbench.api",
    "Run": "vidbench.api",
    "Method": "vidbench.contracts",
    "MethodConfig": "vidbench.contracts",
    "MethodOutput": "vidbench.contracts",
    "DifferencePrediction": "vidbench.contracts",
    "FrameSpec": "vidbench.contracts",
    "ClosedTask": "vidbench.contracts",
    "OpenTask": "vidbench.contracts",
    "UserError": "vidbench.errors",
    "ApiError": "vidbench.errors",
    "ParseError": "vidbench.errors",
    "VideoError": "vidbench.errors",
}
_SUBMODULES = ("api", "contracts", "errors", "llm", "dataset", "scoring", "stats", "runs")

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"vidbench.{name}")
    else:
        raise AttributeError(f"module 'vidbench' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """`vidbench.evaluate` is the API function, though a submodule has that name too: importing
    the submodule must not replace the function (the submodule stays in sys.modules, which is
    what `from vidbench.evaluate import X` reads)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
