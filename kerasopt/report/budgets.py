"""Anytime answers of a study with several ``budgets``: the ranking at each budget, how it changes
between budgets (Kendall's tau with a bootstrap interval), and the result images at every budget.

Every run of such a study went to the largest budget; a role of the final phase answers one budget
(the setting tuning selected there). The value of a run at a smaller budget is read from its history
(`kerasopt.records.outcome`: the last value within the budget; a run that diverged later was fine there).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from kerasopt import records
from kerasopt.report import plots, verdicts
from kerasopt.report.load import result_image

TAU_RESAMPLES = 2000


def runs_at(runs_dir: Path, runs: pd.DataFrame, budget: int, largest: int, column: str, metric: str,
            headline: list[str], collapse: dict | None) -> pd.DataFrame:
    """The roles answering ``budget`` (its final runs, every other phase) with status and metric values at
    that budget; the summaries' values at the largest."""
    part = runs[(runs["phase"] != "final") | (runs["budget"] == budget)].copy()
    if budget == largest:
        return part
    for index, run_id in zip(part.index, part["run_id"]):
        if not part.at[index, "complete"]:
            continue
        status, value = records.outcome(runs_dir / run_id, metric, column, budget, collapse)
        part.at[index, "status"] = status
        part.at[index, "metric"] = value if status == "completed" and records.is_finite(value) else math.nan
        for name in headline:
            if name != metric and name in part.columns:
                part.at[index, name] = math.nan
    return part


def _ranks(statistics: dict[str, float], mode: str) -> dict[str, float]:
    """Average ranks (1 = best) of the finite statistics."""
    names = [n for n, v in statistics.items() if math.isfinite(v)]
    sign = 1.0 if mode == "min" else -1.0
    ranked = _scipy_stats.rankdata([sign * statistics[n] for n in names])
    return dict(zip(names, ranked))


def kendall_tau(first: dict[str, dict], second: dict[str, dict], mode: str, resamples: int = TAU_RESAMPLES,
                seed: int = 0) -> tuple[float, float, float, int]:
    """Kendall's tau-b between the rankings (by `verdicts.failure_aware_median`) at two budgets, with a
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
        a = {n: verdicts.failure_aware_median([first[n].get(s) for s in pick[n]], mode) for n in names}
        b = {n: verdicts.failure_aware_median([second[n].get(s) for s in pick[n]], mode) for n in names}
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


def images_by_budget(runs_dir: Path, per_budget: dict[int, pd.DataFrame], orders: dict[int, list[str]],
                     largest: int, final_image: str, budget_image: str | None) -> dict[str, dict[str, Path | None]]:
    """optimizer (in the largest budget's order) -> ``"after <b>"`` -> the tuned run's image at budget b
    (its lowest-seed complete run answering b), for `plots.image_grid`."""
    images = {}
    for name in orders[largest]:
        images[name] = {}
        for budget, frame in per_budget.items():
            part = frame[(frame["optimizer"] == name) & (frame["phase"] == "final") & frame["complete"]]
            part = part.sort_values("seed")
            file = final_image if budget == largest or budget_image is None else budget_image.format(budget=budget)
            images[name][f"after {budget}"] = result_image(runs_dir, part["run_id"].iloc[0], file) if len(part) else None
    return images


def image_grid(runs_dir: Path, out_dir: Path, per_budget, orders, largest, final_image, budget_image) -> Path | None:
    """``image_grid_budgets.png``: each optimizer's image after every budget, ranked at the largest (None
    when the task saves no result image)."""
    if not final_image:
        return None
    images = images_by_budget(runs_dir, per_budget, orders, largest, final_image, budget_image)
    return plots.image_grid(images, out_dir / "image_grid_budgets.png", per_row=max(len(per_budget), 1) * 2)
