"""vidbench.stats against values computed by hand or from textbook tables."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vidbench.stats import (
    binomial_p_greater,
    bootstrap_interval,
    bootstrap_mean_of_rates,
    majority_rate,
    mean_of_rates_p_greater,
    wilson_interval,
)


def test_wilson_known_values():
    # 8/10: the textbook Wilson 95% interval is (0.490, 0.943).
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    # 0/10 stays inside [0, 1] with a non-zero upper bound (where the normal interval collapses).
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_binomial_exact_values():
    # P(X >= 8 | n=10, p=0.5) = (45 + 10 + 1) / 1024.
    assert binomial_p_greater(8, 10) == pytest.approx(56 / 1024)
    assert binomial_p_greater(10, 10) == pytest.approx(1 / 1024)
    assert binomial_p_greater(0, 10) == pytest.approx(1.0)
    # Against another null: P(X >= 3 | n=3, p=0.8) = 0.512.
    assert binomial_p_greater(3, 3, 0.8) == pytest.approx(0.512)
    assert binomial_p_greater(0, 0) is None


def test_binomial_matches_exact_rational_sums():
    # Exact tails from integer arithmetic (Fraction), far into the regime where the terms
    # underflow floats, and for nulls other than 1/2.
    from fractions import Fraction
    from math import comb

    for n, k, p0 in [(549, 300, "1/2"), (2000, 1100, "1/2"), (97, 60, "3/5"), (40, 1, "1/100")]:
        p = Fraction(p0)
        exact = sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_p_greater(k, n, float(p)) == pytest.approx(float(exact), rel=1e-9)
    # Past the exact range a log-space sum takes over: it agrees with the exact sum.
    from vidbench.stats import _binomial_tail_exact, _binomial_tail_log

    for n, k, p0 in [(2500, 1400, 0.55), (3000, 1000, 0.3), (2200, 2100, 0.9)]:
        exact = _binomial_tail_exact(k, n, p0)
        assert _binomial_tail_log(k, n, p0) == pytest.approx(exact, rel=1e-9)
        assert binomial_p_greater(k, n, p0) == pytest.approx(exact, rel=1e-9)
    assert binomial_p_greater(11, 10) == 0.0
    assert binomial_p_greater(1, 10, 0.0) == 0.0 and binomial_p_greater(5, 10, 1.0) == 1.0


def test_stats_does_not_import_scipy():
    import subprocess
    import sys

    code = "import sys, vidbench.stats; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_majority_rate():
    assert majority_rate(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert majority_rate(["b"] * 4 + ["a"]) == pytest.approx(0.8)
    assert majority_rate([]) is None


def test_bootstrap_resamples_clusters_and_is_seeded():
    correct = np.array([8, 0, 8, 0, 8, 0, 4, 4])
    total = np.array([8, 8, 8, 8, 8, 8, 8, 8])
    a = bootstrap_interval(correct, total, n_resamples=1000, seed=3)
    b = bootstrap_interval(correct, total, n_resamples=1000, seed=3)
    assert a == b
    assert a[0] < 0.5 < a[1]
    # Cluster resampling: all-or-nothing pairs spread far wider than 64 independent items would.
    item_level = bootstrap_interval(np.r_[np.ones(32), np.zeros(32)], np.ones(64), 1000, 3)
    assert (a[1] - a[0]) > 1.5 * (item_level[1] - item_level[0])
    # A constant rate has a zero-width interval.
    assert bootstrap_interval([2, 2], [4, 4], 200) == (0.5, 0.5)
    assert bootstrap_interval([], []) is None


def test_bootstrap_full_size_is_fast():
    rng = np.random.default_rng(0)
    total = rng.integers(1, 12, 549)
    correct = rng.binomial(total, 0.55)
    start = time.perf_counter()
    lo, hi = bootstrap_interval(correct, total, n_resamples=2000)
    assert time.perf_counter() - start < 1.0
    assert lo < correct.sum() / total.sum() < hi


def test_bootstrap_mean_of_rates_brackets_the_average():
    g1 = ([3, 3, 3, 3], [4, 4, 4, 4])  # 0.75, constant
    g2 = ([1, 1], [4, 4])  # 0.25, constant
    assert bootstrap_mean_of_rates([g1, g2], 500) == (0.5, 0.5)
    assert bootstrap_mean_of_rates([([], [])]) is None


SPLIT_N = (357, 1227, 871)  # scored closed-set items per split (easy, medium, hard)


def test_mean_of_rates_test_matches_simulation_under_chance():
    rng = np.random.default_rng(7)
    draws = np.mean([rng.binomial(n, 0.5, size=200_000) / n for n in SPLIT_N], axis=0)
    for observed in (0.505, 0.515, 0.523, 0.53):
        p = mean_of_rates_p_greater([(observed, n) for n in SPLIT_N])
        simulated = float(np.mean(draws >= observed))
        assert p == pytest.approx(simulated, abs=0.006), observed


def test_mean_of_rates_test_for_the_paper_average():
    # LLaVA-Video-7B closed set: 56.6 / 52.0 / 48.3, Average 52.3 (the paper marks it
    # significant); the pooled rate over the same items is a different number with its own test.
    splits = [(0.566, 357), (0.520, 1227), (0.483, 871)]
    p = mean_of_rates_p_greater(splits)
    assert p is not None and p < 0.05
    assert mean_of_rates_p_greater([(0.5, n) for n in SPLIT_N]) == pytest.approx(0.5)
    assert mean_of_rates_p_greater([(0.6, 0), (0.5, 10)]) == pytest.approx(0.5)  # n=0 left out
    assert mean_of_rates_p_greater([]) is None
