"""One cost benchmark: seconds per evaluation and per step of every optimizer setting the studies report, from ONE
interleaved run, written as each study's ``costs.json`` (the reports' ``median modelled seconds`` and the summary's
seconds score read its ``seconds_per_evaluation``: kerasopt.results.read_costs).

    python benchmarks/costs.py experiments/style_cpu_budgets.yaml=docs/results/style/budgets/records \\
        experiments/style_cpu_1000.yaml=docs/results/style/budgets/1000/records ... [--out-root DIR] [--rounds 3]
    python benchmarks/costs.py ... --reconcile          # also the two older measurements, same rounds (costs.md)
    python benchmarks/costs.py --setting lbfgs:history_size=10 --setting lbfgs:history_size=320 \\
        --base size=128 init=noise --budget 500         # ad hoc settings (e.g. the L-BFGS history sweep)
    python benchmarks/costs.py --from-raw RAW.json [--reference NAME] [--write]   # tables (and files) again
    python benchmarks/costs.py --finished RECORDS=COSTS_DIR ...   # lbfgs vs lbfgs_scipy to a finished image

What is timed. Each ``STUDY=RECORDS`` pair names a study file and its records directory; with the study's
``plan.json`` there, every arm's setting as its runs have it (seed left out; with ``budgets`` the tuned arm is the
largest budget's selection), else each optimizer at the task's defaults for every arm. Settings that run the same
computation are timed once (`cost_key`): a first-order optimizer's learning rate and the start image do not change
what a step computes, so they are left out of the key, compared on the built optimizer's config (Adadelta's
epsilon 1e-6 and Keras' 1e-7 are two settings, timed apart); a full-batch driver's settings are all kept, start
image included, since its trajectory decides its line-search trials and memory fill. All settings of all studies
named are one pool, timed in ``--rounds`` rounds, each round every setting once in a seeded random order, so load
hits every setting alike; a setting's cost is the median over rounds (the rounds' range is written beside it).

- ``style``: a run of the task's own code (`kerasopt.style.run`: the loop, history rows, callbacks, as in a study
  run), ``--evaluations`` long for first-order optimizers; drivers run long enough to fill their L-BFGS memory
  (history + 2 x ``--evaluations``; Hessian-free at least `HF_EVALUATIONS`), never beyond the study's budget. From the
  run's history: **seconds per evaluation** = the slope of seconds over evaluations after the first iteration,
  averaged over a run of the study's budget (for L-BFGS, beyond a timed run of at least `TAIL_MIN` evaluations,
  the slope of its last third carries on: a filled memory costs what it costs at the end; otherwise the run's
  slope carries on); **one-off seconds** = tracing + what the first iteration cost beyond
  its evaluations at that rate (TensorFlow's graph optimisation of the first call; for the on-device L-BFGS-B
  15-80 evaluations' worth, growing with its history), paid once per run and NOT in the per-evaluation figure;
  **seconds per step** = per accepted iteration (line-search trials included; Hessian-free: per outer iteration, its
  evaluations counting each Hessian-vector product at ``hvp_cost``, as its history does).
- ``defects``: ``--steps`` ``train_on_batch`` steps of the run's compiled U-Net on a fixed batch of the study's
  size (one evaluation = one step); one-off = the first call beyond a step.

Conditions: TensorFlow's thread pools are fixed (``--threads``, default 1) before TensorFlow runs; the machine's
load (load average, and the cores other processes kept busy while it ran, from /proc/stat) and the host
fingerprint (`kerasopt.records.host_id`) are printed and written. Absolute seconds depend on both; ratios within
one run do not (much).

Output: ``costs.json`` per study in its records directory, or under ``--out-root`` at the same relative path.
Keys: ``seconds_per_evaluation`` (what reports read: optimizer -> {arm: seconds}, or seconds for every arm without
a plan), ``seconds_per_step``, ``one_off_seconds``, ``evaluations_per_step`` and ``spread`` (per-evaluation
min/max over rounds) of the same shape, ``settings``, ``conditions``, ``method``; readers take only
``seconds_per_evaluation``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

EVERY_ARM = None
FIRST_ORDER_EVALUATIONS = 6
HF_EVALUATIONS = 70  # Hessian-free's outer iteration is about 15-35 evaluation-equivalents: 2 rows at least
TAIL_MIN = 30
"""Evaluations after the first iteration a timing run needs before the last third of it alone (a filled L-BFGS memory)
is taken as the rate up to the study's budget; a shorter run's slope over all of it carries on."""
SEED = 1  # the first held-out seed (noise start image; the seed does not change a first-order step's work)
COST_FREE = {"hessian_free": ("initial_damping", "max_cg_iterations")}
"""Driver settings left out of `cost_key`: Hessian-free's damping and CG length change how its evaluation-equivalents
split into gradient evaluations and Hessian-vector products (a product counted at ``hvp_cost`` = 3, measured
2.6-2.9 gradient evaluations), and any split costs 0.87-1.0 of a gradient evaluation per equivalent, so its
settings are timed once."""
RUN_LENGTH = {"style": ("seed", "evaluations", "iterations", "snapshot_evaluations", "snapshot_every"),
              "defects": ("seed", "epochs")}


# ----------------------------------------------------------------------------------------------- conditions

def fix_threads(threads: int | None) -> None:
    """TensorFlow's intra- and inter-op pools at ``threads`` (before any TensorFlow op of this process)."""
    from kerasopt.seeding import fix_threads as fix
    fix(threads)


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot from /proc/stat; None where unreadable."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


class LoadProbe:
    """The load while a benchmark runs: load averages at start and end, and how many cores OTHER processes kept
    busy on average (all CPUs' busy time from /proc/stat minus this process's CPU time, over the wall time)."""

    def __init__(self):
        self.start = (time.perf_counter(), _busy_jiffies(), _own_cpu_seconds(), os.getloadavg())

    def summary(self) -> dict:
        wall0, jiffies0, own0, load0 = self.start
        wall, jiffies, own = time.perf_counter() - wall0, _busy_jiffies(), _own_cpu_seconds() - own0
        out = {"wall_seconds": round(wall, 1), "loadavg_start": [round(v, 2) for v in load0],
               "loadavg_end": [round(v, 2) for v in os.getloadavg()], "cores": os.cpu_count(),
               "own_cores_busy": round(own / wall, 2) if wall > 0 else None}
        if jiffies0 and jiffies and wall > 0:
            hz = os.sysconf("SC_CLK_TCK")
            busy = (jiffies[0] - jiffies0[0]) / hz
            out["all_cores_busy"] = round(busy / wall, 2)
            out["other_cores_busy"] = round(max(0.0, busy - own) / wall, 2)
        return out


def conditions(threads, probe: LoadProbe | None = None) -> dict:
    from kerasopt import records

    host = records.host_fingerprint()
    return {"threads": threads, "tensorflow_pools": records.thread_pools(), "host_id": records.host_id(host),
            "host": host, "load": probe.summary() if probe else None, "pid_nice": os.nice(0)}


# ----------------------------------------------------------------------------------------------- what to time

@dataclass
class User:
    """One (study, optimizer, arm) whose cost a timed setting gives."""
    study: str
    out: Path | None
    optimizer: str
    arm: str | None
    budget: int | None  # the study's evaluations per run (style), the length its cost is averaged over


@dataclass
class Unit:
    """One distinct setting to time (or a reference measurement), with what each round measured."""
    name: str
    task: str
    settings: dict
    users: list[User] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    length: int = 0  # evaluations (style) or steps (defects) of each timing


def study_settings(spec, records_dir: Path) -> list[tuple[dict, str, str | None]]:
    """(run settings without the seed, optimizer, arm) of every arm of the study; ``arm`` `EVERY_ARM` without a
    plan (each optimizer at the task's defaults serves every arm)."""
    from kerasopt import records
    from kerasopt.report.render import ARMS
    from kerasopt.study.expand import run_settings

    plan = records_dir / "plan.json"
    if not plan.is_file():
        return [(run_settings(spec, name, {}, seed=0), name, EVERY_ARM) for name in spec.optimizers]
    arm_of_phase = {phase: arm for arm, phase in ARMS.items()}
    runs = records.read_json_object(plan, ("runs",), "study plan")["runs"]
    largest = max((run["budget"] for run in runs if run.get("budget") is not None), default=None)
    found: dict[tuple, dict] = {}
    for run in runs:
        arm = arm_of_phase.get(run.get("phase"))
        if arm is None or run.get("optimizer") not in spec.optimizers or run.get("budget", largest) != largest:
            continue
        found.setdefault((run["optimizer"], arm), {k: v for k, v in run["config"].items() if k != "seed"})
    return [(settings, optimizer, arm) for (optimizer, arm), settings in found.items()]


def cost_key(task: str, settings: dict) -> str:
    """Settings that run the same computation share a key (see the module docstring)."""
    from kerasopt import optimizers

    left_out = RUN_LENGTH.get(task, ("seed",)) + ("hparams", "hparam_defaults")  # compared as built below
    kept = {k: v for k, v in settings.items() if k not in left_out}
    name = kept["optimizer"]
    config = task_config(task, settings)
    built = optimizers.build(name, config.resolved_hparams()).get_config()
    if optimizers.is_full_batch_driver(name):  # every setting but the budget; the start image too
        built = {k: v for k, v in built.items()
                 if k not in ("max_iterations", "max_evaluations") + COST_FREE.get(name, ())}
    else:
        built = {k: v for k, v in built.items() if k not in ("learning_rate", "name")}
        kept.pop("init", None)
    return json.dumps({"task": task, **kept, "built": built}, sort_keys=True, default=str)


def task_config(task: str, settings: dict):
    if task == "style":
        from kerasopt.style import StyleConfig
        return StyleConfig.from_dict({**settings, "seed": settings.get("seed", SEED)})
    from kerasopt.defects.config import DefectsConfig
    return DefectsConfig.from_dict({**settings, "synthetic": False, "seed": settings.get("seed", SEED)})


def run_length(unit: Unit, evaluations: int) -> int:
    """Evaluations of each timing run of a style setting: ``evaluations`` (first-order); a driver runs long enough
    to fill its memory (history + 2 x ``evaluations``; Hessian-free `HF_EVALUATIONS`); never beyond its users'
    budgets."""
    from kerasopt import optimizers

    settings = unit.settings
    budgets = [u.budget for u in unit.users if u.budget] or [settings.get("evaluations") or evaluations]
    wanted = evaluations
    if optimizers.is_full_batch_driver(settings["optimizer"]):
        from kerasopt import optimizers as registry
        config = task_config("style", settings)
        history = getattr(registry.build(settings["optimizer"], config.resolved_hparams()), "history_size", None)
        wanted = max(evaluations, HF_EVALUATIONS) if history is None else int(history) + 2 * evaluations
    return max(2, min(wanted, max(budgets)))


def label(settings: dict, task: str) -> str:
    hparams = ",".join(f"{k}={v}" for k, v in sorted((settings.get("hparams") or {}).items()))
    parts = [task, settings["optimizer"], hparams or "defaults", f"({settings.get('hparam_defaults', 'task')})"]
    if task == "style":
        parts.insert(1, f"{settings.get('size')}px {settings.get('init', 'content')} "
                        f"{settings.get('content', 'tubingen')}+{settings.get('style', 'starry-night')}")
    return " ".join(parts)


def collect(pairs: list[tuple[Path, Path, Path | None]]) -> list[Unit]:
    """The distinct settings of every arm of the studies ``(study file, records dir, costs.json dir)``."""
    from kerasopt.study import load

    units: dict[str, Unit] = {}
    for study_file, records_dir, out in pairs:
        spec = load(str(study_file))
        if spec.task not in SAMPLERS:
            raise SystemExit(f"error: no cost benchmark for task {spec.task!r} ({study_file}). "
                             f"Supported: {', '.join(SAMPLERS)}")
        for settings, optimizer, arm in study_settings(spec, records_dir):
            key = cost_key(spec.task, settings)
            unit = units.setdefault(key, Unit(label(settings, spec.task), spec.task, settings))
            budget = settings.get("evaluations") if spec.task == "style" else None
            unit.users.append(User(spec.name, out, optimizer, arm, budget))
    return list(units.values())


# ----------------------------------------------------------------------------------------------- measuring

def rows_costs(rows: list[tuple[int, int, float]], trace_seconds: float, budget: int | None = None,
               fills: bool = False) -> dict:
    """Seconds per evaluation (averaged over ``budget`` evaluations), one-off and per-step seconds of a run from its
    history rows ``(step, evaluations, seconds)`` (row 0 at 0 s; seconds exclude tracing, ``trace_seconds``).
    ``fills``: the optimizer keeps a memory that grows over the run (L-BFGS), so the last third's rate of a long
    enough run carries on to ``budget``."""
    timed = [r for r in rows if r[1] > 0]
    if not timed:
        return {"per_evaluation": float("nan"), "one_off": trace_seconds, "per_step": float("nan"),
                "evaluations_per_step": float("nan")}
    first, last = timed[0], timed[-1]
    if last[1] <= first[1]:  # one iteration: nothing after the first to take a slope over
        per = first[2] / first[1]
        return {"per_evaluation": per, "one_off": trace_seconds, "per_step": first[2] / max(first[0], 1),
                "evaluations_per_step": first[1] / max(first[0], 1)}
    steady = (last[2] - first[2]) / (last[1] - first[1])
    end = budget or last[1]
    if end <= last[1]:
        within = [r for r in timed if r[1] <= end][-1]
        per = (within[2] - first[2]) / (within[1] - first[1]) if within[1] > first[1] else steady
    elif not fills or last[1] - first[1] < TAIL_MIN:  # no memory to fill, or too short: the run's slope carries on
        per = steady
    else:  # the last third's slope carries on to the budget
        tail_from = last[1] - max(1, (last[1] - first[1]) // 3)
        anchor = next(r for r in timed if r[1] >= tail_from)
        if anchor[1] >= last[1]:
            anchor = timed[-2]
        tail = (last[2] - anchor[2]) / (last[1] - anchor[1])
        per = (last[2] - first[2] + (end - last[1]) * tail) / (end - first[1])
    per_step_evals = (last[1] - first[1]) / max(last[0] - first[0], 1)
    return {"per_evaluation": per, "one_off": trace_seconds + max(0.0, first[2] - first[1] * steady),
            "per_step": per * per_step_evals, "evaluations_per_step": per_step_evals}


def style_sampler(unit: Unit, evaluations: int, scratch: Path):
    """A callable doing one timing run of a style setting; returns its rows, trace seconds and whole-run figures."""
    from kerasopt import records
    from kerasopt.style import StyleConfig, run

    length = run_length(unit, evaluations)
    config = StyleConfig.from_dict({**unit.settings, "evaluations": length, "iterations": None,
                                    "seed": unit.settings.get("seed", SEED)})

    def sample() -> dict:
        run_dir = Path(tempfile.mkdtemp(dir=scratch))
        try:
            summary = run(config, run_dir / "run")
            rows = [(int(r["step"]), int(r["evaluations"]), float(r["seconds"]))
                    for r in records.read_history(run_dir / "run")]
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        metrics = summary["metrics"]
        return {"rows": rows, "trace": float(summary.get("trace_seconds") or 0.0), "status": summary["status"],
                "run_evaluations": metrics.get("evaluations"), "run_seconds": metrics.get("seconds"),
                "iterations": metrics.get("iterations")}
    sample.length = length
    return sample


def defects_sampler(unit: Unit, steps: int, scratch: Path):
    """A callable timing ``steps`` training steps of the U-Net of a defect setting (built and traced here)."""
    import numpy as np

    from kerasopt.defects.train import build_model

    config = task_config("defects", unit.settings)
    model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.random((config.batch_size, config.size, config.size, 3), dtype=np.float32)
    masks = (rng.random((config.batch_size, config.size, config.size, 1)) > 0.98).astype(np.float32)
    begin = time.perf_counter()
    model.train_on_batch(images, masks)
    first = time.perf_counter() - begin

    def sample() -> dict:
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, masks)
        per = (time.perf_counter() - start) / steps
        return {"per_evaluation": per, "per_step": per, "evaluations_per_step": 1.0, "one_off": max(0.0, first - per)}
    sample.length = steps
    return sample


SAMPLERS = {"style": style_sampler, "defects": defects_sampler}


MEMORY = ("lbfgs", "lbfgs_scipy")  # drivers whose per-iteration work grows with the pairs stored


def unit_costs(unit: Unit, sample: dict, budget: int | None) -> dict:
    if "rows" in sample:
        return rows_costs(sample["rows"], sample["trace"], budget, fills=unit.settings.get("optimizer") in MEMORY)
    return sample


def interleave(units: list[Unit], samplers: dict, rounds: int, seed: int = 0, log=print, after_round=None) -> None:
    """``rounds`` rounds, each timing every unit once in a seeded random order; samples go to ``unit.samples``
    (``after_round(r)`` is called after each round, e.g. to save what was measured so far)."""
    order = list(range(len(units)))
    shuffle = random.Random(seed)
    for r in range(rounds):
        shuffle.shuffle(order)
        for i in order:
            unit = units[i]
            sample = samplers[unit.name]()
            unit.samples.append(sample)
            shown = unit_costs(unit, sample, None)
            log(f"round {r + 1}/{rounds} {unit.name}: {shown['per_evaluation'] * 1000:.1f} ms/eval, one-off "
                f"{shown['one_off']:.2f} s")
        if after_round is not None:
            after_round(r + 1)


def summarize(unit: Unit, budget: int | None) -> dict:
    """Median over rounds (and the rounds' min, max) of each figure, the per-evaluation one averaged over ``budget``."""
    per_round = [unit_costs(unit, sample, budget) for sample in unit.samples]
    out = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]}
    values = [r["per_evaluation"] for r in per_round]
    out["spread"] = [min(values), max(values)]
    out["rounds"] = values
    return out


# ----------------------------------------------------------------------------------------------- writing

def costs_files(units: list[Unit], rounds: int, meta: dict) -> dict[Path, dict]:
    """``costs.json`` content per output directory (one per study)."""
    files: dict[Path, dict] = {}
    keys = {"per_evaluation": "seconds_per_evaluation", "per_step": "seconds_per_step", "one_off": "one_off_seconds",
            "evaluations_per_step": "evaluations_per_step", "spread": "spread"}
    for unit in units:
        for user in unit.users:
            if user.out is None:
                continue
            data = files.setdefault(user.out, {name: {} for name in keys.values()} | {
                "settings": {}, "study": user.study, "rounds": rounds, **meta})
            costs = summarize(unit, user.budget)
            for key, name in keys.items():
                value = round(costs[key], 6) if isinstance(costs[key], float) else [round(v, 6) for v in costs[key]]
                if user.arm is EVERY_ARM:
                    data[name][user.optimizer] = value
                else:
                    data[name].setdefault(user.optimizer, {})[user.arm] = value
            name = user.optimizer if user.arm is EVERY_ARM else f"{user.optimizer} {user.arm}"
            data["settings"][name] = {"hparams": unit.settings.get("hparams", {}),
                                      "hparam_defaults": unit.settings.get("hparam_defaults", "task"),
                                      "timed_as": unit.name, "timed_run_length": unit.length,
                                      "averaged_over_evaluations": user.budget}
    return files


METHOD = ("benchmarks/costs.py: every distinct setting of every study named timed in one pool, interleaved rounds "
          "(seeded random order), median over rounds; style: slope of a run's history seconds over evaluations "
          "after its first iteration, averaged over a run of the study's budget (tracing and the first iteration's "
          "graph optimisation apart, in one_off_seconds); defects: train_on_batch steps on a fixed batch")


def table(units: list[Unit], reference: str | None) -> str:
    """Markdown: per unit the median seconds per evaluation [min-max over rounds], its ratio to ``reference``
    within each round (median [min-max]), one-off seconds, evaluations per step, users."""
    ref = next((u for u in units if u.name == reference), None)
    lines = ["| setting | run length | s / evaluation, median [min-max] | ratio to reference per round, median "
             "[min-max] | one-off s | evaluations / step | used by |", "|---|---|---|---|---|---|---|"]
    for unit in sorted(units, key=lambda u: (u.task, u.name)):
        costs = summarize(unit, None)
        ratio = "n/a"
        if ref is not None:
            ratios = [a / b for a, b in zip(costs["rounds"], summarize(ref, None)["rounds"])]
            ratio = f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
        users = "; ".join(sorted({f"{u.study}: {u.optimizer} {u.arm or 'every arm'}" for u in unit.users})) or "-"
        lines.append(f"| {unit.name} | {unit.length} | {costs['per_evaluation']:.4f} [{costs['spread'][0]:.4f}-"
                     f"{costs['spread'][1]:.4f}] | {ratio} | {costs['one_off']:.2f} | "
                     f"{costs['evaluations_per_step']:.2f} | {users} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- reconciliation

RECONCILE_EVALUATIONS = 50  # step_costs.py ran 100 (a study without a budget in its base): reconstructed from these
STEP_COSTS_EVALUATIONS = 100
DRIVER_EVALUATIONS = 40


def reconcile(size: int, evaluations: int = RECONCILE_EVALUATIONS) -> tuple[list[Unit], dict]:
    """The two older measurements and this one side by side, in the same interleaved rounds (128 px, noise seed 1,
    the style study's problem):

    - ``run adam`` / ``run lbfgs`` (task defaults, history 10): one run of the task's code of
      ``evaluations``; each gives benchmarks/step_costs.py's figure (the run's seconds / evaluations, its first
      iteration's graph optimisation included) AND this benchmark's (history slope after the first iteration);
    - ``driver lbfgs h10`` (benchmarks/lbfgs_history_cost.py): the driver alone, `DRIVER_EVALUATIONS` (it ran 120), per
      evaluation after its first iteration (`style_bench.per_evaluation`);
    - ``bare evaluation float64`` (lbfgs_history_cost.py's "bare evaluation"): a fresh tf.function of the flat
      float64 value and gradient, one untimed call, then 10 timed;
    - ``bare evaluation float32``: value and gradient of the image variable itself, same timing;
    - ``bare Adam step`` (benchmarks/style_bench.py): value, gradient, Adam update and clip, 20 timed steps.
    """
    import tensorflow as tf

    from kerasopt.optimizers.full_batch import FlatProblem
    from kerasopt.optimizers.tf_lbfgs import TFLBFGS
    from style_bench import bare_step_seconds, driver_run, per_evaluation, setup

    base = {"size": size, "init": "noise", "seed": SEED, "evaluations": evaluations}
    scratch = Path(tempfile.mkdtemp(prefix="costs_reconcile_"))
    units, samplers = [], {}
    for optimizer in ("adam", "lbfgs"):
        unit = Unit(f"run {optimizer}", "style", {**base, "optimizer": optimizer})
        sampler = style_sampler(unit, evaluations, scratch)
        units.append(unit)
        samplers[unit.name] = sampler
    objective, start = setup(size, init="noise", seed=SEED)

    def driver() -> dict:
        result, rows = driver_run(TFLBFGS(max_evaluations=DRIVER_EVALUATIONS, history_size=10, bounds=(0.0, 255.0)),
                                  objective, start)
        return {"per_evaluation": per_evaluation(result, rows), "one_off": result.trace_seconds,
                "per_step": float("nan"), "evaluations_per_step": float("nan")}

    def bare(flat64: bool, repeats: int = 10):
        def sample() -> dict:
            image = tf.Variable(start)
            if flat64:  # as lbfgs_history_cost.evaluation_seconds
                problem = FlatProblem(lambda: objective(image)[0], [image], dtype=tf.float64)
                evaluate, point = tf.function(problem.value_and_gradient), problem.read()
                call = lambda: evaluate(point)  # noqa: E731
            else:
                @tf.function
                def call():
                    with tf.GradientTape() as tape:
                        loss = objective(image)[0]
                    return loss, tape.gradient(loss, image)
            begin = time.perf_counter()
            call()
            first = time.perf_counter() - begin
            begin = time.perf_counter()
            for _ in range(repeats):
                loss, _ = call()
            float(loss)
            per = (time.perf_counter() - begin) / repeats
            return {"per_evaluation": per, "one_off": first - per, "per_step": per, "evaluations_per_step": 1.0}
        return sample

    def bare_adam() -> dict:
        per = bare_step_seconds(objective, start, 10)
        return {"per_evaluation": per, "one_off": float("nan"), "per_step": per, "evaluations_per_step": 1.0}

    for name, sampler in zip(RECONCILE_REFERENCES, (driver, bare(True), bare(False), bare_adam)):
        sampler.length = DRIVER_EVALUATIONS if name.startswith("driver") else 10
        units.append(Unit(name, "style", {**base, "optimizer": name}))
        samplers[name] = sampler
    for unit in units:
        unit.length = samplers[unit.name].length
    return units, samplers


RECONCILE_REFERENCES = ("driver lbfgs h10 (lbfgs_history_cost)", "bare evaluation float64 (lbfgs_history_cost)",
                        "bare evaluation float32", "bare Adam step (style_bench)")


def step_costs_figure(sample: dict, evaluations: int = STEP_COSTS_EVALUATIONS) -> float:
    """benchmarks/step_costs.py's seconds per evaluation of a run of ``evaluations`` (its seconds, tracing excluded,
    over its evaluations) from a shorter run's history: the first iteration's excess spread over ``evaluations``."""
    costs = rows_costs(sample["rows"], 0.0)
    return costs["one_off"] / evaluations + costs["per_evaluation"]


def reconcile_table(units: list[Unit]) -> str:
    """Per round: the old step_costs figure (run seconds / evaluations), this benchmark's (slope), and the ratios."""
    by = {u.name: u for u in units}
    lines = ["| measurement | round values (s / evaluation) | median |", "|---|---|---|"]
    series: dict[str, list[float]] = {}
    for name in ("run adam", "run lbfgs"):
        unit = by[name]
        series[f"{name}: step_costs way (run seconds / evaluations, {RECONCILE_EVALUATIONS}-evaluation run)"] = [
            s["run_seconds"] / s["run_evaluations"] for s in unit.samples]
        series[f"{name}: step_costs way at its {STEP_COSTS_EVALUATIONS} evaluations (first-iteration excess / "
               f"{STEP_COSTS_EVALUATIONS} + slope)"] = [step_costs_figure(s) for s in unit.samples]
        series[f"{name}: new way (history slope after the first iteration)"] = [
            rows_costs(s["rows"], s["trace"])["per_evaluation"] for s in unit.samples]
        series[f"{name}: one-off seconds (tracing + first iteration's excess)"] = [
            rows_costs(s["rows"], s["trace"])["one_off"] for s in unit.samples]
    for name in RECONCILE_REFERENCES:
        if name in by:
            series[name] = [s["per_evaluation"] for s in by[name].samples]
    for name, values in series.items():
        lines.append(f"| {name} | {', '.join(f'{v:.4f}' for v in values)} | {statistics.median(values):.4f} |")
    ratios = {
        "lbfgs / adam, step_costs way, 50-evaluation runs":
            ("run lbfgs: step_costs way (", "run adam: step_costs way ("),
        "lbfgs / adam, step_costs way at 100 (the budgets costs.json's 1.26x)":
            ("run lbfgs: step_costs way at", "run adam: step_costs way at"),
        "lbfgs / adam, new way": ("run lbfgs: new way", "run adam: new way"),
        "driver lbfgs / bare evaluation float64 (lbfgs_history_cost's 1.00x)":
            ("driver lbfgs h10", "bare evaluation float64"),
        "bare evaluation float64 / bare Adam step": ("bare evaluation float64", "bare Adam step"),
        "bare evaluation float32 / bare Adam step": ("bare evaluation float32", "bare Adam step"),
        "run adam (new way) / bare Adam step": ("run adam: new way", "bare Adam step"),
        "run lbfgs (new way) / bare Adam step": ("run lbfgs: new way", "bare Adam step"),
        "driver lbfgs (lbfgs_history_cost) / run lbfgs (new way)": ("driver lbfgs h10", "run lbfgs: new way"),
    }
    lines += ["", "| ratio, within each round | per round | median [min-max] |", "|---|---|---|"]
    for name, (a, b) in ratios.items():
        top = next(v for k, v in series.items() if k.startswith(a))
        bottom = next(v for k, v in series.items() if k.startswith(b))
        values = [x / y for x, y in zip(top, bottom)]
        lines.append(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | {statistics.median(values):.2f} "
                     f"[{min(values):.2f}-{max(values):.2f}] |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- time to finished

FINISHED = 0.05  # a finished image: within 5% of the best tuned arm's median final loss


def finished_runs(records_dir: Path) -> dict[tuple[str, str], dict[int, Path]]:
    """(optimizer, arm) -> {seed: run directory} of the completed arm runs (tuned = final phase) of a study."""
    from kerasopt import records
    from kerasopt.report.render import ARMS

    arm_of_phase = {phase: arm for arm, phase in ARMS.items()}
    plan = records.read_json_object(records_dir / "plan.json", ("runs",), "study plan")["runs"]
    largest = max((run["budget"] for run in plan if run.get("budget") is not None), default=None)
    found: dict = {}
    for run in plan:
        arm = arm_of_phase.get(run.get("phase"))
        if arm and run.get("budget", largest) == largest and records.is_complete(records_dir / run["run_id"]):
            found.setdefault((run["optimizer"], arm), {})[run["seed"]] = records_dir / run["run_id"]
    return found


def to_finished(records_dir: Path, costs: dict, optimizers=("lbfgs", "lbfgs_scipy"), arms=("tuned", "task_defaults"),
                fraction: float = FINISHED) -> tuple[float, list[dict]]:
    """(target, rows): the target is ``1 + fraction`` x the lowest median final loss of any tuned arm; per
    (optimizer, arm): per seed the evaluations and iterations to the target, evaluations per iteration in the
    first 20 evaluations and overall, and modelled seconds = evaluations x seconds per evaluation (+ one-off) from
    ``costs`` (a costs.json dict)."""
    from kerasopt import records

    runs = finished_runs(records_dir)
    finals = {key: statistics.median(records.read_summary(d)["metrics"]["loss"] for d in seeds.values())
              for key, seeds in runs.items() if key[1] == "tuned"}
    target = (1 + fraction) * min(finals.values())
    rows = []
    for optimizer in optimizers:
        for arm in arms:
            seeds = runs.get((optimizer, arm))
            if not seeds:
                continue
            per_eval = _cost(costs.get("seconds_per_evaluation", {}), optimizer, arm)
            one_off = _cost(costs.get("one_off_seconds", {}), optimizer, arm) or 0.0
            for seed, run_dir in sorted(seeds.items()):
                history = records.read_history(run_dir)
                hit = next((r for r in history if r["loss"] <= target), None)
                early = next((r for r in history if r["evaluations"] >= 20), history[-1])
                rows.append({"optimizer": optimizer, "arm": arm, "seed": seed,
                             "history_size": records.read_config(run_dir)["settings"]["resolved_hparams"].get(
                                 "history_size"),
                             "final": history[-1]["loss"], "evaluations": hit["evaluations"] if hit else math.inf,
                             "iterations": hit["step"] if hit else math.inf,
                             "evals_per_iteration_first_20": early["evaluations"] / max(early["step"], 1),
                             "evals_per_iteration": history[-1]["evaluations"] / max(history[-1]["step"], 1),
                             "modelled": hit["evaluations"] * per_eval if hit and per_eval else math.inf,
                             "modelled_with_one_off": one_off + hit["evaluations"] * per_eval
                             if hit and per_eval else math.inf,
                             "seconds_per_evaluation": per_eval, "one_off": one_off})
    return target, rows


def _cost(mapping: dict, optimizer: str, arm: str):
    value = mapping.get(optimizer)
    return value.get(arm) if isinstance(value, dict) else value


def finished_table(records_dir: Path, costs: dict) -> str:
    """Markdown: `to_finished` per arm (medians over seeds) and lbfgs / lbfgs_scipy on shared seeds."""
    target, rows = to_finished(records_dir, costs)
    adam = _cost(costs.get("seconds_per_evaluation", {}), "adam", "tuned") or math.nan
    lines = [f"{records_dir}: finished = loss <= {target:.4g} (1.05 x the lowest median final loss of a tuned arm); "
             f"in brackets: in tuned Adam steps of the same benchmark ({adam:.4g} s)", "",
             "| optimizer | arm | history | seeds | reached | evaluations (median) | evals / iteration, first 20 / all "
             "| s / evaluation | one-off s | modelled s (median) | modelled s with one-off (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["optimizer"], row["arm"]), []).append(row)
    for (optimizer, arm), group in groups.items():
        med = lambda key: statistics.median(r[key] for r in group)  # noqa: E731
        reached = sum(math.isfinite(r["evaluations"]) for r in group)
        per = group[0]["seconds_per_evaluation"]
        lines.append(f"| {optimizer} | {arm} | {group[0]['history_size']} | {len(group)} | {reached} | "
                     f"{med('evaluations'):g} | {med('evals_per_iteration_first_20'):.2f} / "
                     f"{med('evals_per_iteration'):.3f} | {per or math.nan:.4f} ({(per or math.nan) / adam:.2f}) | "
                     f"{group[0]['one_off']:.2f} ({group[0]['one_off'] / adam:.0f}) | {med('modelled'):.1f} "
                     f"({med('modelled') / adam:.0f}) | {med('modelled_with_one_off'):.1f} "
                     f"({med('modelled_with_one_off') / adam:.0f}) |")
    for arm in ("tuned", "task_defaults"):
        a = {r["seed"]: r for r in groups.get(("lbfgs", arm), [])}
        b = {r["seed"]: r for r in groups.get(("lbfgs_scipy", arm), [])}
        shared = sorted(set(a) & set(b))
        if not shared:
            continue
        for key in ("evaluations", "modelled", "modelled_with_one_off"):
            ratios = [a[s][key] / b[s][key] for s in shared if math.isfinite(a[s][key]) and math.isfinite(b[s][key])]
            if ratios:
                lines.append(f"\n{arm}, lbfgs / lbfgs_scipy {key} on {len(ratios)} shared seeds: median "
                             f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]; lbfgs no more: "
                             f"{sum(r <= 1 for r in ratios)}/{len(ratios)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- main

def parse_pair(text: str, out_root: Path | None) -> tuple[Path, Path, Path]:
    if "=" not in text:
        raise SystemExit(f"error: expected STUDY.yaml=RECORDS_DIR. Received: {text!r}")
    study, records_dir = (Path(part) for part in text.split("=", 1))
    out = records_dir if out_root is None else out_root / (records_dir if not records_dir.is_absolute()
                                                           else records_dir.relative_to("/"))
    return study, records_dir, out


def parse_setting(text: str, base: dict, budget: int | None) -> dict:
    """``OPTIMIZER[:key=value,...]`` over ``base``: an ad-hoc style setting."""
    optimizer, _, rest = text.partition(":")
    hparams = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        hparams[key] = json.loads(value) if value[:1].isdigit() or value[:1] in "-[{" else value
    return {**base, "optimizer": optimizer, "hparams": hparams, **({"evaluations": budget} if budget else {})}


def from_raw(args) -> int:
    """Print the tables of a ``--raw`` file again; with ``--write``, write its costs.json files again (the rules of
    this file applied to the samples measured then)."""
    from kerasopt import records

    raw = json.loads(args.from_raw.read_text())
    units = [Unit(u["name"], u["task"], u["settings"],
                  [User(x[0], Path(x[4]) if len(x) > 4 and x[4] else None, x[1], x[2], x[3]) for x in u["users"]],
                  u["samples"], u["length"]) for u in raw["units"]]
    print(f"rounds {raw['rounds_done']}, load {json.dumps(raw['conditions']['load'])}, host "
          f"{raw['conditions']['host_id']}, threads {raw['conditions']['threads']}")
    print(table(units, args.reference))
    if any(u.name in RECONCILE_REFERENCES for u in units):
        print(reconcile_table(units))
    if args.write:
        meta = {"benchmark": "benchmarks/costs.py", "method": METHOD, "conditions": raw["conditions"],
                "created": raw.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "recomputed_from": args.from_raw.name}
        for out, data in costs_files(units, raw["rounds_done"], meta).items():
            out.mkdir(parents=True, exist_ok=True)
            records.write_json_atomic(out / "costs.json", data)
            print(f"wrote {out / 'costs.json'}")
    return 0


def main(argv=None) -> int:
    from kerasopt.cli import quiet_tensorflow

    quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="*", help="STUDY.yaml=RECORDS_DIR pairs (one costs.json each)")
    parser.add_argument("--out-root", type=Path, default=None,
                        help="write each costs.json under this folder at its records directory's relative path "
                             "(default: into the records directory)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=FIRST_ORDER_EVALUATIONS,
                        help="style: evaluations of a first-order timing run; drivers add their history to it")
    parser.add_argument("--steps", type=int, default=3, help="defects: training steps per round")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads (0: its own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rounds' order")
    parser.add_argument("--reconcile", action="store_true",
                        help="also time the two older measurements (step_costs, lbfgs_history_cost) in the same rounds")
    parser.add_argument("--size", type=int, default=128, help="--reconcile: image size")
    parser.add_argument("--setting", action="append", default=[], help="ad hoc style setting OPT[:k=v,...]")
    parser.add_argument("--base", nargs="*", default=[], help="ad hoc settings' base: key=value (size=128 init=noise)")
    parser.add_argument("--budget", type=int, default=None, help="ad hoc settings: the run length averaged over")
    parser.add_argument("--reference", default=None, help="unit name whose per-round ratio the table shows")
    parser.add_argument("--raw", type=Path, default=None, help="also write every round's samples here (JSON)")
    parser.add_argument("--dry-run", action="store_true", help="list the settings to time and stop")
    parser.add_argument("--finished", nargs="+", metavar="RECORDS=COSTS_DIR", default=None,
                        help="time nothing: modelled seconds of lbfgs and lbfgs_scipy to a finished image in each "
                             "study's records, with the costs.json in COSTS_DIR")
    parser.add_argument("--from-raw", type=Path, default=None,
                        help="time nothing: print the tables of a --raw file again (with --reference)")
    parser.add_argument("--write", action="store_true", help="--from-raw: also write its costs.json files again")
    args = parser.parse_args(argv)
    if args.from_raw:
        return from_raw(args)
    if args.finished:
        for text in args.finished:
            records_dir, _, costs_dir = text.partition("=")
            costs_file = Path(costs_dir or records_dir) / "costs.json"
            print(finished_table(Path(records_dir), json.loads(costs_file.read_text())))
        return 0
    fix_threads(args.threads or None)
    probe = LoadProbe()
    started = time.perf_counter()
    log = lambda line: print(f"[{time.perf_counter() - started:7.1f} s] {line}", flush=True)  # noqa: E731
    scratch = Path(tempfile.mkdtemp(prefix="costs_"))
    units = collect([parse_pair(text, args.out_root) for text in args.studies])
    base = {"size": 128, "init": "noise"} | {k: (int(v) if v.isdigit() else v) for k, v in
                                              (item.split("=", 1) for item in args.base)}
    for text in args.setting:
        settings = parse_setting(text, base, args.budget)
        units.append(Unit(label(settings, "style"), "style", settings,
                          [User("ad hoc", None, settings["optimizer"], None, args.budget)]))
    if not units and not args.reconcile:
        parser.error("name at least one STUDY=RECORDS pair, --setting or --reconcile")
    log(f"{len(units)} distinct settings for {sum(len(u.users) for u in units)} (study, optimizer, arm) uses")
    if args.dry_run:
        for unit in units:
            length = run_length(unit, args.evaluations) if unit.task == "style" else args.steps
            print(f"  {unit.name}: {len(unit.users)} uses, timing length {length}")
        return 0
    samplers = {}
    for unit in units:
        samplers[unit.name] = SAMPLERS[unit.task](unit, args.evaluations if unit.task == "style" else args.steps,
                                                  scratch)
        unit.length = samplers[unit.name].length
    if args.reconcile:
        extra, extra_samplers = reconcile(args.size)
        units += extra
        samplers |= extra_samplers
    log("built every setting; interleaved rounds begin")
    for problem in {json.dumps({k: u.settings.get(k) for k in ("size", "content", "style")}) for u in units
                    if u.task == "style"}:  # VGG and the targets, once per problem, before timing
        from kerasopt.style import StyleConfig
        from kerasopt.style.workload import prepare
        prepare(StyleConfig.from_dict({k: v for k, v in json.loads(problem).items() if v is not None}))

    def save_raw(done_rounds: int) -> None:
        if args.raw:
            args.raw.parent.mkdir(parents=True, exist_ok=True)
            args.raw.write_text(json.dumps({"rounds_done": done_rounds, "conditions": conditions(args.threads, probe),
                                            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                                            "units": [{"name": u.name, "task": u.task, "settings": u.settings,
                                                       "length": u.length, "samples": u.samples,
                                                       "users": [[x.study, x.optimizer, x.arm, x.budget,
                                                                  None if x.out is None else str(x.out)]
                                                                 for x in u.users]} for u in units]},
                                           default=str, indent=1))

    interleave(units, samplers, args.rounds, args.seed, log, save_raw)
    cond = conditions(args.threads, probe)
    log(f"host {cond['host_id']}, threads {args.threads}, load {json.dumps(cond['load'])}")
    print(table(units, args.reference))
    if args.reconcile:
        print(reconcile_table(units))
    meta = {"benchmark": "benchmarks/costs.py", "method": METHOD, "conditions": cond,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    from kerasopt import records
    for out, data in costs_files(units, args.rounds, meta).items():
        out.mkdir(parents=True, exist_ok=True)
        records.write_json_atomic(out / "costs.json", data)
        log(f"wrote {out / 'costs.json'}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
