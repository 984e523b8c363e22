"""A study's results directory read into pandas (`kerasopt.layout`), never written to.

`load_runs` is the public loader (the report builds its tables on it); `seed_outcomes` turns its rows into the
per-seed outcomes that the ranking, the verdicts (`kerasopt.stats.verdicts.decide`) and the summary use: built
here only. Unreadable files never stop a reader: each is named, one line, in ``unreadable`` (the frame's
``attrs["unreadable"]``) and its run is left out; the rest is read. No TensorFlow.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from kerasopt import records
from kerasopt.layout import ARTIFACTS, COSTS, PLAN, SHOWN, SUMMARY, shown_name

ROLE_KEYS = ("run_id", "optimizer", "phase", "trial", "seed", "hparams")
"""The keys every role of ``plan.json`` has."""
LEGACY_PHASES = {"defaults": "task_defaults"}
"""Phase names of studies written before the two defaults arms existed."""
RUN_COLUMNS = ("run_id", "task", "optimizer", "phase", "trial", "extension", "budget", "added_round", "seed",
               "hparams", "setting", "learning_rate", "complete", "status", "error", "wall_seconds",
               "non_training_share", "peak_rss_mb", "host", "settings")
"""The columns of `load_runs` before the metric columns."""
STUDY_RULE = "study"
"""`load_runs`' default ``collapse``: the rule study.json's task declares."""


def format_setting(hparams: dict) -> str:
    """``{"learning_rate": 0.0123}`` → ``"learning_rate=0.0123"``; ``{}`` → ``"defaults"``."""
    if not hparams:
        return "defaults"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(hparams.items()))


def number(value) -> float:
    """``value`` as a float, NaN when it is missing or not a finite number."""
    return float(value) if records.is_finite(value) else math.nan


def read_plan(records_dir: str | Path, unreadable: list[str]) -> list[dict]:
    """The roles of ``plan.json`` that have every `ROLE_KEYS` ([] without a plan); an unreadable plan or roles
    without those keys are named in ``unreadable``."""
    path = Path(records_dir) / PLAN
    if not path.is_file():
        return []
    try:
        plan = records.read_json_object(path, ("runs",), "study plan")["runs"]
    except ValueError as exc:
        unreadable.append(str(exc))
        return []
    roles = [role for role in plan if isinstance(role, dict) and all(key in role for key in ROLE_KEYS)]
    if len(roles) != len(plan):
        unreadable.append(f"{path}: {len(plan) - len(roles)} entries without the keys {', '.join(ROLE_KEYS)}")
    return roles


def read_selection(records_dir: str | Path) -> dict:
    """``plan.json``'s ``selection`` (what tuning chose per optimizer and why); {} before tuning ends."""
    try:
        selection = json.loads((Path(records_dir) / PLAN).read_text()).get("selection", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return selection if isinstance(selection, dict) else {}


def read_run(run_dir: Path, collapse, unreadable: list[str]) -> dict:
    """The fields of one run record: ``complete``, ``status`` (``collapsed`` where the task's ``collapse`` rule
    rejects a completed run), ``error``, ``metrics``, the summary's time and memory, ``host`` and ``settings``.

    A run with an unreadable summary.json, config.json or (with a collapse rule) history.csv is read as
    incomplete and its file named in ``unreadable``; a run without a summary is incomplete."""
    empty = {"complete": False, "status": None, "error": None, "metrics": {}, "summary": {}, "host": None,
             "settings": {}}
    if not records.is_complete(run_dir):
        return empty
    try:
        summary = records.read_json_object(run_dir / SUMMARY, what="run summary")
        if not isinstance(summary.get("metrics", {}), dict):
            raise ValueError(f"{run_dir / SUMMARY}: not a run summary ('metrics' must be a mapping)")
        config = records.read_config(run_dir) if (run_dir / records.CONFIG).is_file() else {}
        status, error = summary.get("status"), summary.get("error")
        if status == "completed" and collapse:
            reason = records.collapse_reason(collapse, records.read_history(run_dir))
            status, error = (records.COLLAPSED, reason) if reason else (status, error)
    except ValueError as exc:  # the run is named as unreadable; the rest is read
        unreadable.append(str(exc))
        return empty
    settings = config.get("settings")
    return {"complete": True, "status": status, "error": error, "metrics": summary.get("metrics", {}),
            "summary": summary, "host": records.host_of(config) if config else None,
            "settings": settings if isinstance(settings, dict) else {}}


def _study_collapse(records_dir: Path):
    try:
        task = records.read_study(records_dir).get("task")
    except (OSError, ValueError):
        return None
    return task.get("collapse") if isinstance(task, dict) else None


def _study_task(records_dir: Path) -> str | None:
    try:
        return records.read_study(records_dir)["study"].get("task")
    except (OSError, ValueError):
        return None


def load_runs(records_dir: str | Path, *, roles: bool = False, collapse=STUDY_RULE) -> pd.DataFrame:
    """The runs of a study's results directory as a DataFrame, read without writing anything there.

    One row per run that ``plan.json`` plans (in plan order; a run planned in several roles, such as a defaults
    arm rerun as the tuned arm, is one row whose ``phase`` joins its roles with ``+``); with ``roles=True`` one row
    per role instead (the report's view: each role answers its own question).

    Columns (`RUN_COLUMNS`, then one per metric):

    - ``run_id``; ``task`` (study.json's task); ``optimizer``; ``phase`` (``tune``, ``task_defaults``,
      ``library_defaults``, ``final``); ``trial`` (tuning trial, the selected one for ``final``, None for a
      defaults arm); ``extension`` (bracket round that added the trial, 0 for the initial ones); ``budget`` (the
      budget a final role answers, None without budgets); ``added_round`` (the ``more_seeds`` round that added
      the seed, 0 for a configured seed); ``seed``;
    - ``hparams`` (dict: the study's overrides), ``setting`` (the same as text), ``learning_rate`` (NaN when
      the study does not set it);
    - ``complete`` (summary.json exists and is readable), ``status`` (``completed``, ``diverged``, ``failed``,
      or ``collapsed`` where the task's collapse rule rejects a completed run; None while incomplete),
      ``error`` (one line; the collapse reason for a collapsed run);
    - ``wall_seconds``, ``non_training_share`` (the run's seconds not spent training; None before it was
      recorded), ``peak_rss_mb``;
    - ``host`` (the host id of the machine that wrote it, ``host unknown`` before the fingerprint, None without
      a record); ``settings`` (dict: config.json's settings);
    - every metric of the summaries under its own name (``metrics.<name>`` where it equals a column above):
      the value as recorded, whatever the status (NaN where the run has none).

    Args:
        records_dir: the study's results directory (``study.json``, ``plan.json``, run directories).
        roles: one row per role of ``plan.json`` instead of one per run.
        collapse: the collapse rule (`kerasopt.records.collapse_reason`); default: the one study.json's task
            declares; None: none.

    Returns:
        The DataFrame; ``attrs["unreadable"]`` lists the files that could not be read (one line each, naming the
        file); their runs read as incomplete.
    """
    records_dir = Path(records_dir)
    unreadable: list[str] = []
    collapse = _study_collapse(records_dir) if collapse == STUDY_RULE else collapse
    task = _study_task(records_dir)
    plan = read_plan(records_dir, unreadable)
    runs = {run_id: read_run(records_dir / str(run_id), collapse, unreadable)
            for run_id in dict.fromkeys(role["run_id"] for role in plan)}
    if not roles:
        plan = _one_per_run(plan)
    metric_names = list(dict.fromkeys(name for run in runs.values() for name in run["metrics"]))
    rows = [_row(role, runs[role["run_id"]], task, metric_names) for role in plan]
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *(_metric_column(name) for name in metric_names)])
    frame.attrs["unreadable"] = unreadable
    return frame


def _one_per_run(plan: list[dict]) -> list[dict]:
    """The first role of each run, its ``phase`` the run's phases joined with ``+`` (in plan order)."""
    first: dict = {}
    phases: dict = {}
    for role in plan:
        first.setdefault(role["run_id"], role)
        phases.setdefault(role["run_id"], []).append(LEGACY_PHASES.get(role["phase"], role["phase"]))
    return [{**role, "phase": "+".join(dict.fromkeys(phases[run_id]))} for run_id, role in first.items()]


def _metric_column(name: str) -> str:
    return f"metrics.{name}" if name in RUN_COLUMNS else name


def _row(role: dict, run: dict, task: str | None, metric_names: list[str]) -> dict:
    hparams = role["hparams"] if isinstance(role["hparams"], dict) else {}
    summary = run["summary"]
    return {"run_id": role["run_id"], "task": task, "optimizer": role["optimizer"],
            "phase": LEGACY_PHASES.get(role["phase"], role["phase"]), "trial": role["trial"],
            "extension": role.get("extension", 0), "budget": role.get("budget"),
            "added_round": role.get("added_round", 0), "seed": role["seed"], "hparams": hparams,
            "setting": format_setting(hparams), "learning_rate": number(hparams.get("learning_rate")),
            "complete": run["complete"], "status": run["status"], "error": run["error"],
            "wall_seconds": summary.get("wall_seconds"), "non_training_share": summary.get("non_training_share"),
            "peak_rss_mb": summary.get("peak_rss_mb"), "host": run["host"], "settings": run["settings"],
            **{_metric_column(name): run["metrics"].get(name, math.nan) for name in metric_names}}


def completed_values(runs: pd.DataFrame, metric: str) -> pd.Series:
    """Column ``metric`` of `load_runs` where the run completed with a finite value, NaN elsewhere (a diverged,
    collapsed or failed run never enters a mean)."""
    column = _metric_column(metric)
    if column not in runs.columns:
        return pd.Series(math.nan, index=runs.index, dtype=float)
    values = runs[column].map(number)
    return values.where(runs["status"] == "completed", math.nan).astype(float)


def seed_outcomes(runs: pd.DataFrame, optimizers: list[str], metric: str,
                  phase: str = "final") -> dict[str, dict[int, float | None]]:
    """Per optimizer, ``{seed: value}`` of its complete runs of ``phase`` (the tuned arm by default): the value
    of column ``metric``, None for a diverged, collapsed or failed run or a non-finite value; incomplete runs left
    out. The one place per-seed outcomes are built: the ranking, `kerasopt.stats.verdicts.decide`, the
    companion comparison and the summary read them from here.

    Args:
        runs: rows with ``optimizer``, ``phase``, ``seed``, ``complete``, ``status`` and ``metric``.
        optimizers: the optimizers, in the order of the result (each one, with {} when it has no run).
    """
    part = runs[(runs["phase"] == phase) & runs["complete"].astype(bool)]
    outcomes = {}
    for name in optimizers:
        mine = part[part["optimizer"] == name]
        outcomes[name] = {int(seed): (float(value) if status == "completed" and records.is_finite(value) else None)
                          for seed, value, status in zip(mine["seed"], mine[metric], mine["status"])}
    return outcomes


def read_histories(records_dir: str | Path, run_ids, unreadable: list[str]) -> dict[str, list[dict]]:
    """run id -> its history rows (`kerasopt.records.read_history`), each read once; an unreadable history is
    named in ``unreadable`` and read as [] (no curve, no time to target)."""
    histories = {}
    for run_id in dict.fromkeys(run_ids):
        try:
            histories[run_id] = records.read_history(Path(records_dir) / run_id)
        except ValueError as exc:
            unreadable.append(str(exc))
            histories[run_id] = []
    return histories


def read_per_image(records_dir: str | Path, run_ids, unreadable: list[str]) -> dict[str, list]:
    """run id -> its per-image ``(tp, fp, fn)`` counts, for the runs that have them; an unreadable file is named
    in ``unreadable`` and its run left out of the image resampling."""
    counts = {}
    for run_id in run_ids:
        try:
            found = records.read_per_image(Path(records_dir) / run_id)
        except ValueError as exc:
            unreadable.append(str(exc))
            continue
        if found:
            counts[run_id] = found
    return counts


def resolved_hparams(records_dir: str | Path, run_id: str) -> dict:
    """The hyperparameters a run's optimizer was built with (``config.json``'s ``resolved_hparams``; {} when the
    record lacks them or is unreadable; library defaults leave them to the constructor)."""
    try:
        settings = records.read_config(Path(records_dir) / run_id)["settings"]
    except (OSError, ValueError):
        return {}
    resolved = settings.get("resolved_hparams") if isinstance(settings, dict) else None
    return resolved if isinstance(resolved, dict) else {}


def read_costs(records_dir: str | Path) -> dict[str, float | dict[str, float]]:
    """``costs.json`` of a study, measured in one interleaved benchmark (``benchmarks/costs.py``):
    optimizer -> seconds per loss-and-gradient evaluation, either one number for every arm or
    ``{arm: seconds}`` measured at each arm's own setting (an L-BFGS history of 320 costs more per
    evaluation than one of 10); unreadable entries are left out, {} when the file is absent or unreadable.
    Read a cost with `arm_cost`."""
    try:
        costs = json.loads((Path(records_dir) / COSTS).read_text())["seconds_per_evaluation"]
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
    """Seconds per evaluation of ``optimizer``'s ``arm`` in `read_costs`'s mapping; None when not measured."""
    value = costs.get(optimizer)
    return value.get(arm) if isinstance(value, dict) else value


def result_image(records_dir: str | Path, run_id: str, name: str) -> Path | None:
    """A run's result image ``name``: ``artifacts/<name>`` of the run, else its copy under ``shown/`` (committed
    records keep only the copies, `kerasopt.report.shown.keep_shown`), else None. Reads only."""
    artifact = Path(records_dir) / run_id / ARTIFACTS / name
    if artifact.is_file():
        return artifact
    shown = Path(records_dir) / SHOWN / shown_name(run_id, name)
    return shown if shown.is_file() else None


def shared_image(records_dir: str | Path, run_ids, name: str) -> Path | None:
    """The artifact ``name`` that every run of a study writes identically (a task's shared panel): its copy at the
    root of ``records_dir``, else the first run's artifact, else None. Reads only."""
    root = Path(records_dir) / name
    if root.is_file():
        return root
    return next((path for run_id in run_ids if (path := Path(records_dir) / run_id / ARTIFACTS / name).is_file()),
                None)
