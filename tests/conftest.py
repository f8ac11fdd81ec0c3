"""Shared test setup: offline everywhere, caches in temporary folders."""

import os
import tempfile

# Set before anything imports datasets / huggingface_hub / litellm.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
_session_tmp = tempfile.mkdtemp(prefix="vidbench-tests-")
os.environ.setdefault("HF_HOME", os.path.join(_session_tmp, "hf"))
os.environ["VIDBENCH_CACHE"] = os.path.join(_session_tmp, "cache")
os.environ["VIDBENCH_DEMO_DIR"] = os.path.join(_session_tmp, "demo")
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_API_BASE"):
    os.environ.pop(_key, None)

import pytest  # noqa: E402

from vidbench import cache as _cache  # noqa: E402


@pytest.fixture
def tmp_cache(tmp_path):
    """A fresh process-wide cache for one test."""
    return _cache.use_cache_dir(tmp_path / "cache")


# Fixture modules owned by each area; add one import line per module.
from tests.openai_server import openai_server  # noqa: F401,E402
