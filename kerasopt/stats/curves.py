"""Costs read from training curves: time to a target along every time axis, medians over seeds, seed bands."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

TIME_AXES = ("step", "epoch", "evaluations", "seconds")  # history columns a cost can be read on


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
