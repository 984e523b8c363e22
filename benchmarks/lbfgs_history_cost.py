"""Seconds per evaluation of the on-device and scipy L-BFGS-B at several history sizes, in ONE interleaved run.

For each image size, every (driver, history) setting runs a style minimisation from noise (seed 1) for
``--evaluations`` loss-and-gradient evaluations, ``--rounds`` times in a seeded random order, so machine
load hits all settings alike; its cost is the median over rounds of the seconds per evaluation after the
first iteration (`style_bench.per_evaluation`: the first call's graph optimisation left out). The ratio
to each driver's history-10 cost is what the L-BFGS memory issue asks about (at most 1.3x at history 320,
128 px). The bare evaluation (value and gradient, compiled) is timed in the same rounds for reference.

    .venv/bin/python benchmarks/lbfgs_history_cost.py [--sizes 128 256] [--histories 10 40 80 320]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tensorflow as tf  # noqa: E402

from kerasopt.optimizers.full_batch import FlatProblem  # noqa: E402
from kerasopt.optimizers.lbfgs import LBFGS  # noqa: E402
from kerasopt.optimizers.tf_lbfgs import TFLBFGS  # noqa: E402
from style_bench import driver_run, per_evaluation, setup  # noqa: E402

DRIVERS = {"lbfgs": TFLBFGS, "lbfgs_scipy": LBFGS}


def evaluation_seconds(objective, start, repeats: int = 10) -> float:
    """Seconds of one compiled value-and-gradient evaluation (after an untimed first call)."""
    image = tf.Variable(start)
    problem = FlatProblem(lambda: objective(image)[0], [image], dtype=tf.float64)
    evaluate = tf.function(problem.value_and_gradient)
    flat = problem.read()
    evaluate(flat)
    begin = time.perf_counter()
    for _ in range(repeats):
        loss, _ = evaluate(flat)
    float(loss)
    return (time.perf_counter() - begin) / repeats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--histories", type=int, nargs="+", default=[10, 40, 80, 320])
    parser.add_argument("--evaluations", type=int, nargs="+", default=[120, 60], help="per size")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    print("| size | driver | history | seconds per evaluation (median over rounds) | vs history 10 | "
          "vs a bare evaluation |")
    print("|---|---|---|---|---|---|")
    for size, evaluations in zip(args.sizes, args.evaluations + args.evaluations[-1:] * len(args.sizes)):
        objective, start = setup(size, init="noise", seed=1)
        jobs = [(driver, history) for driver in DRIVERS for history in args.histories] + [("evaluation", None)]
        seconds = {job: [] for job in jobs}
        for _ in range(args.rounds):
            rng.shuffle(jobs)
            for driver, history in jobs:
                if driver == "evaluation":
                    seconds[(driver, history)].append(evaluation_seconds(objective, start))
                    continue
                optimizer = DRIVERS[driver](max_evaluations=evaluations, history_size=history, bounds=(0.0, 255.0))
                seconds[(driver, history)].append(per_evaluation(*driver_run(optimizer, objective, start)))
        bare = statistics.median(seconds[("evaluation", None)])
        for driver in DRIVERS:
            base = statistics.median(seconds[(driver, args.histories[0])])
            for history in args.histories:
                cost = statistics.median(seconds[(driver, history)])
                print(f"| {size} | {driver} | {history} | {cost:.4f} | {cost / base:.2f}x | {cost / bare:.2f}x |",
                      flush=True)
        print(f"| {size} | bare evaluation | | {bare:.4f} | | 1.00x |", flush=True)


if __name__ == "__main__":
    main()
