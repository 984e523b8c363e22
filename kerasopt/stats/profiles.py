"""Performance profiles, benchmark scores and tuning-cost curves: the statistics of the cross-workload
summary (`kerasopt.report.summary`, whose docstring defines them). Pure functions; no files.
"""

from __future__ import annotations

import math

import numpy as np

TAU_MAX = 4.0
RESAMPLES = 2000


def median_time(spent_by_seed: dict) -> float:
    """Median over seeds of the time to target (inf unless more than half reach it)."""
    values = sorted(spent_by_seed.values())
    return float(np.median(values)) if values else math.inf


def ratios(times: dict[str, float]) -> dict[str, float]:
    """``r = t / t_best`` per optimizer of one workload (inf where t is; all inf when nobody reached it)."""
    finite = [t for t in times.values() if math.isfinite(t) and t > 0]
    best = min(finite) if finite else math.inf
    return {name: (t / best if math.isfinite(t) and math.isfinite(best) else math.inf) for name, t in times.items()}


def profile(ratios_by_workload: dict[str, dict[str, float]], taus, names=None) -> dict[str, list[float]]:
    """rho(tau) per optimizer: the fraction of the workloads with r <= tau, at each tau (a workload the
    optimizer did not run is a miss)."""
    names = names or sorted({n for per in ratios_by_workload.values() for n in per})
    result = {}
    for name in names:
        rs = [per.get(name, math.inf) for per in ratios_by_workload.values()]
        result[name] = [sum(r <= tau for r in rs) / len(rs) if rs else math.nan for tau in taus]
    return result


def score(rs: list[float], tau_max: float = TAU_MAX) -> float:
    """Area under rho on [1, tau_max] divided by (tau_max - 1): the mean over workloads of
    ``max(0, tau_max - r) / (tau_max - 1)`` (r >= 1; a miss, r infinite, scores 0)."""
    if not rs:
        return math.nan
    return float(np.mean([max(0.0, tau_max - max(r, 1.0)) / (tau_max - 1.0) for r in rs]))


def scores(ratios_by_workload: dict[str, dict[str, float]], names=None) -> dict[str, float]:
    """The benchmark score of every optimizer over every workload in ``ratios_by_workload`` (not run: a miss)."""
    names = names or sorted({n for per in ratios_by_workload.values() for n in per})
    return {name: score([per.get(name, math.inf) for per in ratios_by_workload.values()]) for name in names}


def expected_best_of_k(values: list, k: int, mode: str) -> float:
    """The expected best of k settings drawn without replacement from ``values`` (None: a failed
    setting, never the best unless all drawn failed, then NaN... counted as the worst)."""
    worst = math.inf if mode == "min" else -math.inf
    sign = 1.0 if mode == "min" else -1.0
    ordered = sorted((v if v is not None and math.isfinite(v) else worst for v in values), key=lambda v: sign * v)
    total = len(ordered)
    if not 1 <= k <= total:
        return math.nan
    expected = 0.0
    for i, value in enumerate(ordered, start=1):
        weight = math.comb(total - i, k - 1) / math.comb(total, k)
        if weight:
            expected += weight * value
    return expected


def best_of_k_interval(values: list, k: int, mode: str, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% interval of the best of the first k settings over random orders of ``values``."""
    worst = math.inf if mode == "min" else -math.inf
    array = np.asarray([v if v is not None and math.isfinite(v) else worst for v in values], float)
    rng = np.random.default_rng(seed)
    pick = np.min if mode == "min" else np.max
    draws = [pick(rng.permutation(array)[:k]) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)
