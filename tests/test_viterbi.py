"""The VidDiff Viterbi against brute-force enumeration of every monotone segmentation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vidbench_methods.viddiff.viterbi import segments_from_stages, viterbi, viterbi_reference


def _brute_force(scores: np.ndarray) -> tuple[float, list[int]]:
    """Best path by enumeration, with the documented tie rule.

    S <= T: every split of T frames into S non-empty contiguous segments. S > T: every strictly
    increasing choice of T distinct stages. Ties: smallest stage starts compared from the last
    stage backwards (S <= T), lowest stages compared from the last frame backwards (S > T).
    """
    n_frames, n_stages = scores.shape
    candidates = []
    if n_stages <= n_frames:
        for cuts in itertools.combinations(range(1, n_frames), n_stages - 1):
            bounds = (0, *cuts, n_frames)
            stages = [s for s in range(n_stages) for _ in range(bounds[s], bounds[s + 1])]
            starts = bounds[:-1]
            total = sum(scores[t, s] for t, s in enumerate(stages))
            candidates.append((-total, tuple(reversed(starts)), stages))
    else:
        for chosen in itertools.combinations(range(n_stages), n_frames):
            total = sum(scores[t, s] for t, s in enumerate(chosen))
            candidates.append((-total, tuple(reversed(chosen)), list(chosen)))
    best = min(candidates, key=lambda c: (c[0], c[1]))
    return -best[0], best[2]


@pytest.mark.parametrize("seed", range(60))
def test_matches_brute_force_on_random_integer_scores(seed):
    # Small integer scores make ties frequent, so the tie rule is exercised too.
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(1, 9))
    n_stages = int(rng.integers(1, 5))
    scores = rng.integers(0, 3, size=(n_frames, n_stages)).astype(float)
    total, stages = _brute_force(scores)
    path = viterbi(scores)
    assert path.stages.tolist() == stages
    assert path.score == pytest.approx(total)
    if n_stages <= n_frames:
        ref = viterbi_reference(scores)
        assert ref.stages.tolist() == stages
        assert ref.score == pytest.approx(total)


@pytest.mark.parametrize("seed", range(30))
def test_matches_brute_force_on_continuous_scores(seed):
    rng = np.random.default_rng(1000 + seed)
    n_frames, n_stages = int(rng.integers(4, 9)), int(rng.integers(2, 5))
    scores = rng.normal(size=(n_frames, n_stages))
    total, stages = _brute_force(scores)
    path = viterbi(scores)
    assert path.stages.tolist() == stages
    assert path.score == pytest.approx(total)


def test_path_is_monotone_contiguous_and_covers_every_stage():
    rng = np.random.default_rng(7)
    path = viterbi(rng.normal(size=(500, 6)))
    assert path.stages[0] == 0 and path.stages[-1] == 5
    assert np.all(np.diff(path.stages) >= 0) and np.all(np.diff(path.stages) <= 1)
    assert [b - a for a, b in path.segments] == np.bincount(path.stages).tolist()
    assert path.segments[0][0] == 0 and path.segments[-1][1] == 500
    assert all(b > a for a, b in path.segments)


def test_recovers_a_planted_segmentation():
    truth = np.repeat(np.arange(4), [30, 10, 50, 10])
    scores = np.random.default_rng(3).normal(scale=0.1, size=(100, 4))
    scores[np.arange(100), truth] += 1.0
    assert viterbi(scores).stages.tolist() == truth.tolist()


def test_one_frame_one_stage():
    path = viterbi(np.array([[0.5]]))
    assert path.stages.tolist() == [0] and path.segments == [(0, 1)] and path.score == 0.5


def test_one_frame_many_stages_takes_the_best_stage():
    path = viterbi(np.array([[0.1, 0.9, 0.3]]))
    assert path.stages.tolist() == [1]
    assert path.segments == [(0, 0), (0, 1), (1, 1)]


def test_equal_frames_and_stages_is_the_diagonal():
    scores = np.random.default_rng(0).normal(size=(5, 5))
    assert viterbi(scores).stages.tolist() == [0, 1, 2, 3, 4]


def test_more_stages_than_frames_keeps_order_and_leaves_empty_segments():
    scores = np.zeros((2, 5))
    scores[0, 3] = 1.0  # would like stage 3 first ...
    scores[1, 1] = 5.0  # ... but frame 1 wants stage 1 much more: order forces frame 0 to stage 0
    path = viterbi(scores)
    assert path.stages.tolist() == [0, 1]
    assert path.segments == [(0, 1), (1, 2), (2, 2), (2, 2), (2, 2)]


def test_ties_are_deterministic_transitions_as_early_as_possible():
    path = viterbi(np.zeros((6, 3)))
    assert path.stages.tolist() == [0, 1, 2, 2, 2, 2]
    sparse = viterbi(np.zeros((2, 4)))
    assert sparse.stages.tolist() == [0, 1]


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        viterbi(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        viterbi(np.zeros(4))
    with pytest.raises(ValueError):
        viterbi(np.array([[np.nan, 1.0]]))


def test_segments_from_stages_handles_gaps():
    assert segments_from_stages(np.array([0, 0, 2]), 4) == [(0, 2), (2, 2), (2, 3), (3, 3)]


# ---------------------------------------------------------------- the paper's log objective

from vidbench_methods.viddiff.localizer import minmax_columns, segment  # noqa: E402
from vidbench_methods.viddiff.viterbi import viterbi_paper  # noqa: E402


def _paths(n_frames: int, n_stages: int):
    """Every monotone segmentation: stage starts 0 = s_0 < s_1 < ... < s_{S-1} < T."""
    for cuts in itertools.combinations(range(1, n_frames), n_stages - 1):
        starts = (0, *cuts)
        stages = np.zeros(n_frames, dtype=np.int64)
        for s, a in enumerate(starts):
            stages[a:] = s
        yield starts, stages


def _brute_force_latest(emissions: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Best total; among ties, the latest stage starts compared from the last stage back."""
    n_frames, n_stages = emissions.shape
    best, best_key, best_stages = -np.inf, None, None
    for starts, stages in _paths(n_frames, n_stages):
        total = float(emissions[np.arange(n_frames), stages].sum())
        key = tuple(reversed(starts))
        if total > best + tol or (abs(total - best) <= tol and key > best_key):
            best, best_key, best_stages = max(total, best), key, stages
    return best_stages


@pytest.mark.parametrize("seed", range(60))
def test_paper_viterbi_matches_brute_force_with_exact_ties(seed):
    # Small integer log-scores: sums are exact, so ties are real ties.
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(2, 9))
    n_stages = int(rng.integers(1, min(n_frames, 4) + 1))
    emissions = -rng.integers(0, 3, size=(n_frames, n_stages)).astype(float)
    assert viterbi_paper(emissions).stages.tolist() == _brute_force_latest(emissions).tolist()


def test_paper_viterbi_breaks_ties_late_and_vidbench_early():
    flat = np.zeros((6, 2))
    assert viterbi_paper(flat).segments == [(0, 5), (5, 6)]  # the reference: as late as possible
    assert viterbi(flat).segments == [(0, 1), (1, 6)]  # the vidbench preset: as early


@pytest.mark.parametrize("seed", range(40))
def test_segment_maximises_the_sum_of_log_minmax_scores(seed):
    rng = np.random.default_rng(100 + seed)
    n_frames = int(rng.integers(3, 10))
    n_stages = int(rng.integers(1, min(n_frames, 4) + 1))
    scores = rng.normal(size=(n_frames, n_stages))
    probs = minmax_columns(scores)
    probs[probs == 0] = 1e-5
    expected = segments_from_stages(_brute_force_latest(np.log(probs), tol=1e-9), n_stages)
    assert segment(scores) == expected


def test_segment_differs_from_the_sum_objective_where_logs_matter():
    # Frame 3 is stage 1's minimum: log(1e-5) makes it a disaster for stage 1 under the log
    # objective only, so the log path keeps stage 1 as short as it can.
    scores = np.array([[0.6, 0.8], [0.6, 0.9], [0.0, 0.5], [0.5, 0.1]])
    assert segment(scores) == [(0, 2), (2, 4)]
    assert viterbi(minmax_columns(scores)).segments == [(0, 1), (1, 4)]
    assert segment(np.ones((3, 4))) == [(0, 1), (1, 2), (2, 3), (3, 3)]  # S > T: no crash
