"""Rankings by the failure-aware median over seeds: the order, the leader, rank intervals, and Kendall's tau
between two rankings. A failed run (diverged, collapsed, failed: None) counts as the worst possible value.

Outcomes are ``optimizer -> {seed: value or None}`` (`kerasopt.results.seed_outcomes`). Pure functions; no files.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from scipy import stats as _scipy_stats

TAU_RESAMPLES = 2000


def on_seeds(outcomes: dict[str, dict[int, float | None]], seeds) -> dict[str, dict[int, float | None]]:
    """``outcomes`` restricted to ``seeds`` (a study's own held-out seeds, which every optimizer shares): what
    the ranking uses, so seeds added to some optimizers only (``more_seeds``) cannot move the ranks."""
    chosen = set(seeds)
    return {name: {s: v for s, v in by_seed.items() if s in chosen} for name, by_seed in outcomes.items()}


def failure_aware_median(values: list, mode: str) -> float:
    """The median over every seed, a failed run (None or NaN: diverged, collapsed, failed) counting as the
    worst possible value (+inf for ``min``, -inf for ``max``); NaN without any run."""
    if not values:
        return math.nan
    worst = math.inf if mode == "min" else -math.inf
    return float(np.median([v if v is not None and math.isfinite(v) else worst for v in values]))


def leader(outcomes: Mapping[str, Mapping[int, float | None]], mode: str) -> str | None:
    """The optimizer with the best `failure_aware_median` (ties: the better mean over completed runs,
    then the first listed): the first of `rank_order`; None when no optimizer has a finite statistic."""
    order = rank_order(outcomes, mode)
    if not order or not math.isfinite(failure_aware_median(list(outcomes[order[0]].values()), mode)):
        return None
    return order[0]


def rank_order(outcomes: Mapping[str, Mapping[int, float | None]], mode: str) -> list[str]:
    """Optimizers best first by `failure_aware_median` (ties: mean over completed, then listed order);
    those without a finite statistic (most runs failed, or none) last, in listed order."""
    sign = 1.0 if mode == "min" else -1.0
    keyed = []
    for index, (name, by_seed) in enumerate(outcomes.items()):
        median = failure_aware_median(list(by_seed.values()), mode)
        completed = [v for v in by_seed.values() if v is not None and math.isfinite(v)]
        keyed.append((not math.isfinite(median), sign * median if math.isfinite(median) else 0.0,
                      sign * float(np.mean(completed)) if completed else 0.0, index, name))
    return [item[-1] for item in sorted(keyed)]


def rank_intervals(outcomes: Mapping[str, Mapping[int, float | None]], mode: str, resamples: int = 2000,
                   confidence: float = 0.95, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Percentile bootstrap interval of each optimizer's rank: its seeds resampled with replacement
    (each optimizer on its own: per-seed results are nearly uncorrelated across optimizers), the
    `failure_aware_median` recomputed, rank = 1 + the number of optimizers with a better statistic.
    Seeded, so a report regenerates identically."""
    rng = np.random.default_rng(seed)
    names = list(outcomes)
    worst = math.inf if mode == "min" else -math.inf
    sign = 1.0 if mode == "min" else -1.0
    samples = [np.asarray([v if v is not None and math.isfinite(v) else worst for v in outcomes[n].values()], float)
               for n in names]
    ranks = np.zeros((resamples, len(names)), int)
    for b in range(resamples):
        stats = np.asarray([sign * np.median(rng.choice(s, size=s.size)) if s.size else math.inf for s in samples])
        ranks[b] = [1 + int(np.sum(stats < stat)) for stat in stats]
    tail = (1 - confidence) / 2 * 100
    return {name: (int(np.percentile(ranks[:, i], tail, method="lower")),
                   int(np.percentile(ranks[:, i], 100 - tail, method="higher"))) for i, name in enumerate(names)}


def kendall_tau(first: dict[str, dict], second: dict[str, dict], mode: str, resamples: int = TAU_RESAMPLES,
                seed: int = 0) -> tuple[float, float, float, int]:
    """Kendall's tau-b between the rankings (by `failure_aware_median`) at two budgets, with a
    95% percentile bootstrap interval: each optimizer's seeds resampled, the same draw at both budgets.

    Args:
        first, second: optimizer -> {seed: value or None} at each budget.

    Returns:
        ``(tau, low, high, optimizers compared)``; NaN with fewer than three optimizers.
    """
    names = [n for n in first if n in second and first[n] and second[n]]
    if len(names) < 3:
        return math.nan, math.nan, math.nan, len(names)

    def tau(pick):
        a = {n: failure_aware_median([first[n].get(s) for s in pick[n]], mode) for n in names}
        b = {n: failure_aware_median([second[n].get(s) for s in pick[n]], mode) for n in names}
        sign = 1.0 if mode == "min" else -1.0
        clip = lambda v: sign * v if math.isfinite(v) else math.inf  # noqa: E731  failures rank last
        return _scipy_stats.kendalltau([clip(a[n]) for n in names], [clip(b[n]) for n in names]).statistic

    seeds = {n: sorted(set(first[n]) & set(second[n])) for n in names}
    estimate = tau(seeds)
    rng = np.random.default_rng(seed)
    draws = [tau({n: list(rng.choice(seeds[n], size=len(seeds[n]))) for n in names}) for _ in range(resamples)]
    draws = [d for d in draws if math.isfinite(d)]
    low, high = (np.percentile(draws, [2.5, 97.5]) if draws else (math.nan, math.nan))
    return float(estimate), float(low), float(high), len(names)
