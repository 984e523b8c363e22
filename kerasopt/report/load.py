"""The report's view of a study's records: `kerasopt.results.load_runs`, one row per role, with the selection
metric and the headline metrics of completed runs only (files only; no TensorFlow; nothing written).

Unreadable run files never stop a report: `load_runs` names each one in ``Runs.unreadable``, leaves its
run out and returns the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kerasopt import records, results

#: summary metrics that show what a run spent (diverged and failed runs too)
BUDGET_COLUMNS = ("steps", "iterations", "evaluations", "hessian_vector_products")
ROLE_COLUMNS = ("run_id", "optimizer", "phase", "trial", "extension", "budget", "added_round", "seed", "hparams",
                "setting", "learning_rate", "complete", "status")


def load_study(runs_dir: str | Path) -> dict:
    """``study.json`` of ``runs_dir`` (`kerasopt.records.read_study`)."""
    return records.read_study(runs_dir)


def tuning_seeds(tuning: dict) -> list:
    """The tuning seeds of a study's ``tuning`` entry (older studies: one ``seed``)."""
    return list(tuning.get("seeds") or [tuning.get("seed", 0)])


def searched(spec: dict) -> bool:
    """Whether the study searched any hyperparameter (a dimension, not a fixed number)."""
    return any(isinstance(value, dict) for space in (spec.get("search") or {}).values() for value in space.values())


def headline_metrics(study: dict) -> list[str]:
    """The metrics the report answers with (the task's headline; older studies: the target metric)."""
    task = study.get("task") if isinstance(study.get("task"), dict) else {}
    return list(task.get("headline") or [study["target"]["metric"]])


@dataclass
class Runs:
    """The rows of `load_runs` and the run files that could not be read."""

    frame: pd.DataFrame
    unreadable: list[str] = field(default_factory=list)


def headline_column(metric: str, headline: list[str]) -> str:
    """The column of `load_runs`' frame that holds the main headline metric: ``"metric"`` when the headline is
    the selection metric itself (fast style, style), else its own name (defects: ``test_dice``)."""
    return "metric" if headline[0] == metric else headline[0]


def load_runs(runs_dir: str | Path, metric: str, headline: list[str] | None = None,
              collapse: dict | None = None) -> Runs:
    """One row per role of a run in ``plan.json`` (`kerasopt.results.load_runs` with ``roles=True``).

    Columns: run_id, optimizer, phase, trial, extension (bracket round that added
    the trial, 0 for the initial ones), budget, added_round, seed, hparams (dict), setting (text),
    learning_rate (NaN when not set by the study), complete, status, metric (the
    selection metric ``metric``), one column per ``headline`` metric, the run's
    budget as spent (`BUDGET_COLUMNS`: steps or iterations, loss-and-gradient evaluations, Hessian-vector
    products where the driver counts them), wall_seconds, non_training_share (None before it was recorded), error.
    Metric values are those of COMPLETED runs only (NaN for diverged, failed, incomplete or non-finite), so no
    diverged run enters a mean. A completed run that the task's ``collapse`` rule rejects
    (`kerasopt.records.collapse_reason`) has status ``collapsed``, its reason as ``error`` and no metric values.
    """
    frame = results.load_runs(runs_dir, roles=True, collapse=collapse)
    headline = [m for m in (headline or []) if m != metric]
    table = frame[list(ROLE_COLUMNS)].copy()
    table["metric"] = results.completed_values(frame, metric)
    for name in headline:
        table[name] = results.completed_values(frame, name)
    for name in BUDGET_COLUMNS:  # what a run spent, whatever its status
        table[name] = frame[name].map(results.number).astype(float) if name in frame.columns else float("nan")
    for name in ("wall_seconds", "non_training_share", "error"):
        table[name] = frame[name]
    return Runs(table, frame.attrs["unreadable"])
