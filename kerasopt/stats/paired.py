"""Paired tests of per-seed differences: the paired t test, the exact sign-flip test, Holm's adjustment.

The paired t p-value is computed here only (`t_p_value`); the verdicts (`kerasopt.stats.verdicts`) and the
report's protocol comparison use it. Pure functions of arrays; no TensorFlow, no files.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as _scipy_stats


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


def paired(values_i: Mapping[int, float], values_j: Mapping[int, float], seeds=None) -> np.ndarray:
    """Per-seed differences ``values_i - values_j`` over their shared seeds (restricted to ``seeds``)."""
    shared = sorted(set(values_i) & set(values_j) & (set(seeds) if seeds is not None else set(values_i)))
    return np.asarray([values_i[s] - values_j[s] for s in shared], dtype=float)


def t_p_value(differences: np.ndarray, side: int = 0) -> float:
    """p-value of the paired t test of mean(differences) = 0: two-sided (``side=0``), or one-sided
    for mean > 0 (``side=1``) / mean < 0 (``side=-1``); NaN below two pairs. Zero spread: the
    sign is certain (p 0 on the tested side, 1 otherwise)."""
    if differences.size < 2:
        return math.nan
    spread = differences.std(ddof=1)
    mean = differences.mean()
    if spread == 0:
        hit = mean != 0 if side == 0 else side * mean > 0
        return 0.0 if hit else 1.0
    statistic = mean / (spread / math.sqrt(differences.size))
    if side == 0:
        return float(2 * _scipy_stats.t.sf(abs(statistic), differences.size - 1))
    return float(_scipy_stats.t.sf(side * statistic, differences.size - 1))


def sign_flip_p_value(differences: np.ndarray, side: int = 0) -> float:
    """Exact p-value of the paired sign-flip test of mean(differences) = 0: the share of the ``2**n``
    sign patterns whose mean is at least as extreme as the observed one (two-sided: in absolute value;
    ``side=1``: as large; ``side=-1``: as small); NaN below two pairs. Exact up to 22 pairs.

    Hand example: differences (1, 2, 3), side 1: only the all-positive pattern reaches the mean 2, so
    p = 1/8; two-sided, the all-negative one too: 2/8."""
    n = differences.size
    if n < 2:
        return math.nan
    if n > 22:
        raise ValueError(f"sign_flip_p_value enumerates 2**n patterns; at most 22 pairs. Received: n={n}")
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)  # (2**n, n) of +-1
    means = signs @ np.abs(differences) / n
    observed = differences.mean()
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))
    if side == 0:
        hits = np.abs(means) >= abs(observed) - tolerance
    else:
        hits = side * means >= side * observed - tolerance
    return float(hits.mean())


def worse_side(mode: str) -> int:
    """The sign of ``value_i - value_j`` when i is worse: +1 for ``min`` (higher is worse), -1 for ``max``."""
    return 1 if mode == "min" else -1
