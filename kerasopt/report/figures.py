"""The report's figures: LR sensitivity, curves against every time axis, and the task's result panel
(as the task declares it in study.json: result images side by side, or strips under a shared image).
Images are read from the records (`kerasopt.report.shown`); figures are written into the report's folder only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kerasopt import results
from kerasopt.layout import ARTIFACTS
from kerasopt.report import plots
from kerasopt.report.shown import ARMS, first_complete
from kerasopt.stats.curves import TIME_AXES


def write_figures(runs_dir: Path, out_dir: Path, runs: pd.DataFrame, histories: dict[str, list[dict]], study: dict,
                  order: list[str]) -> list[Path]:
    """LR sensitivity, curves vs each time axis (tuned arm, completed runs) and the task's result panel
    (its declaration in study.json: result images side by side, or under a shared image), into ``out_dir``."""
    metric, mode = study["target"]["metric"], study["target"]["mode"]
    positive = (runs["metric"].dropna() > 0).all()
    log_metric = mode == "min" and bool(positive)
    written = [plots.lr_sensitivity(runs[runs["phase"] == "tune"], metric, log_metric,
                                    out_dir / "lr_sensitivity.png")]
    tuned = runs[(runs["phase"] == "final") & (runs["status"] == "completed")]
    by_optimizer = {name: [histories[r] for r in tuned[tuned["optimizer"] == name]["run_id"]] for name in order}
    by_optimizer = {name: h for name, h in by_optimizer.items() if h}
    for axis in TIME_AXES:
        if any(axis in rows[0] for runs_of in by_optimizer.values() for rows in runs_of if rows):
            written.append(plots.curves(by_optimizer, axis, metric, log_metric, out_dir / f"curves_{axis}.png"))
    task = study.get("task") or {}
    if task.get("shared_image"):
        written.append(stacked_grid(runs_dir, out_dir, tuned, order, task))
    elif task.get("result_image"):
        written.append(image_grid(runs_dir, out_dir, runs, study, order))
    return [path for path in written if path is not None]


def image_grid(runs_dir: Path, out_dir: Path, runs: pd.DataFrame, study: dict, order: list[str]) -> Path | None:
    """The result image of each optimizer's first complete run per arm (rows ranked), or None."""
    image_name = study["task"]["result_image"]
    images = {name: {arm: results.result_image(runs_dir, run_id, image_name) for arm, phase in ARMS.items()
                     if (run_id := first_complete(runs, name, phase))} for name in order}
    return plots.image_grid(images, out_dir / "image_grid.png")


def stacked_grid(runs_dir: Path, out_dir: Path, tuned: pd.DataFrame, order: list[str], task: dict) -> Path | None:
    """The task's ``shared_image`` above each optimizer's ``result_image`` strip (its tuned run with the
    lowest seed), ranked (``result_grid.png``); None when the runs saved none."""
    inputs = results.shared_image(runs_dir, tuned["run_id"], task["shared_image"])
    result = task["result_image"]
    predictions = {}
    for name in order:
        part = tuned[tuned["optimizer"] == name].sort_values("seed")
        for run_id, seed in zip(part["run_id"], part["seed"]):
            path = runs_dir / run_id / ARTIFACTS / result
            if path.is_file():
                predictions[f"{len(predictions) + 1}. {name} (seed {seed})"] = path
                break
    if inputs is None or not predictions:
        return None
    return plots.stacked_grid(inputs, predictions, out_dir / "result_grid.png", task.get("shared_rows") or ("",),
                              task.get("panel_title", ""))
