"""The method boundary is the contract: methods import only contracts, errors and pure helpers;
the registry imports no implementation until asked; credentials come from Method.models."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from vidbench.contracts import ModelEndpoint
from vidbench.errors import UserError

METHODS = Path(__file__).resolve().parent.parent / "methods"
# vidbench.llm stays allowed for its message helpers (image_part, text_part) until they move to
# their own module; the client itself is never used by a method.
FORBIDDEN = ("vidbench.cache", "vidbench.video", "vidbench.registry", "vidbench.runs")
FORBIDDEN += ("vidbench.evaluate", "vidbench.pipeline", "vidbench.dataset")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(METHODS.rglob("*.py")), ids=lambda p: p.name)
def test_methods_import_only_the_contract(path):
    bad = {m for m in _imports(path) if m.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {bad}"
    assert "LLMClient" not in path.read_text() and "get_cache" not in path.read_text()


def test_registry_imports_no_method_until_asked():
    code = (
        "import sys, vidbench.registry as r\n"
        "assert not [m for m in sys.modules if m.startswith('vidbench_methods')], 'eager'\n"
        "names = r.available_methods()\n"
        "assert {'random', 'lmm', 'viddiff', 'gpt-4o', 'qwen2-vl-7b'} <= set(names)\n"
        "print(names['gpt-4o'].summary)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "paper row GPT-4o" in out.stdout  # the class's own named configuration summary


def test_summaries_come_from_the_classes():
    from vidbench.registry import available_methods
    from vidbench_methods.lmm import LMMMethod
    from vidbench_methods.viddiff.method import VidDiffMethod

    entries = available_methods()
    assert entries["viddiff"].summary == VidDiffMethod.summary
    assert entries["lmm"].summary == LMMMethod.summary
    assert entries["claude-3.5-sonnet"].defaults["max_images"] == 100


def test_credential_check_uses_the_declared_models(monkeypatch):
    from vidbench.contracts import RunConfig
    from vidbench.pipeline import check_credentials
    from vidbench.registry import build_method
    from vidbench_methods.viddiff.method import VidDiffMethod

    for var in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    config = VidDiffMethod.Config(localizer="uniform", differencer_model="anthropic/claude-x")
    assert VidDiffMethod.models(config) == [
        ModelEndpoint("gpt-4o-mini-2024-07-18", None),
        ModelEndpoint("anthropic/claude-x", None),
    ]
    method = build_method("viddiff", {"localizer": "uniform"})
    request = RunConfig(method="viddiff", mode="closed")

    class Bench:
        samples: list = []

    with pytest.raises(UserError, match="gpt-4o"):
        check_credentials(request, method, Bench())  # type: ignore[arg-type]
    # An OpenAI-compatible server for the method satisfies it (no key needed there).
    method = build_method("viddiff", {"localizer": "uniform", "api_base": "http://127.0.0.1:9/v1"})
    check_credentials(request, method, Bench())  # type: ignore[arg-type]
