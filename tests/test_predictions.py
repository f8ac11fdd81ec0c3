"""Predictions files: every problem listed, with where; formats converted."""

from __future__ import annotations

import json

import pytest

from tests.test_scoring import make_sample
from vidbench.contracts import DifferencePrediction, PredictionRecord, Status
from vidbench.errors import UserError
from vidbench.predictions import (
    cap_open_predictions,
    load_predictions,
    records_to_predictions,
    validate_or_raise,
)

SAMPLES = [
    make_sample("fitness_12", {"0": "a", "3": "b", "5": None, "7": "c"}),
    make_sample("fitness_13", {"1": "b"}),
]


def wheres(problems):
    return {p.where for p in problems}


def test_closed_native_and_shorthand(tmp_path):
    path = tmp_path / "p.json"
    three = {"description": "d", "prediction": "b"}
    path.write_text(
        json.dumps({"fitness_12": {"0": "a", "3": three, "7": "a"}, "fitness_13": {"1": "b"}})
    )
    preds, problems, warnings = load_predictions(path, SAMPLES, "closed")
    assert problems == []
    assert preds["fitness_12"]["0"] == DifferencePrediction("", "a")
    assert preds["fitness_12"]["3"] == DifferencePrediction("d", "b")
    assert warnings == []


def test_closed_lists_every_problem_with_where(tmp_path):
    path = tmp_path / "p.json"
    # Duplicate sample key and duplicate difference key only exist in the raw text.
    path.write_text(
        '{"fitness_12": {"0": "x", "5": "a", "9": "a", "3": "b", "3": "a"},'
        ' "nope_1": {}, "fitness_12": {"0": "c", "5": "a", "9": "b"}}'
    )
    preds, problems, _ = load_predictions(path, SAMPLES, "closed", strict=True)
    w = wheres(problems)
    assert "sample 'fitness_12'" in w  # duplicate sample key
    assert "sample 'nope_1'" in w  # unknown sample
    assert "sample 'fitness_13'" in w  # missing sample
    assert "sample 'fitness_12' difference '0'" in w  # 'c' is not a/b
    assert "sample 'fitness_12' difference '5'" in w  # null label
    assert "sample 'fitness_12' difference '9'" in w  # unknown difference
    whats = " ".join(p.what for p in problems)
    assert "more than once" in whats and "unknown sample key" in whats
    assert "null label" in whats and "not 'a' or 'b'" in whats
    # What could be read is still returned: the invalid answer becomes None (wrong).
    assert preds["fitness_12"]["0"].prediction is None
    assert len(problems) == 6


def test_duplicate_difference_key_detected(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"fitness_12": {"0": "a", "0": "b"}, "fitness_13": {}}')
    _, problems, warnings = load_predictions(path, SAMPLES, "closed")
    assert [p.where for p in problems] == ["sample 'fitness_12' difference '0'"]
    assert any("no prediction" in w for w in warnings)  # 3 and 7 of fitness_12, 1 of fitness_13


def test_malformed_json_gives_line_and_column(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"fitness_12": {"0": "a",\n  "3": }}')
    preds, problems, _ = load_predictions(path, SAMPLES, "closed")
    assert preds == {} and len(problems) == 1
    assert problems[0].where == f"{path} line 2 column 8"
    assert "malformed JSON" in problems[0].what


def test_open_checks():
    data = {
        "fitness_12": {str(i): {"description": f"d{i}", "prediction": "a"} for i in range(6)},
        "fitness_13": {
            "0": {"description": "  ", "prediction": "b"},
            "1": {"description": "ok", "prediction": "B"},
            "2": "a",
        },
    }
    data["fitness_12"]["0"]["prediction"] = "c"
    # fitness_12 has 3 labelled -> max_differences 5; fitness_13 has 1 -> max_differences 2.
    preds, problems, _ = load_predictions(data, SAMPLES, "open", strict=True)
    w = [p.where for p in problems]
    assert "sample 'fitness_12'" in w  # over the cap (6 > 5)
    assert "sample 'fitness_12' difference '0'" in w  # 'c'
    assert "sample 'fitness_13' difference '0'" in w  # empty description
    assert "sample 'fitness_13' difference '1'" in w  # 'B'
    assert "sample 'fitness_13' difference '2'" in w  # shorthand not allowed in open mode
    assert "sample 'fitness_13'" in w  # over the cap (3 > 2)
    assert len(problems) == 6
    assert len(preds["fitness_12"]) == 6


def test_list_format_converted_with_warning():
    data = [{"0": {"prediction": "a"}, "3": {"prediction": "b"}}, {"1": "a"}]
    preds, problems, warnings = load_predictions(data, SAMPLES, "closed")
    assert problems == []
    assert preds["fitness_13"]["1"].prediction == "a"
    assert any("position" in w for w in warnings)
    _, problems, _ = load_predictions(data[:1], SAMPLES, "closed")
    assert any("1 entries but there are 2 samples" in p.what for p in problems)


def test_top_level_must_be_object_or_list():
    _, problems, _ = load_predictions(3, SAMPLES, "closed")  # type: ignore[arg-type]
    assert problems and "top level" in problems[0].what


def test_validate_or_raise_lists_all(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"fitness_12": {"0": "z", "9": "a"}}))
    with pytest.raises(UserError) as info:
        validate_or_raise(path, SAMPLES, "closed", strict=True)
    text = info.value.render()
    assert "3 problem(s)" in text
    assert "difference '0'" in text and "difference '9'" in text and "'fitness_13'" in text
    assert info.value.where == str(path) and info.value.exit_code == 2
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"fitness_12": {"0": "a"}, "fitness_13": {"1": "a"}}))
    preds, _ = validate_or_raise(ok, SAMPLES, "closed")
    assert preds["fitness_13"]["1"].prediction == "a"


def test_answers_other_than_a_b_are_wrong_with_a_warning(monkeypatch):
    """As the reference scorer: 'c', null, 'A' count as wrong; here they are also listed."""
    data = {"fitness_12": {"0": "c", "3": None, "7": "A"}, "fitness_13": {"1": "a"}}
    preds, problems, warnings = load_predictions(data, SAMPLES, "closed")
    assert problems == []
    assert [preds["fitness_12"][k].prediction for k in ("0", "3", "7")] == [None, None, None]
    odd = [w for w in warnings if "not 'a' or 'b': scored as wrong" in w]
    assert len(odd) == 3 and "difference '0'" in odd[0] and "'c'" in odd[0]
    _, problems, _ = load_predictions(data, SAMPLES, "closed", strict=True)
    assert len(problems) == 3
    monkeypatch.setattr("vidbench.predictions.MAX_LISTED_PROBLEMS", 2)
    _, _, warnings = load_predictions(data, SAMPLES, "closed")
    assert warnings[-1] == "... and 1 more answers other than a/b (scored as wrong)"


def test_records_to_predictions_only_ok_and_last_wins():
    ok = PredictionRecord("a", "closed", Status.OK, {"0": DifferencePrediction("", "a")})
    failed = PredictionRecord(
        "b", "closed", Status.PARSE_ERROR, {"0": DifferencePrediction("", "a")}
    )
    retry_b = PredictionRecord("b", "closed", Status.OK, {"0": DifferencePrediction("", "b")})
    swapped = PredictionRecord(
        "a", "closed", Status.OK, {"0": DifferencePrediction("", "b")}, swapped=True
    )
    assert set(records_to_predictions([ok, failed])) == {"a"}
    got = records_to_predictions([ok, failed, retry_b, swapped])
    assert got["b"]["0"].prediction == "b" and got["a"]["0"].prediction == "a"
    assert records_to_predictions([ok, swapped], swapped=True)["a"]["0"].prediction == "b"


def test_cap_keeps_first_in_numeric_order():
    s = make_sample("s", {"0": "a"}, max_differences=2)
    preds = {k: DifferencePrediction(k, "a") for k in ("10", "2", "1")}
    kept, dropped = cap_open_predictions(s, preds)
    assert list(kept) == ["1", "2"] and dropped == ["10"]
