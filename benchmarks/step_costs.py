"""Seconds per gradient evaluation of every optimizer of a study, from ONE interleaved benchmark.

A study's runs execute at different times under different machine load, so their logged
seconds do not compare fairly (the same work took 1.5 s in one arm and 4.5 s in another).
This benchmark builds one model per setting to time, then times ``--steps`` training steps of
each in turn, for ``--rounds`` rounds in a seeded random order, so every setting is measured under
the same conditions; its cost is the median over rounds. With the study's ``plan.json`` in
``--out``, the settings are those of each optimizer's arms (tuned, task defaults, library defaults),
each timed once however many arms share it: a setting can change the cost (an L-BFGS history of
320 costs more per evaluation than one of 10). Without a plan, each optimizer is timed at the
task's defaults and that cost serves every arm. It writes ``costs.json`` into the results
directory; reports then add a ``median modelled seconds`` column = evaluations x the arm's cost
(kerasopt.report.load.load_costs).

    python benchmarks/step_costs.py experiments/defects_cpu.yaml --out docs/results/defects/records

Supported tasks: ``defects`` (a ``train_on_batch`` step of the U-Net on a fixed batch of the
study's size; the data's values do not change the cost) and ``style`` (a run of the task at the
setting, as long as the study's runs unless ``--style-evaluations`` says otherwise: its logged
seconds, which exclude tracing, per evaluation, so L-BFGS's per-iteration work, its one-off graph
optimisation spread as in the study, and Hessian-free's products are included; 20-evaluation runs
overstated L-BFGS's cost per evaluation by about 1.3x at 128 px).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import statistics
import time
from pathlib import Path

from kerasopt.cli import quiet_tensorflow


def defects_step(settings: dict):
    """A callable running one training step of the U-Net of a run's ``settings`` (its task config)."""
    import numpy as np

    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.train import build_model

    config = DefectsConfig.from_dict({**settings, "synthetic": False})
    model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.random((config.batch_size, config.size, config.size, 3), dtype=np.float32)
    masks = (rng.random((config.batch_size, config.size, config.size, 1)) > 0.98).astype(np.float32)
    return lambda: model.train_on_batch(images, masks)


STYLE_EVALUATIONS = 100  # when the study's base settings give no budget


def style_step(settings: dict, evaluations: int = STYLE_EVALUATIONS):
    """A callable running a short style run at a run's ``settings`` (its task config), ``evaluations``
    long, and returning its seconds per evaluation."""
    import tempfile

    from kerasopt.style import StyleConfig, run

    config = StyleConfig.from_dict({**settings, "evaluations": evaluations, "iterations": None})
    scratch = tempfile.mkdtemp(prefix="step_costs_")

    def step() -> float:
        metrics = run(config, scratch, progress=False)["metrics"]
        return metrics["seconds"] / max(metrics["evaluations"], 1)
    return step


STEPS = {"defects": defects_step, "style": style_step}  # task name -> step factory
EVERY_ARM = None


def settings_to_time(spec, results_dir: Path) -> list[tuple[dict, list[tuple[str, str | None]]]]:
    """The distinct run settings to time, each with the (optimizer, arm) pairs that use it.

    From the study's ``plan.json`` in ``results_dir`` when there is one: every arm's setting as its
    runs have it (the seed left out: it does not change the cost); in a study with ``budgets`` the tuned
    arm is the largest budget's selection (reports cost every budget's runs with it). Otherwise each
    optimizer at the task's defaults for arm `EVERY_ARM`.
    """
    from kerasopt import records
    from kerasopt.report.render import ARMS
    from kerasopt.study.expand import run_settings

    plan = results_dir / "plan.json"
    if not plan.is_file():
        return [(run_settings(spec, name, {}, seed=0), [(name, EVERY_ARM)]) for name in spec.optimizers]
    arm_of_phase = {phase: arm for arm, phase in ARMS.items()}
    groups: dict[str, tuple[dict, list]] = {}
    runs = records.read_json_object(plan, ("runs",), "study plan")["runs"]
    largest = max((run["budget"] for run in runs if run.get("budget") is not None), default=None)
    for run in runs:
        arm = arm_of_phase.get(run.get("phase"))
        if arm is None or run.get("optimizer") not in spec.optimizers or run.get("budget", largest) != largest:
            continue
        settings = {key: value for key, value in run["config"].items() if key != "seed"}
        users = groups.setdefault(json.dumps(settings, sort_keys=True), (settings, []))[1]
        if (run["optimizer"], arm) not in users:
            users.append((run["optimizer"], arm))
    return list(groups.values())


def costs_by_optimizer(timed: list[tuple[list[tuple[str, str | None]], float]]) -> dict:
    """``costs.json``'s ``seconds_per_evaluation``: optimizer -> seconds (every arm) or {arm: seconds}."""
    costs: dict = {}
    for users, seconds in timed:
        for optimizer, arm in users:
            if arm is EVERY_ARM:
                costs[optimizer] = seconds
            else:
                costs.setdefault(optimizer, {})[arm] = seconds
    return costs


def label(users: list[tuple[str, str | None]]) -> str:
    return ", ".join(name if arm is EVERY_ARM else f"{name} {arm}" for name, arm in users)


def measure(steps: dict, rounds: int, steps_per_round: int, warmup: int = 3, seed: int = 0) -> dict[str, float]:
    """Median seconds per step of each callable in ``steps`` over interleaved rounds (after ``warmup``).

    A callable that returns a number reports its own seconds per evaluation (e.g. a short run that
    times itself without tracing); otherwise the wall time of the call is used.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    order = list(steps)
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name in order:
            start = time.perf_counter()
            reported = [steps[name]() for _ in range(steps_per_round)]
            if all(isinstance(value, (int, float)) for value in reported):
                samples[name].append(statistics.fmean(reported))
            else:
                samples[name].append((time.perf_counter() - start) / steps_per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv=None) -> int:
    quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", help="study file")
    parser.add_argument("--out", required=True, help="the study's results directory (costs.json goes there)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="steps (style: short runs) per optimizer per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per optimizer first (tracing)")
    parser.add_argument("--style-evaluations", type=int, default=None,
                        help="style: evaluations of each run (default: the study's budget, so one-off costs are "
                             "spread over as many evaluations as in its runs)")
    args = parser.parse_args(argv)

    from kerasopt import records
    from kerasopt.study import load

    spec = load(args.study)
    if spec.task not in STEPS:
        raise SystemExit(f"error: no step benchmark for task {spec.task!r}. Supported: {', '.join(STEPS)}")
    options = {"evaluations": args.style_evaluations or spec.base.get("evaluations") or STYLE_EVALUATIONS} \
        if spec.task == "style" else {}
    to_time = {label(users): (settings, users) for settings, users in settings_to_time(spec, Path(args.out))}
    steps = {name: STEPS[spec.task](settings, **options) for name, (settings, _) in to_time.items()}
    measured = measure(steps, args.rounds, args.steps, warmup=args.warmup)
    fastest = min(measured.values())
    for name, seconds in sorted(measured.items(), key=lambda item: item[1]):
        print(f"{seconds * 1000:8.1f} ms per evaluation ({seconds / fastest:.2f}x the fastest)  {name}")
    records.write_json_atomic(Path(args.out) / "costs.json", {
        "seconds_per_evaluation": costs_by_optimizer([(users, measured[name]) for name, (_, users) in to_time.items()]),
        "settings": {name: {"hparams": settings.get("hparams", {}),
                            "hparam_defaults": settings.get("hparam_defaults", "task")}
                     for name, (settings, _) in to_time.items()},
        "study": spec.name, "rounds": args.rounds, "steps": args.steps,
        "method": "median over interleaved rounds (seeded random order) of the mean seconds per step",
        "environment": records.environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    print(f"wrote {Path(args.out) / 'costs.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
