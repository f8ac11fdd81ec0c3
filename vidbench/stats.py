"""Small statistics for accuracy-like rates: intervals, exact binomial tests, cluster bootstrap.

Everything returns plain floats (or None where a quantity is undefined, e.g. n = 0) so results
drop straight into metrics.json.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n trials (95% by default); None when n = 0.

    Wilson rather than the normal approximation because it stays inside [0, 1] and behaves at
    small n and extreme rates, both common in per-action breakdowns.
    """
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_p_greater(k: int, n: int, p0: float = 0.5) -> float | None:
    """Exact one-sided binomial p-value for H1: true rate > p0; None when n = 0."""
    if n <= 0:
        return None
    k, n, p0 = int(k), int(n), float(p0)
    if not 0.0 <= p0 <= 1.0:
        raise ValueError(f"p0 must be in [0, 1], got {p0}")
    if k <= 0 or p0 >= 1.0:
        return 1.0
    if k > n or p0 <= 0.0:
        return 0.0
    # Written out rather than imported: scipy.stats costs ~2 s to import for this one number.
    if n <= (_EXACT_MAX_N_HALF if p0 == 0.5 else _EXACT_MAX_N):
        return _binomial_tail_exact(k, n, p0)
    return _binomial_tail_log(k, n, p0)


# Exact sums take ~0.1 s at n = 2,000 for a general p0 (the integers grow with n * 53 bits) and
# milliseconds at n = 5,000 for p0 = 1/2; beyond, a log-space sum is accurate to ~1e-12.
_EXACT_MAX_N = 2_000
_EXACT_MAX_N_HALF = 100_000


def _binomial_tail_exact(k: int, n: int, p0: float) -> float:
    """P(X >= k) in exact integer arithmetic, correctly rounded: p0 is a float, so it is a/b
    exactly (b a power of two) and the tail is sum C(n, i) a^i (b - a)^(n - i) / b^n."""
    a, b = p0.as_integer_ratio()
    c = b - a
    # Horner from i = n down: u = sum_{i >= m} C(n, i) a^(i - m) c^(n - i), so each step
    # multiplies by a small number instead of raising big powers.
    u, c_pow, binom = 0, 1, 1  # c^(n - m) and C(n, m) at m = n
    for m in range(n, k - 1, -1):
        u = binom * c_pow + a * u
        c_pow *= c
        binom = binom * m // (n - m + 1)
    return float(Fraction(a**k * u, b**n))


def _binomial_tail_log(k: int, n: int, p0: float) -> float:
    """P(X >= k) summed in log space, for n too large for exact integers to be quick."""
    log_p, log_q = math.log(p0), math.log1p(-p0)
    log_n_fact = math.lgamma(n + 1)
    terms = [
        log_n_fact - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    peak = max(terms)
    return min(1.0, math.exp(peak) * math.fsum(math.exp(t - peak) for t in terms))


def majority_rate(labels: Iterable[str]) -> float | None:
    """Share of the most frequent label (the accuracy of always answering the majority class)."""
    counts = Counter(labels)
    total = sum(counts.values())
    if total == 0:
        return None
    return max(counts.values()) / total


def _resample_indices(n_clusters: int, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(n_resamples, n_clusters))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.nanquantile(values, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def bootstrap_interval(
    correct: Sequence[float] | np.ndarray,
    total: Sequence[float] | np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of sum(correct)/sum(total), resampling whole clusters.

    One cluster is one video pair: its differences share videos and a method's view of them, so
    they are not independent and resampling items would understate the spread. `correct[i]` and
    `total[i]` are the counts of cluster i. Vectorised: one (n_resamples x n_clusters) index draw.
    None when there is nothing scored.
    """
    c = np.asarray(correct, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    keep = t > 0  # clusters with nothing scored change nothing but the resampling weights
    c, t = c[keep], t[keep]
    if t.size == 0:
        return None
    idx = _resample_indices(t.size, n_resamples, seed)
    num = c[idx].sum(axis=1)
    den = t[idx].sum(axis=1)
    return _percentiles(num / den, level)


def bootstrap_mean_of_rates(
    groups: Sequence[tuple[Sequence[float], Sequence[float]]],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Interval of the unweighted mean of several group rates (the paper's split "Average").

    Stratified: clusters are resampled within each group independently (a pair belongs to exactly
    one split), then the group rates are averaged. Groups with no scored cluster are left out, as
    they are left out of the average itself.
    """
    rates = []
    for gi, (correct, total) in enumerate(groups):
        c = np.asarray(correct, dtype=np.float64)
        t = np.asarray(total, dtype=np.float64)
        keep = t > 0
        c, t = c[keep], t[keep]
        if t.size == 0:
            continue
        # A different stream per group, still fixed by `seed`, so groups are independent draws.
        idx = _resample_indices(t.size, n_resamples, seed + 1000003 * (gi + 1))
        rates.append(c[idx].sum(axis=1) / t[idx].sum(axis=1))
    if not rates:
        return None
    return _percentiles(np.mean(np.stack(rates), axis=0), level)


def mean_of_rates_p_greater(groups: Sequence[tuple[float, int]], p0: float = 0.5) -> float | None:
    """One-sided p-value for H1: the unweighted mean of several group rates (the paper's split
    "Average") exceeds p0. `groups` holds (rate, n) per group; groups with n = 0 are left out, as
    they are left out of the average.

    Under H0 every item is right with probability p0, independently, so rate_g has variance
    p0(1-p0)/n_g and the mean of G rates has variance sum_g p0(1-p0)/n_g / G^2. The statistic
    z = (mean - p0) / sd is referred to the standard normal. With the benchmark's hundreds of items
    per split the normal approximation is accurate (each rate is a scaled binomial); the exact
    distribution of a sum of differently scaled binomials has no closed form. The pooled rate has
    its own exact binomial test (`binomial_p_greater`): the two answer different questions when
    splits differ in size.
    """
    kept = [(float(r), int(n)) for r, n in groups if n > 0]
    if not kept:
        return None
    mean = sum(r for r, _ in kept) / len(kept)
    var = sum(p0 * (1 - p0) / n for _, n in kept) / len(kept) ** 2
    z = (mean - p0) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def mcnemar_exact(only_a: int, only_b: int) -> float | None:
    """Exact two-sided McNemar p-value: of the discordant items (right in one run only), is the
    split between the runs compatible with 50/50? None when no item is discordant."""
    n = only_a + only_b
    if n == 0:
        return None
    # Two-sided at 0.5 is symmetric: twice the tail beyond the larger count, capped at 1.
    tail = binomial_p_greater(max(only_a, only_b), n, 0.5)
    return None if tail is None else min(1.0, 2.0 * tail)


def paired_bootstrap_difference(
    correct_a: Sequence[float] | np.ndarray,
    correct_b: Sequence[float] | np.ndarray,
    total: Sequence[float] | np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Interval of rate(A) - rate(B) over the same items, resampling whole clusters (pairs) with
    both runs' counts together, so the pairing is kept. None when nothing is scored."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    keep = t > 0
    a, b, t = a[keep], b[keep], t[keep]
    if t.size == 0:
        return None
    idx = _resample_indices(t.size, n_resamples, seed)
    den = t[idx].sum(axis=1)
    return _percentiles((a[idx].sum(axis=1) - b[idx].sum(axis=1)) / den, level)
