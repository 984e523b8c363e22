"""Expanding a study into runs: tuning trials, the defaults arm, final reruns, run ids.

Phases:

1. ``tune``: per optimizer, ``spec.trials`` settings from its search space
   (scrambled Halton points or a full grid), each run once with ``spec.tuning_seed``;
   ``task_defaults`` / ``library_defaults``: per optimizer, no overrides on top of
   kerasopt's per-task table or of the library's own constructor defaults, with
   every seed of ``spec.defaults_seeds``.
2. ``final``: per optimizer, the best tuning setting (`select_best`) with every
   held-out seed of ``spec.seeds`` (never the tuning seed, so the selected trial
   does not enter the tuned mean).

A run's id is a hash of its task and resolved task settings, so the same
settings are the same run: an optimizer without a searched dimension reuses
its task-defaults runs as its final runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass
from typing import Callable

from scipy.stats import qmc

from kerasopt.study.spec import DEFAULTS_ARMS, Dimension, StudySpec

PHASES = ("tune", *DEFAULTS_ARMS, "final")
Resolver = Callable[[dict], dict]


@dataclass(frozen=True)
class PlannedRun:
    """One role of one run in a study.

    Attributes:
        run_id: hash of the task and the resolved settings (the directory name).
        optimizer: registry name.
        phase: one of `PHASES`.
        trial: tuning trial index (tune; final: the trial selected), None for the defaults arms.
        seed: the run's seed.
        hparams: the optimizer overrides of this run ({} = the task's defaults).
        config: the resolved task settings (``Config.from_dict(...).to_dict()``).
    """

    run_id: str
    optimizer: str
    phase: str
    trial: int | None
    seed: int
    hparams: dict
    config: dict

    def to_dict(self) -> dict:
        return asdict(self)


def run_id(task: str, config: dict) -> str:
    """12 hex digits of the SHA-256 of the canonical JSON of ``{task, config}``."""
    text = json.dumps({"task": task, "config": config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_settings(space: dict[str, Dimension], trials: int, sampler: str, seed: int) -> list[dict]:
    """The hyperparameter settings of one optimizer's tuning trials.

    Args:
        space: hyperparameter → dimension; fixed dimensions appear in every setting.
        trials: the budget; exactly this many settings are returned when any
            dimension is searched, none otherwise (nothing to tune).
        sampler: ``"quasirandom"``: a scrambled Halton sequence (``scipy.stats.qmc``,
            seeded with ``seed``, so optimizers with equally many dimensions get the
            same points of the unit cube); ``"grid"``: the full factorial grid, with
            ``k`` levels per range (endpoints included, log-spaced for log_uniform)
            and every option of a choice, which must multiply to ``trials``.

    Raises:
        ValueError: a grid that cannot hold exactly ``trials`` points.
    """
    searched = [name for name, dim in space.items() if dim.searched]
    fixed = {name: dim.values[0] for name, dim in space.items() if not dim.searched}
    if not searched:
        return []
    if sampler == "grid":
        columns = _grid_columns([space[name] for name in searched], trials)
        rows = [dict(zip(searched, values)) for values in itertools.product(*columns)]
    else:
        points = qmc.Halton(d=len(searched), scramble=True, seed=seed).random(trials)
        rows = [{name: space[name].at(float(u)) for name, u in zip(searched, point)} for point in points]
    return [{**fixed, **row} for row in rows]


def _grid_columns(dims: list[Dimension], trials: int) -> list[list]:
    choices = math.prod(len(d.values) for d in dims if d.kind == "choice")
    ranges = sum(d.kind != "choice" for d in dims)
    levels = round((trials / choices) ** (1 / ranges)) if ranges else 0
    if choices * max(levels, 1) ** ranges != trials or (ranges and levels < 1):
        raise ValueError(f"tuning.trials: {trials} cannot be a full grid over {len(dims)} dimensions "
                         f"({ranges} ranges, choices with {choices} combinations)")
    columns = []
    for dim in dims:
        if dim.kind == "choice":
            columns.append(list(dim.values))
        else:
            quantiles = [0.5] if levels == 1 else [i / (levels - 1) for i in range(levels)]
            columns.append([dim.at(u) for u in quantiles])
    return columns


def run_settings(spec: StudySpec, optimizer: str, hparams: dict, seed: int, hparam_defaults: str = "task") -> dict:
    """The task settings of one run: the study's base + optimizer, hparams, seed and which defaults they override."""
    return {**spec.base, "optimizer": optimizer, "hparams": dict(hparams), "seed": seed,
            "hparam_defaults": hparam_defaults}


def _planned(spec, resolve, optimizer, phase, trial, seed, hparams) -> PlannedRun:
    try:
        config = resolve(run_settings(spec, optimizer, hparams, seed, DEFAULTS_ARMS.get(phase, "task")))
    except ValueError as exc:
        raise ValueError(f"base: {str(exc).splitlines()[0]} (optimizer {optimizer!r})") from None
    return PlannedRun(run_id(spec.task, config), optimizer, phase, trial, seed, dict(hparams), config)


def first_phase(spec: StudySpec, resolve: Resolver) -> list[PlannedRun]:
    """Tuning trials (tuning seed) and the defaults arms (every defaults seed) of every optimizer.

    Args:
        spec: the study.
        resolve: task settings → resolved settings (the task config's
            ``from_dict(...).to_dict()``; raises ValueError on bad settings).

    Raises:
        ValueError: ``"base: ..."`` for settings the task rejects,
            ``"tuning.trials: ..."`` for a grid that cannot hold the budget.
    """
    runs = []
    for optimizer in spec.optimizers:
        settings = trial_settings(spec.spaces[optimizer], spec.trials, spec.sampler, spec.tuning_seed)
        runs += [_planned(spec, resolve, optimizer, "tune", i, spec.tuning_seed, hp) for i, hp in enumerate(settings)]
        for arm in spec.defaults_arms:
            runs += [_planned(spec, resolve, optimizer, arm, None, seed, {}) for seed in spec.defaults_seeds]
    return runs


def select_best(trials: list[tuple[int, dict, str, float | None]], mode: str) -> tuple[int, dict] | None:
    """The best tuning trial of one optimizer.

    Args:
        trials: ``(trial, hparams, status, metric)`` per tuning run.
        mode: ``"min"`` or ``"max"``: the direction in which the metric improves.

    Returns:
        ``(trial, hparams)`` of the completed trial with the best finite metric
        (ties: the lowest trial index), or None when no trial completed.
    """
    sign = 1.0 if mode == "min" else -1.0
    usable = [(sign * float(metric), trial, hparams) for trial, hparams, status, metric in trials
              if status == "completed" and metric is not None and math.isfinite(float(metric))]
    if not usable:
        return None
    _, trial, hparams = min(usable, key=lambda item: (item[0], item[1]))
    return trial, hparams


def untuned_setting(spec: StudySpec, optimizer: str) -> dict:
    """The setting of an optimizer whose space has no searched dimension: its fixed values."""
    return {name: dim.values[0] for name, dim in spec.spaces[optimizer].items()}


def final_phase(spec: StudySpec, resolve: Resolver, best: dict[str, tuple[int | None, dict]]) -> list[PlannedRun]:
    """The final reruns: each optimizer's selected ``(trial, hparams)`` with every seed.

    Optimizers missing from ``best`` (every tuning trial failed) get no final runs.
    """
    return [_planned(spec, resolve, optimizer, "final", best[optimizer][0], seed, best[optimizer][1])
            for optimizer in spec.optimizers if optimizer in best for seed in spec.seeds]
