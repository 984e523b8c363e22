"""Reading a study's results directory into pandas tables (files only; no TensorFlow).

Unreadable run files never stop a report: `load_runs` names each one in
``Runs.unreadable``, leaves it out and returns the rest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kerasopt import records

STUDY_FILE, PLAN_FILE = "study.json", "plan.json"
_ROLE_KEYS = ("run_id", "optimizer", "phase", "trial", "seed", "hparams")
#: phase names of studies written before the two defaults arms existed
_LEGACY_PHASES = {"defaults": "task_defaults"}
#: summary metrics that show what a run spent (diverged and failed runs too)
BUDGET_COLUMNS = ("steps", "iterations", "evaluations", "hessian_vector_products")


def load_study(runs_dir: str | Path) -> dict:
    """``study.json`` of ``runs_dir`` (`kerasopt.records.read_study`)."""
    return records.read_study(runs_dir)


def tuning_seeds(tuning: dict) -> list:
    """The tuning seeds of a study's ``tuning`` entry (older studies: one ``seed``)."""
    return list(tuning.get("seeds") or [tuning.get("seed", 0)])


def headline_metrics(study: dict) -> list[str]:
    """The metrics the report answers with (the task's headline; older studies: the target metric)."""
    task = study.get("task") if isinstance(study.get("task"), dict) else {}
    return list(task.get("headline") or [study["target"]["metric"]])


def format_setting(hparams: dict) -> str:
    """``{"learning_rate": 0.0123}`` → ``"learning_rate=0.0123"``; ``{}`` → ``"defaults"``."""
    if not hparams:
        return "defaults"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(hparams.items()))


@dataclass
class Runs:
    """The rows of `load_runs` and the run files that could not be read."""

    frame: pd.DataFrame
    unreadable: list[str] = field(default_factory=list)


def _summary(run_dir: Path, unreadable: list[str]) -> dict:
    if not records.is_complete(run_dir):
        return {}
    path = run_dir / records.SUMMARY
    try:
        summary = records.read_json_object(path, what="run summary")
    except ValueError as exc:
        unreadable.append(str(exc))
        return {}
    if not isinstance(summary.get("metrics", {}), dict):
        unreadable.append(f"{path}: not a run summary ('metrics' must be a mapping)")
        return {}
    return summary


def _plan(runs_dir: Path, unreadable: list[str]) -> list[dict]:
    path = runs_dir / PLAN_FILE
    if not path.is_file():
        return []
    try:
        plan = records.read_json_object(path, ("runs",), "study plan")["runs"]
    except ValueError as exc:
        unreadable.append(str(exc))
        return []
    roles = [role for role in plan if isinstance(role, dict) and all(key in role for key in _ROLE_KEYS)]
    if len(roles) != len(plan):
        unreadable.append(f"{path}: {len(plan) - len(roles)} entries without the keys {', '.join(_ROLE_KEYS)}")
    return roles


def load_runs(runs_dir: str | Path, metric: str, headline: list[str] | None = None,
              collapse: dict | None = None) -> Runs:
    """One row per role of a run in ``plan.json``, joined with its summary.

    Columns: run_id, optimizer, phase, trial, extension (bracket round that added
    the trial, 0 for the initial ones), seed, hparams (dict), setting (text),
    learning_rate (NaN when not set by the study), complete, status, metric (the
    selection metric ``metric``), one column per ``headline`` metric, the run's
    budget as spent (`BUDGET_COLUMNS`: steps or iterations, loss-and-gradient evaluations, Hessian-vector
    products where the driver counts them), wall_seconds, non_training_share (None before it was recorded), error. Metric values are those of COMPLETED runs only (NaN for diverged,
    failed, incomplete or non-finite), so no diverged run enters a mean. A completed run that the task's
    ``collapse`` rule rejects (`kerasopt.records.collapse_reason`) has status ``collapsed``, its reason as
    ``error`` and no metric values either.
    """
    runs_dir = Path(runs_dir)
    unreadable: list[str] = []
    headline = [m for m in (headline or []) if m != metric]
    rows = []
    for role in _plan(runs_dir, unreadable):
        summary = _summary(runs_dir / str(role["run_id"]), unreadable)
        status, error = summary.get("status"), summary.get("error")
        if status == "completed" and collapse:
            try:
                reason = records.collapse_reason(collapse, records.read_history(runs_dir / str(role["run_id"])))
            except ValueError as exc:  # the run is reported as unreadable; the rest of the report is written
                unreadable.append(str(exc))
                summary, status, error, reason = {}, None, None, None
            status, error = (records.COLLAPSED, reason) if reason else (status, error)
        values = summary.get("metrics", {}) if status == "completed" else {}
        hparams = role["hparams"] if isinstance(role["hparams"], dict) else {}
        rows.append({
            "run_id": role["run_id"], "optimizer": role["optimizer"],
            "phase": _LEGACY_PHASES.get(role["phase"], role["phase"]), "trial": role["trial"], "seed": role["seed"],
            "hparams": hparams, "setting": format_setting(hparams),
            "learning_rate": _float(hparams.get("learning_rate")),
            "complete": bool(summary), "status": status, "metric": _float(values.get(metric)),
            **{name: _float(values.get(name)) for name in headline},
            **{name: _float(summary.get("metrics", {}).get(name)) for name in BUDGET_COLUMNS},
            "extension": role.get("extension", 0), "budget": role.get("budget"),
            "added_round": role.get("added_round", 0),
            "wall_seconds": summary.get("wall_seconds"), "non_training_share": summary.get("non_training_share"),
            "error": error})
    columns = ["run_id", "optimizer", "phase", "trial", "extension", "budget", "added_round", "seed", "hparams",
               "setting", "learning_rate",
               "complete", "status", "metric", *headline, *BUDGET_COLUMNS, "wall_seconds", "non_training_share", "error"]
    return Runs(pd.DataFrame(rows, columns=columns), unreadable)


def _float(value) -> float:
    return float(value) if records.is_finite(value) else math.nan


def load_selection(runs_dir: str | Path) -> dict:
    """``plan.json``'s ``selection`` (what tuning chose per optimizer and why); {} before tuning ends."""
    path = Path(runs_dir) / PLAN_FILE
    try:
        selection = json.loads(path.read_text()).get("selection", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return selection if isinstance(selection, dict) else {}


COSTS_FILE = "costs.json"


def load_costs(runs_dir: str | Path) -> dict[str, float | dict[str, float]]:
    """``costs.json`` of a study, measured in one interleaved benchmark (``benchmarks/step_costs.py``):
    optimizer -> seconds per loss-and-gradient evaluation, either one number for every arm or
    ``{arm: seconds}`` measured at each arm's own setting (an L-BFGS history of 320 costs more per
    evaluation than one of 10); unreadable entries are left out, {} when the file is absent or unreadable.
    Read a cost with `arm_cost`."""
    path = Path(runs_dir) / COSTS_FILE
    try:
        costs = json.loads(path.read_text())["seconds_per_evaluation"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(costs, dict):
        return {}
    loaded = {}
    for name, value in costs.items():
        if isinstance(value, dict):
            per_arm = {arm: float(v) for arm, v in value.items() if _positive(v)}
            if per_arm:
                loaded[name] = per_arm
        elif _positive(value):
            loaded[name] = float(value)
    return loaded


def _positive(value) -> bool:
    return records.is_finite(value) and float(value) > 0


def arm_cost(costs: dict, optimizer: str, arm: str) -> float | None:
    """Seconds per evaluation of ``optimizer``'s ``arm`` in `load_costs`'s mapping; None when not measured."""
    value = costs.get(optimizer)
    return value.get(arm) if isinstance(value, dict) else value


def per_image_counts(runs_dir: Path, run_ids, unreadable: list[str]) -> dict[str, list]:
    """run id -> its per-image ``(tp, fp, fn)`` counts, for the runs that have them; an unreadable file is
    added to ``unreadable`` (the report lists it) and its run left out of the image resampling."""
    counts = {}
    for run_id in run_ids:
        try:
            found = records.read_per_image(Path(runs_dir) / run_id)
        except ValueError as exc:
            unreadable.append(str(exc))
            continue
        if found:
            counts[run_id] = found
    return counts


def load_history(runs_dir: str | Path, run_id: str) -> list[dict]:
    """The history rows of one run (`kerasopt.records.read_history`); [] when unreadable."""
    try:
        return records.read_history(Path(runs_dir) / run_id)
    except (OSError, ValueError):
        return []


def resolved_hparams(runs_dir: str | Path, run_id: str) -> dict:
    """The hyperparameters a run's optimizer was built with (``config.json``'s ``resolved_hparams``;
    {} when the record lacks them or is unreadable; library defaults leave them to the constructor)."""
    try:
        settings = records.read_config(Path(runs_dir) / run_id)["settings"]
    except (OSError, ValueError):
        return {}
    resolved = settings.get("resolved_hparams") if isinstance(settings, dict) else None
    return resolved if isinstance(resolved, dict) else {}


SHOWN_IMAGES = records.SHOWN  # folder at the root of a runs directory: copies of the result images a report shows


def result_image(runs_dir: str | Path, run_id: str, name: str = "result.png") -> Path | None:
    """The result image of a run that a report shows, if there is one.

    ``artifacts/<name>`` of the run is copied to ``<runs_dir>/shown/<run_id>-<name>`` and that copy is
    returned, so a published report regenerates from committed records that keep only the copies
    (run artifacts are not committed); an existing copy is used when the artifact is gone.
    """
    import shutil

    artifact = Path(runs_dir) / run_id / records.ARTIFACTS / name
    shown = Path(runs_dir) / SHOWN_IMAGES / f"{run_id}-{name}"
    if artifact.is_file() and not (shown.is_file() and shown.read_bytes() == artifact.read_bytes()):
        shown.parent.mkdir(exist_ok=True)
        shutil.copyfile(artifact, shown)
    return shown if shown.is_file() else None
