"""Anytime answers of a study with several ``budgets``: the ranking at each budget, how it changes
between budgets (Kendall's tau with a bootstrap interval, `kerasopt.stats.ranking.kendall_tau`), and the result
images at every budget.

Every run of such a study went to the largest budget; a role of the final phase answers one budget
(the setting tuning selected there). The value of a run at a smaller budget is read from its history
(`kerasopt.records.outcome`: the last value within the budget; a run that diverged later was fine there).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from kerasopt import records, results
from kerasopt.report import plots
from kerasopt.report.shown import budget_image_name, lowest_seed_final
from kerasopt.stats.ranking import kendall_tau  # noqa: F401  (benchmarks/budget_cut.py reads it from here)


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


def images_by_budget(runs_dir: Path, per_budget: dict[int, pd.DataFrame], orders: dict[int, list[str]],
                     largest: int, final_image: str, budget_image: str | None) -> dict[str, dict[str, Path | None]]:
    """optimizer (in the largest budget's order) -> ``"after <b>"`` -> the tuned run's image at budget b
    (its lowest-seed complete run answering b), for `plots.image_grid`."""
    images = {}
    for name in orders[largest]:
        images[name] = {}
        for budget, frame in per_budget.items():
            run_id = lowest_seed_final(frame, name)
            file = budget_image_name(budget, largest, final_image, budget_image)
            images[name][f"after {budget}"] = results.result_image(runs_dir, run_id, file) if run_id else None
    return images


def image_grid(runs_dir: Path, out_dir: Path, per_budget, orders, largest, final_image, budget_image) -> Path | None:
    """``image_grid_budgets.png``: each optimizer's image after every budget, ranked at the largest (None
    when the task saves no result image)."""
    if not final_image:
        return None
    images = images_by_budget(runs_dir, per_budget, orders, largest, final_image, budget_image)
    return plots.image_grid(images, out_dir / "image_grid_budgets.png", per_row=max(len(per_budget), 1) * 2)
