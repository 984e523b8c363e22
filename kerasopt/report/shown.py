"""The result images a report shows, and the copies of them that let committed records regenerate it.

A report reads each image from its run's ``artifacts/``, else from its copy under the records' ``shown/``
(`kerasopt.results.result_image`; a task's shared panel from the records' root, `kerasopt.results.shared_image`);
it never writes into the records. Committed records keep only the copies (run artifacts are not committed):
`keep_shown` makes them, and the study runner calls it after a study's runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from kerasopt import records, results
from kerasopt.layout import ARTIFACTS, SHOWN, shown_name

ARMS = {"tuned": "final", "task_defaults": "task_defaults", "library_defaults": "library_defaults"}
"""arm -> the phase of its runs: ``tuned`` = the final reruns of each optimizer's best tuning setting with
held-out seeds; ``task_defaults`` = kerasopt's per-task defaults; ``library_defaults`` = the optimizer exactly as
the library builds it."""


def first_complete(runs: pd.DataFrame, optimizer: str, phase: str) -> str | None:
    """The run id of ``optimizer``'s first complete run of ``phase`` (None without one): the one an image grid shows."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == phase) & runs["complete"]]
    return part["run_id"].iloc[0] if len(part) else None


def lowest_seed_final(runs: pd.DataFrame, optimizer: str) -> str | None:
    """The run id of ``optimizer``'s complete tuned run with the lowest seed (None without one)."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "final") & runs["complete"]].sort_values("seed")
    return part["run_id"].iloc[0] if len(part) else None


def budget_image_name(budget, largest, final_image: str, budget_image: str | None) -> str:
    """The file a run saves as its result after ``budget`` (the final result at the largest)."""
    return final_image if budget == largest or budget_image is None else budget_image.format(budget=budget)


def shown_images(study: dict, runs: pd.DataFrame) -> list[tuple[str, str]]:
    """``(run_id, file)`` of every run result image the report of ``study`` shows, from its roles ``runs``
    (`kerasopt.report.load.load_runs`): each optimizer's first complete run per arm (the image grid), and with
    several budgets its lowest-seed tuned run after each budget."""
    task = study.get("task") or {}
    final_image = task.get("result_image")
    if not final_image:
        return []
    spec = study["study"]
    budgets = spec.get("budgets") or [None]
    shown = []
    if not task.get("shared_image"):
        largest = runs if budgets[-1] is None else runs[(runs["phase"] != "final") | (runs["budget"] == budgets[-1])]
        shown += [(run_id, final_image) for name in spec["optimizers"] for phase in ARMS.values()
                  if (run_id := first_complete(largest, name, phase))]
    if budgets[-1] is not None:
        for budget in budgets:
            at = runs[(runs["phase"] != "final") | (runs["budget"] == budget)]
            file = budget_image_name(budget, budgets[-1], final_image, task.get("budget_image"))
            shown += [(run_id, file) for name in spec["optimizers"] if (run_id := lowest_seed_final(at, name))]
    return list(dict.fromkeys(shown))


def keep_shown(runs_dir: str | Path) -> list[Path]:
    """Copy the result images the report of ``runs_dir`` shows from the runs' artifacts to ``shown/`` (and the
    task's shared panel to the root), so records committed without artifacts regenerate the report; an
    existing identical copy is left alone. Returns the files written."""
    from kerasopt.report.load import headline_metrics, load_runs

    runs_dir = Path(runs_dir)
    study = records.read_study(runs_dir)
    runs = load_runs(runs_dir, study["target"]["metric"], headline_metrics(study),
                     (study.get("task") or {}).get("collapse")).frame
    written = []
    for run_id, name in shown_images(study, runs):
        artifact = runs_dir / run_id / ARTIFACTS / name
        copy = runs_dir / SHOWN / shown_name(run_id, name)
        if artifact.is_file() and not (copy.is_file() and copy.read_bytes() == artifact.read_bytes()):
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(artifact, copy)
            written.append(copy)
    shared = (study.get("task") or {}).get("shared_image")
    if shared and not (runs_dir / shared).is_file():
        tuned = runs[(runs["phase"] == "final") & (runs["status"] == "completed")]
        found = results.shared_image(runs_dir, tuned["run_id"], shared)
        if found is not None:
            shutil.copyfile(found, runs_dir / shared)
            written.append(runs_dir / shared)
    return written
