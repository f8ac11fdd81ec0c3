"""Left-to-right Viterbi: assign each frame of a video to one of S ordered sub-action stages.

Two solvers of one model. `viterbi_paper` is the reference code's decoder (the paper's
default): frame by frame, costs added in the reference's order, ties resolved as the reference
resolves them (a transition is taken as LATE as possible). `viterbi` is vidbench's vectorised
solver (the `vidbench` preset): prefix sums, ties resolved to the EARLIEST transitions.

The model is the one VidDiff uses: a path over T frames that starts in stage 0, ends in stage
S-1, never goes back, and never skips a stage, so every stage is one contiguous, non-empty
segment. The path maximises the sum of per-frame stage scores.

Instead of the textbook loop over frames (T Python iterations), the recursion is solved one
stage at a time with prefix sums: with P_s the prefix sum of stage s's scores,

    best[t, s] = P_s[t+1] + max_{s <= j <= t} (best[j-1, s-1] - P_s[j])

and the inner max over j is a running maximum (`np.maximum.accumulate`), so the work is S
vectorised passes over T frames: 2,000 x 8 takes well under a millisecond.

Ties are broken deterministically: among optimal paths the one whose stage starts are smallest,
compared from the last stage backwards (i.e. transitions happen as early as possible).

When there are more stages than frames (S > T) no path can give every stage a frame. Then each
frame gets its own stage, stage indices strictly increase along the video (the order is kept, the
first/last-stage pinning is dropped), the choice maximises the total score, and the stages left
without a frame get empty segments `(p, p)` at the position `p` where they would sit in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StagePath:
    """The Viterbi result.

    `stages[t]` is the stage of frame t. `segments[s]` is the half-open frame range `(start,
    end)` of stage s; it is empty (`start == end`) only when S > T. `score` is the path's total.
    """

    stages: np.ndarray
    segments: list[tuple[int, int]]
    score: float


def _validate(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(f"scores must be a non-empty (frames, stages) matrix, got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    return scores


def segments_from_stages(stages: np.ndarray, n_stages: int) -> list[tuple[int, int]]:
    """Half-open segment per stage from a non-decreasing per-frame stage array; stages without
    frames get an empty segment at their ordered position."""
    stages = np.asarray(stages)
    # searchsorted on the sorted stage array gives each stage's first and one-past-last frame.
    starts = np.searchsorted(stages, np.arange(n_stages), side="left")
    ends = np.searchsorted(stages, np.arange(n_stages), side="right")
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def viterbi(scores: np.ndarray) -> StagePath:
    """Best monotone segmentation of a (frames x stages) score matrix; see the module docstring."""
    scores = _validate(scores)
    n_frames, n_stages = scores.shape
    if n_stages > n_frames:
        return _sparse_path(scores)

    # prefix[t, s] = sum of scores[:t, s]; row 0 is zero.
    prefix = np.zeros((n_frames + 1, n_stages))
    np.cumsum(scores, axis=0, out=prefix[1:])

    best = np.full((n_frames, n_stages), -np.inf)
    best[:, 0] = prefix[1:, 0]
    # gains[s][j] = best[j-1, s-1] - prefix[j, s], kept for the backtrack.
    gains: list[np.ndarray] = [np.empty(0)]
    for s in range(1, n_stages):
        gain = np.full(n_frames, -np.inf)
        gain[1:] = best[:-1, s - 1] - prefix[1:-1, s]
        gains.append(gain)
        best[:, s] = prefix[1:, s] + np.maximum.accumulate(gain)

    # Backtrack: stage s ends at `end`; its start is the first j maximising the gain in [s, end).
    stages = np.empty(n_frames, dtype=np.int64)
    end = n_frames
    for s in range(n_stages - 1, 0, -1):
        start = int(np.argmax(gains[s][:end]))  # argmax returns the first maximum: earliest start
        stages[start:end] = s
        end = start
    stages[:end] = 0
    return StagePath(stages, segments_from_stages(stages, n_stages), float(best[-1, -1]))


def viterbi_paper(emissions: np.ndarray) -> StagePath:
    """The reference decoder on a (frames x stages) matrix of emission scores (log
    probabilities): the path from stage 0 to stage S-1 maximising their sum.

    It runs the reference's recursion frame by frame, adding the same terms
    in the same order (previous cost, then the constant transition cost -log 0.5, then the
    emission), so its float results, and therefore its ties, are the reference's: where moving on
    from the previous stage costs exactly as much as staying, it moves, which in the backtrack
    puts every transition as late as the optimum allows. With more stages than frames the
    reference returns one stage per frame and then crashes on the stages left without one; here
    the sparse rule of `viterbi` applies (a listed fix).
    """
    emissions = _validate(emissions)
    n_frames, n_stages = emissions.shape
    if n_stages > n_frames:
        return _sparse_path(emissions)
    # Plain Python floats: the same IEEE additions as the reference's numpy scalars, without
    # numpy's per-call overhead on rows of a few stages (4x faster than a numpy row loop).
    costs = (-emissions).tolist()
    step = float(-np.log(0.5))  # the reference's transition cost: same for staying and moving on
    inf = float("inf")
    cost = [costs[0][0]] + [inf] * (n_stages - 1)
    moved = [[False] * n_stages for _ in range(n_frames)]  # came from the previous stage
    for t in range(1, n_frames):
        row, prev, flags = costs[t], cost, moved[t]
        cost = [(prev[0] + step) + row[0]] + [0.0] * (n_stages - 1)
        for s in range(1, n_stages):
            stay = (prev[s] + step) + row[s]
            move = (prev[s - 1] + step) + row[s]
            # The reference's argmin lists the previous stage first: ties move on.
            if move <= stay:
                cost[s], flags[s] = move, True
            else:
                cost[s] = stay
    stages = np.empty(n_frames, dtype=np.int64)
    s = n_stages - 1
    for t in range(n_frames - 1, -1, -1):
        stages[t] = s
        if t > 0 and moved[t][s]:
            s -= 1
    total = float(emissions[np.arange(n_frames), stages].sum())
    return StagePath(stages, segments_from_stages(stages, n_stages), total)


def _sparse_path(scores: np.ndarray) -> StagePath:
    """S > T: one distinct stage per frame, strictly increasing, maximising the total score."""
    n_frames, n_stages = scores.shape
    # value[t, s]: best total of frames 0..t with frame t in stage s.
    value = np.full((n_frames, n_stages), -np.inf)
    value[0] = scores[0]
    for t in range(1, n_frames):
        # Best predecessor strictly below s: running max shifted by one stage.
        prev = np.full(n_stages, -np.inf)
        prev[1:] = np.maximum.accumulate(value[t - 1])[:-1]
        value[t] = scores[t] + prev
    stages = np.empty(n_frames, dtype=np.int64)
    limit = n_stages
    for t in range(n_frames - 1, -1, -1):
        s = int(np.argmax(value[t, :limit]))  # lowest stage among ties
        stages[t] = s
        limit = s
    total = float(scores[np.arange(n_frames), stages].sum())
    return StagePath(stages, segments_from_stages(stages, n_stages), total)


def viterbi_reference(scores: np.ndarray) -> StagePath:
    """The textbook frame-by-frame Viterbi in pure Python: the benchmark baseline and a second
    implementation for tests (same model and tie rule; requires S <= T)."""
    scores = _validate(scores)
    n_frames, n_stages = scores.shape
    if n_stages > n_frames:
        raise ValueError("the reference Viterbi needs at least as many frames as stages")
    rows = scores.tolist()
    neg = float("-inf")
    best = [[neg] * n_stages for _ in range(n_frames)]
    advanced = [[False] * n_stages for _ in range(n_frames)]
    best[0][0] = rows[0][0]
    for t in range(1, n_frames):
        for s in range(n_stages):
            stay = best[t - 1][s]
            move = best[t - 1][s - 1] if s > 0 else neg
            # Backtracking prefers 'stay' on ties, which makes transitions as early as possible.
            if move > stay:
                best[t][s], advanced[t][s] = move + rows[t][s], True
            else:
                best[t][s] = stay + rows[t][s]
    stages = [0] * n_frames
    s = n_stages - 1
    for t in range(n_frames - 1, -1, -1):
        stages[t] = s
        if t > 0 and advanced[t][s]:
            s -= 1
    arr = np.asarray(stages, dtype=np.int64)
    return StagePath(arr, segments_from_stages(arr, n_stages), best[-1][-1])
