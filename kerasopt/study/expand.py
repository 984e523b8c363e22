"""Expanding a study into runs: tuning trials, the defaults arm, final reruns, run ids.

Phases:

1. ``tune``: per optimizer, settings from its search space (the bracket grid,
   scrambled Halton points or a full grid), each run with every tuning seed;
   ``task_defaults`` / ``library_defaults``: per optimizer, no overrides on top of
   kerasopt's per-task table or of the library's own constructor defaults, with
   every seed of ``spec.defaults_seeds``.
   Bracket sampler: while the selected setting lies at an edge of the values
   tried along a dimension, `extensions` adds the next value past that edge
   (same spacing) until the target gets worse there, the runs diverge, a hard
   limit stops it or ``spec.extensions`` steps were added on that side.
2. ``final``: per optimizer, the best tuning setting (`select_best`: best mean
   over the tuning seeds) with every held-out seed of ``spec.seeds`` (never a
   tuning seed, so the selected trial does not enter the tuned mean).

With several ``budgets`` every run goes to the largest; tuning outcomes are read
at each budget, each budget gets its own bracket (extensions are the union of
every budget's proposals) and its own selection, and the final runs of a budget
carry it (``budget``); budgets that select the same setting share the runs.

A run's id is a hash of its task and resolved task settings, so the same
settings are the same run: an optimizer without a searched dimension reuses
its task-defaults runs as its final runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Callable

from scipy.stats import qmc

from kerasopt.study.spec import BRACKET, DEFAULTS_ARMS, Dimension, StudySpec

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
        extension: tune: 0 for the initial trials, k for those added in the k-th bracket extension round.
        budget: final: the budget whose selection this role answers (None: a study without budgets).
        added_round: final: the round of ``more_seeds`` that added this seed (0: a configured seed).
    """

    run_id: str
    optimizer: str
    phase: str
    trial: int | None
    seed: int
    hparams: dict
    config: dict
    extension: int = 0
    budget: int | None = None
    added_round: int = 0

    def to_dict(self) -> dict:
        """The role as JSON data (``budget`` and ``added_round`` only where they are set)."""
        data = asdict(self)
        if data["budget"] is None:
            del data["budget"]
        if not data["added_round"]:
            del data["added_round"]
        return data


def run_id(task: str, config: dict) -> str:
    """12 hex digits of the SHA-256 of the canonical JSON of ``{task, config}``."""
    text = json.dumps({"task": task, "config": config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_settings(space: dict[str, Dimension], trials: int, sampler: str, seed: int,
                   spacing: float = 0.5) -> list[dict]:
    """The hyperparameter settings of one optimizer's (initial) tuning trials.

    Args:
        space: hyperparameter → dimension; fixed dimensions appear in every setting.
        trials: quasirandom and grid: the budget; exactly this many settings are returned when any
            dimension is searched, none otherwise (nothing to tune).
        sampler: ``"bracket"``: the product of every dimension's `bracket_values`
            (``trials`` is ignored); ``"quasirandom"``: a scrambled Halton sequence (``scipy.stats.qmc``,
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
    if sampler == BRACKET:
        columns = [bracket_values(space[name], spacing) for name in searched]
        rows = [dict(zip(searched, values)) for values in itertools.product(*columns)]
    elif sampler == "grid":
        columns = _grid_columns([space[name] for name in searched], trials)
        rows = [dict(zip(searched, values)) for values in itertools.product(*columns)]
    else:
        points = qmc.Halton(d=len(searched), scramble=True, seed=seed).random(trials)
        rows = [{name: space[name].at(float(u)) for name, u in zip(searched, point)} for point in points]
    return [{**fixed, **row} for row in rows]


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def bracket_values(dim: Dimension, spacing: float) -> list:
    """The initial values of one dimension under the bracket sampler, in increasing order.

    - ``log_uniform``: ``anchor * 10**(k * spacing)`` for every integer k from the grid point
      nearest ``low`` to the one nearest ``high``, anchored at the task default (always
      included, even outside the range), or at ``low`` without a default; so neighbours are
      ``spacing`` decades apart (0.3x-3x the default at 0.5 decades: 0.316x, 1x, 3.16x).
    - ``uniform`` (a hard range such as a probability): low, middle, high and the default.
    - ``choice``: its options, plus the default when missing (sorted when all are numbers).
    - ``fixed``: its value.
    """
    if not dim.searched:
        return [dim.values[0]]
    has_default = _is_number(dim.default) and not (dim.kind == "log_uniform" and dim.default <= 0)
    if dim.kind == "log_uniform":
        low, high = dim.values
        anchor = float(dim.default) if has_default else low
        first = round(math.log10(low / anchor) / spacing)
        last = round(math.log10(high / anchor) / spacing)
        if has_default:
            first, last = min(first, 0), max(last, 0)
        return [_round(anchor * 10 ** (k * spacing)) for k in range(first, last + 1)]
    if dim.kind == "uniform":
        low, high = dim.values
        values = {low, _round((low + high) / 2), high} | ({dim.default} if has_default else set())
        return sorted(values)
    values = list(dim.values)
    if dim.default is not None and dim.default not in values:
        values.append(dim.default)
    return sorted(values) if all(_is_number(v) for v in values) else values


def next_value(dim: Dimension, value, side: int, spacing: float):
    """The value one step past ``value`` on ``side`` (+1 up, -1 down), or None at a hard limit.

    ``log_uniform``: ``value * 10**(side * spacing)``; numeric ``choice``: the ratio of the
    two outermost options (the default among them) continued (integers rounded, kept >= 1); ``uniform``, ``fixed`` and
    non-numeric choices have hard limits.
    """
    if dim.kind == "log_uniform":
        return _round(value * 10 ** (side * spacing))
    if dim.kind != "choice" or not all(_is_number(v) and v > 0 for v in dim.values) or len(dim.values) < 2:
        return None
    options = bracket_values(dim, spacing)  # the options with the default
    ratio = options[-1] / options[-2] if side > 0 else options[0] / options[1]
    candidate = value * ratio
    if all(isinstance(v, int) for v in dim.values):
        candidate = int(round(candidate))
        if candidate < 1 or candidate == value:
            return None
        return candidate
    return _round(candidate)


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
    """Initial tuning trials (every tuning seed) and the defaults arms (every defaults seed) of every optimizer.

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
        settings = trial_settings(spec.spaces[optimizer], spec.trials, spec.sampler, spec.tuning_seed, spec.spacing)
        runs += [_planned(spec, resolve, optimizer, "tune", i, seed, hp)
                 for i, hp in enumerate(settings) for seed in spec.tuning_seeds]
        for arm in spec.defaults_arms:
            runs += [_planned(spec, resolve, optimizer, arm, None, seed, {}) for seed in spec.defaults_seeds]
    return runs


def setting_scores(outcomes: list[tuple[int, dict, str, float | None]]) -> dict[int, tuple[dict, float | None]]:
    """Per trial, ``(hparams, score)``: the mean metric over its tuning seeds, or None when any
    seed failed, diverged or gave a non-finite metric (such a setting is never selected).

    Args:
        outcomes: ``(trial, hparams, status, metric)`` per tuning run (one per trial and seed).
    """
    grouped: dict[int, tuple[dict, list]] = {}
    for trial, hparams, status, metric in outcomes:
        usable = status == "completed" and metric is not None and math.isfinite(float(metric))
        grouped.setdefault(trial, (hparams, []))[1].append(float(metric) if usable else None)
    return {trial: (hparams, None if None in values else sum(values) / len(values))
            for trial, (hparams, values) in grouped.items()}


def select_best(outcomes: list[tuple[int, dict, str, float | None]], mode: str) -> tuple[int, dict] | None:
    """The best tuning trial of one optimizer.

    Args:
        outcomes: ``(trial, hparams, status, metric)`` per tuning run (one per trial and tuning seed).
        mode: ``"min"`` or ``"max"``: the direction in which the metric improves.

    Returns:
        ``(trial, hparams)`` of the trial with the best mean over its seeds among trials whose
        every seed completed with a finite metric (ties: the lowest trial index), or None.
    """
    sign = 1.0 if mode == "min" else -1.0
    usable = [(sign * score, trial, hparams) for trial, (hparams, score) in setting_scores(outcomes).items()
              if score is not None]
    if not usable:
        return None
    _, trial, hparams = min(usable, key=lambda item: (item[0], item[1]))
    return trial, hparams


def bracket(spec: StudySpec, optimizer: str, outcomes: list[tuple[int, dict, str, float | None]],
            mode: str) -> tuple[dict[str, str], list[dict]]:
    """Where the selected setting of ``optimizer`` lies, and the settings that would bracket it.

    For each searched dimension, the values tried along it through the selected setting
    (the other dimensions held at the selection) are compared with the selected value.

    Returns:
        ``(status, proposals)``: status per hyperparameter, one of ``"bracketed"`` (worse values
        tried on both sides), ``"bracketed (above: diverged)"`` style notes when a neighbour did not
        complete, ``"upper edge: cap"`` / ``"lower edge: cap"`` (``spec.extensions`` steps added),
        ``"upper edge: hard limit"`` / ``"lower edge: hard limit"`` (no value past it), or
        ``"upper edge: extending"`` with the proposed setting in ``proposals``; proposals are
        new settings only (never one already tried).
    """
    chosen = select_best(outcomes, mode)
    if chosen is None:
        return {}, []
    _, best = chosen
    space = spec.spaces[optimizer]
    scores = setting_scores(outcomes)
    tried = [hparams for hparams, _ in scores.values()]
    cap = spec.extensions if spec.sampler == BRACKET else 0
    status, proposals = {}, []
    for name, dim in space.items():
        if not dim.searched:
            continue
        line = {h[name]: score for h, score in scores.values()
                if all(h.get(other) == best.get(other) for other in space if other != name)}
        ordered = sorted(line) if all(_is_number(v) for v in line) else list(line)
        index = ordered.index(best[name])
        initial = bracket_values(dim, spec.spacing) if spec.sampler == BRACKET else ordered
        notes = []
        for side, word in ((1, "upper"), (-1, "lower")):
            neighbour = index + side
            if 0 <= neighbour < len(ordered):
                if line[ordered[neighbour]] is None:
                    notes.append(f"{'above' if side > 0 else 'below'}: diverged or failed")
                continue
            used = sum(1 for v in ordered if _is_number(v) and (v > max(initial) if side > 0 else v < min(initial)))
            beyond = next_value(dim, best[name], side, spec.spacing) if _is_number(best[name]) else None
            if beyond is None:
                notes.append(f"{word} edge: hard limit")
            elif used >= cap:
                notes.append(f"{word} edge: cap")
            else:
                proposal = {**best, name: beyond}
                if proposal not in tried and proposal not in proposals:
                    proposals.append(proposal)
                notes.append(f"{word} edge: extending")
        edges = [note for note in notes if "edge" in note]
        status[name] = "; ".join(edges) if edges else "bracketed" + (f" ({'; '.join(notes)})" if notes else "")
    return status, proposals


def extensions(spec: StudySpec, resolve: Resolver, tune_runs: list[PlannedRun],
               outcomes: dict[str, tuple[str | None, float | None]] | list[dict], mode: str) -> list[PlannedRun]:
    """The next round of bracket extensions: new tuning runs (every tuning seed) for each optimizer
    whose selection lies at an extensible edge; [] when every selection is bracketed or capped.

    Args:
        tune_runs: every tuning run planned so far.
        outcomes: run id -> ``(status, metric)`` of the completed runs, or one such mapping per
            budget (the proposals of every budget, each setting once).
    """
    per_budget = outcomes if isinstance(outcomes, list) else [outcomes]
    if spec.sampler != BRACKET:
        return []
    rounds = max((run.extension for run in tune_runs), default=0) + 1
    new = []
    for optimizer in spec.optimizers:
        mine = [run for run in tune_runs if run.optimizer == optimizer]
        if not mine:
            continue
        proposals = []
        for at_budget in per_budget:
            proposals += [p for p in bracket(spec, optimizer, tuning_outcomes(mine, at_budget), mode)[1]
                          if p not in proposals]
        trial = max(run.trial for run in mine) + 1
        for offset, hparams in enumerate(proposals):
            new += [replace(_planned(spec, resolve, optimizer, "tune", trial + offset, seed, hparams),
                            extension=rounds) for seed in spec.tuning_seeds]
    return new


def tuning_outcomes(runs: list[PlannedRun], outcomes: dict[str, tuple[str | None, float | None]]) -> list[tuple]:
    """``(trial, hparams, status, metric)`` of ``runs`` (status None where a run has no record)."""
    return [(run.trial, run.hparams, *outcomes.get(run.run_id, (None, None))) for run in runs]


def untuned_setting(spec: StudySpec, optimizer: str) -> dict:
    """The setting of an optimizer whose space has no searched dimension: its fixed values."""
    return {name: dim.values[0] for name, dim in spec.spaces[optimizer].items()}


def added_seeds(spec: StudySpec, resolve: Resolver, best: dict[str, tuple[int | None, dict]], optimizers: list[str],
                seeds: list[int], budget: int | None, added_round: int) -> list[PlannedRun]:
    """Final runs on ``seeds`` added in round ``added_round`` of ``spec.more_seeds`` for ``optimizers``."""
    return [replace(_planned(spec, resolve, name, "final", best[name][0], seed, best[name][1]), budget=budget,
                    added_round=added_round) for name in optimizers for seed in seeds]


def final_phase(spec: StudySpec, resolve: Resolver, best: dict[str, tuple[int | None, dict]],
                budget: int | None = None) -> list[PlannedRun]:
    """The final reruns: each optimizer's selected ``(trial, hparams)`` with every seed, tagged with the
    ``budget`` whose selection they answer.

    Optimizers missing from ``best`` (every tuning trial failed) get no final runs.
    """
    return [replace(_planned(spec, resolve, optimizer, "final", best[optimizer][0], seed, best[optimizer][1]),
                    budget=budget) for optimizer in spec.optimizers if optimizer in best for seed in spec.seeds]
