"""Intervals of a mean over seeds, paired differences, and the pooled Dice over seeds and test images.

With the 3–10 seeds a study can afford, a percentile bootstrap covers far less
than its nominal level (measured: 0.50 at n=2, 0.75 at n=3, 0.85 at n=5), so the
interval of a mean is Student's t (`mean_interval`); the bootstrap is used only
from `BOOTSTRAP_MIN_N` seeds on. NumPy/SciPy only; no TensorFlow.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats

BOOTSTRAP_MIN_N = 30


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean: ``mean ± t_{n-1} * s / sqrt(n)``.

    Returns:
        ``(mean, low, high)``; all NaN for no values; for one value the mean and
        NaN bounds (one seed cannot estimate a spread).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size == 1:
        return mean, math.nan, math.nan
    half = float(_scipy_stats.t.ppf((1 + confidence) / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The report's interval of a mean over seeds: `t_interval`, or `bootstrap_ci` from `BOOTSTRAP_MIN_N` values."""
    if len(values) >= BOOTSTRAP_MIN_N:
        return bootstrap_ci(values, confidence)
    return t_interval(values, confidence)


def paired_difference(values: dict, best: dict, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and t interval of the per-seed differences ``values[seed] - best[seed]`` over shared seeds.

    Pairing by seed removes what the seeds share (start image, initial weights,
    data order), so a difference can be significant where the two unpaired
    intervals overlap.

    Returns:
        ``(mean, low, high, n_pairs)``; NaN where fewer than two pairs exist.
    """
    seeds = sorted(set(values) & set(best))
    differences = [values[seed] - best[seed] for seed in seeds]
    mean, low, high = t_interval(differences, confidence)
    return mean, low, high, len(seeds)


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean.

    Resamples ``values`` with replacement ``n_resamples`` times, takes each
    resample's mean and returns the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles of those means (Efron & Tibshirani 1993, ch. 13).

    Args:
        values: one metric value per seed (finite).
        confidence: coverage of the interval, in (0, 1).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator (the report is reproducible).

    Returns:
        ``(mean, low, high)``; all NaN for no values, ``low = high = mean``'s
        single value for one value (no spread can be estimated from one seed).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


def seeds_and_images_interval(counts_by_seed: Sequence, confidence: float = 0.95, resamples: int = 2000,
                              seed: int = 0) -> tuple[float, float, float]:
    """Mean over seeds of the pooled Dice ``2 TP / (2 TP + FP + FN)`` with a two-level percentile bootstrap
    interval that includes the test images' sampling error: each resample draws seeds with replacement
    and, once for all of them (every seed is scored on the same test images), images with replacement.

    Args:
        counts_by_seed: per seed, an int array (N images, 3) of ``(TP, FP, FN)``; the same N images each.

    Returns:
        ``(mean, low, high)``; NaN without seeds.
    """
    counts = [np.asarray(c, dtype=float) for c in counts_by_seed]
    if not counts:
        return math.nan, math.nan, math.nan

    def dice(totals):
        denominator = 2 * totals[..., 0] + totals[..., 1] + totals[..., 2]
        return np.where(denominator > 0, 2 * totals[..., 0] / np.where(denominator > 0, denominator, 1), 1.0)

    stacked = np.stack(counts)  # (seeds, images, 3)
    mean = float(np.mean(dice(stacked.sum(axis=1))))
    rng = np.random.default_rng(seed)
    n_seeds, n_images = stacked.shape[:2]
    draws = np.empty(resamples)
    for b in range(resamples):
        seeds = rng.integers(0, n_seeds, n_seeds)
        images = rng.integers(0, n_images, n_images)
        draws[b] = np.mean(dice(stacked[seeds][:, images].sum(axis=1)))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return mean, float(low), float(high)
