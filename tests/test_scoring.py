"""Scoring rules on small hand-built samples with hand-computed answers."""

from __future__ import annotations

import pytest

from vidbench.contracts import (
    Difference,
    DifferencePrediction,
    PredictionRecord,
    Sample,
    SampleInfo,
    Status,
    VideoRef,
)
from vidbench.judge import Judgement
from vidbench.scoring import score_closed, score_localization, score_open

ACTION_SPLIT = {"fitness_0": "easy", "fitness_1": "medium", "music_0": "hard"}


def make_sample(
    key: str,
    labels: dict[str, str | None],
    action: str = "fitness_0",
    max_differences: int | None = None,
    fps: float = 8.0,
    retrieval: tuple[dict, dict] = ({}, {}),
) -> Sample:
    """A pair whose difference k has label labels[k] and description 'statement k'."""
    domain = action.split("_")[0]
    n_labelled = sum(v is not None for v in labels.values())
    info = SampleInfo(
        key=key,
        action=action,
        action_name=action,
        action_description="do it",
        domain=domain,
        split=ACTION_SPLIT[action],
        source_dataset="test",
        sample_hash=0,
        videos=(VideoRef("a.mp4", fps), VideoRef("b.mp4", fps)),
        max_differences=max_differences if max_differences is not None else -(-3 * n_labelled // 2),
    )
    diffs = {
        k: Difference(k, v, name=f"d{k}", description=f"statement {k}") for k, v in labels.items()
    }
    return Sample(info, diffs, retrieval)


def closed(**answers: str) -> dict[str, DifferencePrediction]:
    return {k: DifferencePrediction("", v) for k, v in answers.items()}


def P(description: str, prediction: str) -> DifferencePrediction:
    return DifferencePrediction(description, prediction)


def test_closed_only_ab_scored_missing_wrong_and_c_ignored():
    s = make_sample("fitness_1", {"0": "a", "1": "b", "2": "c", "3": None, "4": "a"})
    # 0 right, 1 wrong, 2 ('c') predicted but not scored, 4 missing -> 1/3.
    m = score_closed([s], {"fitness_1": closed(**{"0": "a", "1": "a", "2": "a"})})
    block = m.splits["easy"]
    assert (block.n, block.n_correct) == (3, 1)
    assert block.accuracy == pytest.approx(1 / 3)
    assert m.missing_predictions == 1
    m.model_dump_json()  # metrics.json-ready


def test_closed_average_is_unweighted_mean_of_splits_not_pooled():
    easy = make_sample("e1", {"0": "a", "1": "a"}, "fitness_0")  # 2/2 right
    med = [make_sample(f"m{i}", {"0": "a", "1": "b"}, "fitness_1") for i in range(3)]  # 0/6
    preds = {"e1": closed(**{"0": "a", "1": "a"})}
    preds.update({f"m{i}": closed(**{"0": "b", "1": "a"}) for i in range(3)})
    m = score_closed([easy, *med], preds, n_resamples=200)
    assert m.splits["easy"].accuracy == 1.0
    assert m.splits["medium"].accuracy == 0.0
    assert m.average == pytest.approx(0.5)
    assert m.pooled == pytest.approx(2 / 8)
    assert list(m.splits) == ["easy", "medium"]  # only splits present
    assert m.by_domain["fitness"].n == 8
    assert m.by_action["fitness_1"].model_dump(exclude_none=True) == {
        "accuracy": 0.0,
        "n": 6,
        "n_correct": 0,
        "wilson": m.by_action["fitness_1"].wilson,
    }


def test_closed_not_ab_prediction_is_wrong_and_counted():
    s = make_sample("s", {"0": "a", "1": "b"})
    m = score_closed([s], {"s": {"0": DifferencePrediction("", None), "1": P("", "b")}})
    assert m.splits["easy"].n_correct == 1 and m.invalid_predictions == 1


def test_closed_significance_and_majority():
    # 10 pairs, 1 item each, 9 labelled 'a' and one 'b'; always answering 'a' gets 9/10.
    samples = [make_sample(f"s{i}", {"0": "a" if i else "b"}) for i in range(10)]
    preds = {f"s{i}": closed(**{"0": "a"}) for i in range(10)}
    block = score_closed(samples, preds, n_resamples=200).splits["easy"]
    assert block.accuracy == pytest.approx(0.9)
    assert block.p_vs_chance == pytest.approx(11 / 1024)  # P(X>=9 | 10, 0.5)
    assert block.significant is True
    assert block.majority_rate == pytest.approx(0.9)
    # vs the majority rate 0.9: P(X >= 9 | 10, 0.9) = 0.9^10 + 10 * 0.9^9 * 0.1
    assert block.p_vs_majority == pytest.approx(0.9**10 + 10 * 0.9**9 * 0.1)
    lo, hi = block.wilson
    assert lo < 0.9 < hi
    assert block.bootstrap[0] <= 0.9 <= block.bootstrap[1]


def test_closed_coverage_counts_failures_as_wrong():
    a = make_sample("a", {"0": "a"})
    b = make_sample("b", {"0": "a"})
    c = make_sample("c", {"0": "a"})
    records = [
        PredictionRecord("a", "closed", Status.OK, closed(**{"0": "a"})),
        PredictionRecord("b", "closed", Status.API_ERROR, error="boom"),
    ]
    m = score_closed([a, b, c], {"a": closed(**{"0": "a"})}, records=records, n_resamples=100)
    assert m.splits["easy"].n == 3 and m.splits["easy"].n_correct == 1
    assert m.coverage.ok == 1 and m.coverage.samples == 3
    assert m.coverage.failures == {"api_error": 1, "no_record": 1}


def judgement(key: str, matches: dict, opposite: dict | None = None, status="ok") -> Judgement:
    return Judgement(
        sample_key=key,
        status=status,
        matches=matches,
        opposite=opposite or {k: False for k in matches},
    )


def test_open_recall_flip_c_pool_and_precision():
    s = make_sample("s", {"0": "a", "1": "b", "2": "c", "3": "b", "4": None}, max_differences=6)
    preds = {"0": P("x", "a"), "1": P("y", "a"), "2": P("z", "b"), "3": P("w", "a")}
    j = judgement(
        "s",
        {"0": "0", "1": "1", "2": "2", "3": None},
        {"0": False, "1": True, "2": False, "3": False},
    )
    m = score_open([s], {"s": preds}, {"s": j}, n_resamples=100)
    # gt 0 right; gt 1 matched to 'a' but opposite -> flipped to 'b' -> right; gt 2 is 'c' (not
    # scored, but it absorbed pred 2); gt 3 unmatched. Recall 2/3.
    block = m.splits["easy"]
    assert (block.n, block.n_correct) == (3, 2)
    assert m.pooled == pytest.approx(2 / 3)
    assert m.precision == pytest.approx(2 / 4)
    assert m.f1 == pytest.approx(2 * (0.5 * 2 / 3) / (0.5 + 2 / 3))
    assert m.unmatched_rate == pytest.approx(1 / 3)
    assert m.wrong_direction_rate == pytest.approx(0.0)
    assert m.mean_predictions == 4


def test_open_wrong_direction_without_flip():
    s = make_sample("s", {"0": "a", "1": "b"})
    j = judgement("s", {"0": "1", "1": "0"})
    m = score_open([s], {"s": {"0": P("x", "a"), "1": P("y", "b")}}, [j], n_resamples=100)
    assert m.pooled == 0.0 and m.wrong_direction_rate == 1.0 and m.unmatched_rate == 0.0


def test_open_judge_failure_counts_all_unmatched():
    s1 = make_sample("s1", {"0": "a", "1": "b"})
    s2 = make_sample("s2", {"0": "a"})
    preds = {"s1": {"0": P("x", "a")}, "s2": {"0": P("x", "a")}}
    # A failure record that still carries matches must not be used.
    js = {
        "s1": judgement("s1", {"0": "0", "1": None}, status="judge_failure"),
        "s2": judgement("s2", {"0": "0"}),
    }
    m = score_open([s1, s2], preds, js, n_resamples=100)
    assert m.judge_failures == 1 and m.judge_failure_samples == ["s1"]
    assert m.pooled == pytest.approx(1 / 3)
    assert m.unmatched_rate == pytest.approx(2 / 3)


def test_open_cap_limits_predictions_counted():
    s = make_sample("s", {"0": "a"}, max_differences=2)
    preds = {str(i): P(f"p{i}", "a") for i in range(5)}
    # The judge (wrongly) matched a prediction beyond the cap: it is not credited.
    m = score_open([s], {"s": preds}, {"s": judgement("s", {"0": "4"})}, n_resamples=100)
    assert m.pooled == 0.0 and m.n_predictions == 2


def test_open_missing_judgement_counted():
    s = make_sample("s", {"0": "a"})
    m = score_open([s], {}, {}, n_resamples=100)
    assert m.judge_missing == 1 and m.pooled == 0.0 and m.precision is None


def test_localization_nearest_frame_and_skips_null():
    s = make_sample(
        "s",
        {"0": "a", "1": "b", "2": "a"},
        fps=8.0,
        retrieval=({"0": [16, 20], "1": None, "2": [0]}, {"0": [8], "1": [4], "2": None}),
    )
    rec = PredictionRecord(
        "s",
        "closed",
        Status.OK,
        closed(**{"0": "a"}),
        localization={"0": ([4, 14], [8]), "1": ([0], [12]), "2": ([40], [])},
    )
    loc = score_localization([s], [rec])
    a = loc.splits["easy"]["a"]
    b = loc.splits["easy"]["b"]
    # video A: diff 0 nearest of (4, 14) to 16 -> 2 frames = 0.25 s; diff 1 gt null (skipped);
    # diff 2: |40 - 0| / 8 = 5 s.
    assert a.n == 2 and a.mean_abs_s == pytest.approx((0.25 + 5.0) / 2)
    assert a.within_half_s == pytest.approx(0.5) and a.within_1s == pytest.approx(0.5)
    # video B: diff 0 exact; diff 1 |12 - 4| / 8 = 1 s (within 1 s, not 0.5 s); diff 2 gt null.
    assert b.n == 2 and b.mean_abs_s == pytest.approx(0.5)
    assert b.within_half_s == pytest.approx(0.5) and b.within_1s == pytest.approx(1.0)
    assert loc.overall["both"].n == 4
    assert score_localization([s], [PredictionRecord("s", "closed", Status.OK)]) is None
    assert loc is not None and loc.model_dump_json()


def test_localization_ignores_open_mode_candidate_keys():
    # Open-mode keys "0".."n-1" are the method's own candidates, not ground-truth keys.
    s = make_sample("s", {"0": "a"}, fps=8.0, retrieval=({"0": [16]}, {"0": [8]}))
    rec = PredictionRecord(
        "s", "open", Status.OK, closed(**{"0": "a"}), localization={"0": ([16], [8])}
    )
    assert score_localization([s], [rec]) is None
