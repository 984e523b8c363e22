"""Seconds per gradient evaluation of every optimizer of a study, from ONE interleaved benchmark.

A study's runs execute at different times under different machine load, so their logged
seconds do not compare fairly (the same work took 1.5 s in one arm and 4.5 s in another).
This benchmark builds one model per optimizer at the study's base settings, then times
``--steps`` training steps of each in turn, for ``--rounds`` rounds in a seeded random order,
so every optimizer is measured under the same conditions; its cost is the median over rounds.
It writes ``costs.json`` into the study's results directory; reports then add a
``median modelled seconds`` column = evaluations x cost (kerasopt.report.load.load_costs).

    python benchmarks/step_costs.py experiments/defects_cpu.yaml --out docs/results/defects/records

Supported tasks: ``defects`` (a ``train_on_batch`` step of the U-Net on a fixed batch of the
study's size; the data's values do not change the cost) and ``style`` (a short run of the task at
the study's settings, ``--style-evaluations`` evaluations: its logged seconds, which exclude tracing,
per evaluation, so L-BFGS's per-iteration work and Hessian-free's products are included).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import random
import statistics
import time
from pathlib import Path

from kerasopt.cli import quiet_tensorflow


def defects_step(spec, optimizer: str):
    """A callable running one training step of the study's U-Net under ``optimizer``."""
    import numpy as np

    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.train import build_model

    config = DefectsConfig.from_dict({**spec.base, "optimizer": optimizer, "synthetic": False})
    model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.random((config.batch_size, config.size, config.size, 3), dtype=np.float32)
    masks = (rng.random((config.batch_size, config.size, config.size, 1)) > 0.98).astype(np.float32)
    return lambda: model.train_on_batch(images, masks)


STYLE_EVALUATIONS = 20


def style_step(spec, optimizer: str, evaluations: int = STYLE_EVALUATIONS):
    """A callable running a short style run under ``optimizer`` and returning its seconds per evaluation."""
    import tempfile

    from kerasopt.style import StyleConfig, run

    config = StyleConfig.from_dict({**spec.base, "optimizer": optimizer, "evaluations": evaluations})
    scratch = tempfile.mkdtemp(prefix="step_costs_")

    def step() -> float:
        metrics = run(config, f"{scratch}/{optimizer}", progress=False)["metrics"]
        return metrics["seconds"] / max(metrics["evaluations"], 1)
    return step


STEPS = {"defects": defects_step, "style": style_step}  # task name -> step factory


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
    parser.add_argument("--style-evaluations", type=int, default=STYLE_EVALUATIONS,
                        help="style: evaluations of each short run")
    args = parser.parse_args(argv)

    from kerasopt import records
    from kerasopt.study import load

    spec = load(args.study)
    if spec.task not in STEPS:
        raise SystemExit(f"error: no step benchmark for task {spec.task!r}. Supported: {', '.join(STEPS)}")
    options = {"evaluations": args.style_evaluations} if spec.task == "style" else {}
    steps = {name: STEPS[spec.task](spec, name, **options) for name in spec.optimizers}
    costs = measure(steps, args.rounds, args.steps, warmup=args.warmup)
    fastest = min(costs.values())
    for name, seconds in sorted(costs.items(), key=lambda item: item[1]):
        print(f"{name:<10} {seconds * 1000:8.1f} ms per evaluation ({seconds / fastest:.2f}x the fastest)")
    records.write_json_atomic(Path(args.out) / "costs.json", {
        "seconds_per_evaluation": costs, "study": spec.name, "rounds": args.rounds, "steps": args.steps,
        "method": "median over interleaved rounds (seeded random order) of the mean seconds per step",
        "environment": records.environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    print(f"wrote {Path(args.out) / 'costs.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
