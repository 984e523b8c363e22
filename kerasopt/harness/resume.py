"""Resuming an interrupted run from its last backup: a ``model.fit`` run (defects, your own Keras model)
after its last completed epoch, a run with its own loop (fast style) after its last validation step.

Keras' `BackupAndRestore` keeps ``RUN/backup/`` (weights + optimizer state after
the last completed epoch, and ``training_metadata.json`` with that epoch
count); it deletes the folder when training ends normally. `LoopBackup` does the
same for a training loop (``{"step": k}`` in the same file). A run directory
whose training was killed (SIGKILL, power loss) therefore has ``backup/``, no
``summary.json`` and a ``history.csv`` with the rows logged up to then.

`resume_point` decides whether a new run in that directory continues: only when
the settings are identical to the interrupted run's ``config.json`` and its
history has a row for every backed-up epoch; it only reads. `discard_backup` removes a stale
backup (a run that starts fresh). `ResumableRecord` is a
`kerasopt.records.RunRecord` that, on resume, writes the kept history rows
(up to epoch or step k, verbatim, later rows dropped so nothing is
duplicated) back before training continues, keeps the original ``created``
time in ``config.json`` and appends the resume time to its ``resumed`` list.
`kerasopt.records` itself is unchanged: its constructor starts a fresh
history, and this subclass re-logs the kept rows right after it. The best epoch's weights live in
the backup too (`BEST_WEIGHTS`, written by `kerasopt.optimizers.evaluation.BestWeights`).
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from kerasopt.records import CONFIG, HISTORY, SUMMARY, RunRecord, _jsonable, _now, write_json_atomic

BACKUP = "backup"
METADATA = "training_metadata.json"
BEST_WEIGHTS = "best_weights.npz"  # in the backup: the best epoch's weights, for a resumed run
LOOP_STATE = "state.npz"  # in the backup of a training loop: model weights and optimizer variables


@dataclass
class ResumePoint:
    """Where an interrupted run continues: ``done`` completed ``unit``\ s (``"epoch"`` or ``"step"``),
    the history ``rows`` logged up to there (dicts of the CSV text fields) and the original
    ``config.json`` content."""

    unit: str
    done: int
    rows: list[dict]
    config: dict


def backup_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / BACKUP


def resume_point(run_dir: str | Path, settings: dict) -> ResumePoint | None:
    """The state to resume from, or None (the run starts fresh: `discard_backup`). Reads only.

    Args:
        run_dir: the run directory.
        settings: the new run's settings, as passed to `RunRecord`.
    """
    run_dir = Path(run_dir)
    backup = backup_dir(run_dir)
    point = None
    try:
        if (backup / METADATA).is_file() and not (run_dir / SUMMARY).is_file():
            metadata = json.loads((backup / METADATA).read_text())
            unit = "epoch" if "epoch" in metadata else "step"
            done = int(metadata[unit])
            config = json.loads((run_dir / CONFIG).read_text())
            same = json.loads(json.dumps(_jsonable(settings), sort_keys=True)) == config.get("settings")
            with open(run_dir / HISTORY, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if row.get(unit) and int(row[unit]) <= done]
            counted = [int(row[unit]) for row in rows]
            whole = counted == list(range(1, done + 1)) if unit == "epoch" else counted[-1:] == [done]
            if same and done > 0 and whole:
                point = ResumePoint(unit, done, rows, config)
    except (OSError, ValueError, KeyError, TypeError):
        point = None
    return point


def discard_backup(run_dir: str | Path) -> None:
    """Delete the backup of an interrupted run that will not be resumed."""
    shutil.rmtree(backup_dir(run_dir), ignore_errors=True)


class ResumableRecord(RunRecord):
    """`RunRecord` that continues an interrupted run's history (see the module docstring).

    Args:
        run_dir, settings, seed, deterministic, started: as for `RunRecord`.
        resume: from `resume_point`, or None for a fresh run.
    """

    def __init__(self, run_dir, settings: dict, seed=None, deterministic: bool = False,
                 resume: ResumePoint | None = None, started: float | None = None):
        super().__init__(run_dir, settings, seed=seed, deterministic=deterministic, started=started)
        self.resume = resume
        if resume is None:
            return
        config = json.loads((self.run_dir / CONFIG).read_text())
        config["created"] = resume.config.get("created", config["created"])
        config["resumed"] = [*resume.config.get("resumed", []), {"at": _now(), f"from_{resume.unit}": resume.done}]
        write_json_atomic(self.run_dir / CONFIG, config)
        for row in resume.rows:
            self.log(row)


def best_weights_callback(run_dir: str | Path, monitor: str, mode: str, previous: list):
    """`kerasopt.optimizers.evaluation.BestWeights` keeping the best epoch's weights in the backup, so a
    resumed run still knows them; ``previous``: a resumed run's per-epoch ``monitor`` values (None: none)."""
    from kerasopt.optimizers.evaluation import BestWeights

    finite = [value for value in previous if value is not None]
    best = (max(finite) if mode == "max" else min(finite)) if finite else None
    return BestWeights(monitor, mode, backup_dir(run_dir) / BEST_WEIGHTS, initial=best)


def backup_callback(run_dir: str | Path):
    """Keras' ``BackupAndRestore`` into ``RUN/backup``: put it last, after the callback that logs the epoch."""
    import keras

    return keras.callbacks.BackupAndRestore(str(backup_dir(run_dir)))


class LoopBackup:
    """The backup of a run with its own training loop: model weights, optimizer variables and the step.

    `save` writes them into ``RUN/backup/`` (the state first, with
    `kerasopt.optimizers.evaluation.save_weights_file` as the best epoch's weights are, then
    ``training_metadata.json`` with ``{"step": k}``, each atomically: a backup with metadata is whole); `restore` puts them back into a
    freshly built model and optimizer (the optimizer built); `discard` removes the backup when the
    run ends. What the loop draws from its data is replayed by the task (same seed: same batches).

    Args:
        run_dir: the run directory.
        model: the Keras model trained.
        optimizer: its optimizer (built, so its variables exist).
    """

    def __init__(self, run_dir: str | Path, model, optimizer):
        self.dir, self.model, self.optimizer = backup_dir(run_dir), model, optimizer

    def _variables(self) -> list:
        return [*self.model.weights, *self.optimizer.variables]

    def save(self, step: int) -> None:
        """Back up the state after ``step`` steps."""
        from kerasopt.optimizers.evaluation import save_weights_file

        save_weights_file(self.dir / LOOP_STATE, [variable.numpy() for variable in self._variables()])
        write_json_atomic(self.dir / METADATA, {"step": int(step)})

    def restore(self) -> int:
        """Assign the backed-up values; returns the step they were saved after.

        Raises:
            ValueError: the backup does not match this model and optimizer (another architecture).
        """
        from kerasopt.optimizers.evaluation import load_weights_file

        variables, values = self._variables(), load_weights_file(self.dir / LOOP_STATE)
        if values is None or len(values) != len(variables):
            raise ValueError(f"{self.dir / LOOP_STATE}: {len(values or [])} arrays for {len(variables)} variables")
        for variable, value in zip(variables, values):
            variable.assign(value)
        return int(json.loads((self.dir / METADATA).read_text())["step"])

    def discard(self) -> None:
        """Remove the backup (training ended)."""
        discard_backup(self.dir.parent)
