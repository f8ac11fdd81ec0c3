"""vidbench.resume: which differences a resume applies, which it refuses, and what it records."""

from __future__ import annotations

import pytest

from vidbench.errors import UserError
from vidbench.resume import reconcile

SAVED = {
    "method": "lmm",
    "options": {"model": "openai/m", "api_base": "http://old:1/v1", "max_tokens": 256},
    "mode": "closed",
    "dataset": "demo",
    "revision": None,
    "selection": {"split": "all", "domains": [], "limit": None},
    "video_root": None,
    "both_orders": False,
    "judge": None,
    "judge_api_base": None,
}


def test_same_values_and_endpoints_are_applied_and_recorded():
    config, changes = reconcile(
        SAVED,
        {"method": "lmm", "split": "all", "judge_api_base": "http://judge/v1"},
        {"api_base": "http://new:2/v1", "max_tokens": 256, "api_key": "k-123456"},
    )
    assert config["options"]["api_base"] == "http://new:2/v1"
    assert config["options"]["api_key"] == "k-123456"  # used, never recorded
    assert config["judge_api_base"] == "http://judge/v1"
    assert changes == {
        "options.api_base": ["http://old:1/v1", "http://new:2/v1"],
        "judge_api_base": [None, "http://judge/v1"],
    }
    assert SAVED["options"]["api_base"] == "http://old:1/v1"  # the saved dict is untouched


def test_same_endpoint_with_credentials_is_not_a_change():
    config, changes = reconcile(SAVED, {}, {"api_base": "http://u:pw@OLD:1/v1/"})
    assert changes == {} and config["options"]["api_base"] == "http://u:pw@OLD:1/v1/"


def test_every_other_difference_is_refused_and_listed():
    with pytest.raises(UserError) as info:
        reconcile(
            SAVED,
            {"mode": "open", "revision": "abc", "limit": 3, "both_orders": True},
            {"model": "openai/other", "max_tokens": 512, "fps": 2},
        )
    text = info.value.render()
    for needle in (
        "--mode: saved closed, given open",
        "--revision",
        "--limit",
        "--both-orders",
        "-M model: saved openai/m, given openai/other",
        "-M max_tokens: saved 256, given 512",
        "-M fps",
        "7 difference(s)",
    ):
        assert needle in text
    assert info.value.exit_code == 2


def test_an_option_given_with_the_value_the_run_used_is_not_a_difference():
    resolved = {**SAVED["options"], "temperature": 1.0, "fps": None}
    config, changes = reconcile(SAVED, {}, {"temperature": 1.0, "fps": None}, resolved)
    assert changes == {} and config["options"] == SAVED["options"]
    with pytest.raises(UserError):
        reconcile(SAVED, {}, {"temperature": 0.0}, resolved)


def test_a_redacted_credential_is_not_replayed():
    saved = {**SAVED, "options": {**SAVED["options"], "api_key": "<redacted>"}}
    config, _ = reconcile(saved, {}, {})
    assert "api_key" not in config["options"]
