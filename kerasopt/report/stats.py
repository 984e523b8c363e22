"""Report statistics: intervals of the mean over seeds, paired comparisons, time-to-target, curve bands.

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

TIME_AXES = ("step", "epoch", "evaluations", "seconds")  # history columns a cost can be read on
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


def paired_p_value(values: dict, best: dict) -> float:
    """Two-sided p-value of the paired t test (per-seed differences against 0); NaN below two pairs.

    Zero spread: 1.0 when every difference is 0, else 0.0 (the sign is certain).
    """
    seeds = sorted(set(values) & set(best))
    differences = np.asarray([values[seed] - best[seed] for seed in seeds], dtype=float)
    if differences.size < 2:
        return math.nan
    spread = differences.std(ddof=1)
    if spread == 0:
        return 1.0 if np.all(differences == 0) else 0.0
    statistic = differences.mean() / (spread / math.sqrt(differences.size))
    return float(2 * _scipy_stats.t.sf(abs(statistic), differences.size - 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input order; NaN stays NaN.

    Sorted ascending, the i-th of m p-values (0-based) becomes ``max_{j<=i} min(1, (m - j) * p_(j))``;
    rejecting where the adjusted value is below alpha controls the family-wise error rate at alpha.
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (len(indexed) - rank) * p))
        adjusted[i] = running
    return adjusted


def worse_by_test(mean_difference: float, adjusted_p: float, mode: str, alpha: float = 0.05) -> str:
    """``"yes"`` / ``"better"`` when the Holm-adjusted paired test rejects at ``alpha`` on the worse /
    better side, ``"no"`` when it does not, ``"?"`` without a test."""
    if math.isnan(adjusted_p):
        return "?"
    if adjusted_p >= alpha:
        return "no"
    worse = mean_difference > 0 if mode == "min" else mean_difference < 0
    return "yes" if worse else "better"


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


def reaches(value: float, target: float, mode: str) -> bool:
    """Whether ``value`` meets ``target`` (``mode="min"``: at most; ``"max"``: at least)."""
    return value <= target if mode == "min" else value >= target


def time_to_target(history: Sequence[dict], metric: str, target: float, mode: str,
                   axes: Sequence[str] = ("step", "evaluations", "seconds")) -> dict[str, float]:
    """Cost until the metric first meets the target.

    Args:
        history: rows in order with the ``axes`` columns and ``metric``
            (``kerasopt.records.read_history``); rows without a finite metric are skipped.
        metric: the column to watch.
        target: the value to reach.
        mode: ``"min"`` or ``"max"`` (see `reaches`).
        axes: the cost columns to return (``step``, ``epoch``, ``evaluations``, ``seconds``).

    Returns:
        ``{axis: value}`` of the first row that reaches the target; every value
        ``inf`` when no row does (NaN for an axis the row lacks).
    """
    for row in history:
        value = row.get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value) and reaches(value, target, mode):
            return {axis: float(row[axis]) if row.get(axis) is not None else math.nan for axis in axes}
    return {axis: math.inf for axis in axes}


def median_cost(costs: Sequence[float]) -> float:
    """Median over seeds, an unreached seed counting as ``inf`` (inf unless more than half reach it)."""
    return float(np.median(np.asarray(costs, dtype=float))) if len(costs) else math.nan


def band(curves: Sequence[tuple[Sequence[float], Sequence[float]]], points: int = 100):
    """Mean and min–max band of several curves on a shared x grid.

    Each curve ``(x, y)`` (x increasing) is linearly interpolated onto
    ``points`` values from the largest first x to the smallest last x, so no
    curve is extrapolated.

    Returns:
        ``(grid, mean, low, high)`` arrays, or None when the curves do not overlap.
    """
    curves = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves if len(x)]
    if not curves:
        return None
    start, stop = max(x[0] for x, _ in curves), min(x[-1] for x, _ in curves)
    if stop < start:
        return None
    grid = np.linspace(start, stop, points) if stop > start else np.array([start])
    stacked = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)
