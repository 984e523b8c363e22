"""Hessian-free vs Adam at equal cost on a small style problem (the issue's Done-when comparison).

At ``--size`` px (default 32), from seeded noise, the loss after each budget in
evaluation-equivalents (a loss-and-gradient evaluation = 1, a Hessian-vector product =
``--hvp-cost``) for:

- Adam at learning rates ``--adam-rates`` (one step = one evaluation) and the best of them,
- scipy L-BFGS-B (for reference),
- `HessianFree` with ``max_cg_iterations`` x ``initial_damping`` from ``--cg`` x ``--damping``.

``--refine-steps N`` starts every method instead from the image after N Adam(30) steps from
noise (the late, near-converged phase where Newton-type methods are expected to help).

    python benchmarks/hf_vs_adam.py [--budgets 60 120 240 480] [--refine-steps 240] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from style_bench import BOUNDS, adam_rows, driver_run, loss_at, publish, setup  # noqa: E402

from kerasopt.optimizers.hessian_free import HessianFree  # noqa: E402
from kerasopt.optimizers.lbfgs import LBFGS  # noqa: E402
from kerasopt.style import loop  # noqa: E402


def start_image(size: int, seed: int, refine_steps: int):
    """(objective, float32 (1, H, W, 3) start): noise, or the image after ``refine_steps`` Adam(30) steps."""
    objective, start = setup(size, "noise", seed)
    if refine_steps:
        image = tf.Variable(start)
        loop.run_first_order(objective, image, keras.optimizers.Adam(30.0), refine_steps, lambda row: None)
        start = image.numpy()
    return objective, start


def compare(args) -> list[tuple[str, list[float]]]:
    """Rows (method, loss after each budget)."""
    objective, start = start_image(args.size, args.seed, args.refine_steps)
    rows = [("start", [float(objective(tf.constant(start))[0])] * len(args.budgets))]
    adam = []
    for rate in args.adam_rates:
        history = adam_rows(objective, start, rate, max(args.budgets))
        adam.append([loss_at(history, budget) for budget in args.budgets])
        rows.append((f"adam lr {rate:g}", adam[-1]))
    rows.append(("adam, best rate per budget", [min(column) for column in zip(*adam)]))
    rows.append(("scipy L-BFGS-B", [driver_run(LBFGS(max_evaluations=b, bounds=BOUNDS), objective, start)[0].loss
                                    for b in args.budgets]))
    for cg in args.cg:
        for damping in args.damping:
            losses = [driver_run(HessianFree(max_evaluations=b, bounds=BOUNDS, max_cg_iterations=cg,
                                             initial_damping=damping, hvp_cost=args.hvp_cost),
                                 objective, start)[0].loss for b in args.budgets]
            rows.append((f"hessian_free cg {cg}, damping {damping:g}", losses))
    return rows


def markdown(rows, args) -> str:
    origin = f"after {args.refine_steps} Adam(30) steps from noise" if args.refine_steps else "noise"
    lines = [f"{args.size} px, start: {origin} (seed {args.seed}); loss after N evaluation-equivalents "
             f"(Hv product = {args.hvp_cost:g} evaluations):", "",
             "| method | " + " | ".join(f"N = {b}" for b in args.budgets) + " |",
             "| --- |" + " --- |" * len(args.budgets)]
    lines += [f"| {name} | " + " | ".join(f"{value:.4g}" for value in values) + " |" for name, values in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=[60, 120, 240, 480])
    parser.add_argument("--adam-rates", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0, 100.0])
    parser.add_argument("--cg", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--damping", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--hvp-cost", type=float, default=3.0)
    parser.add_argument("--refine-steps", type=int, default=0)
    parser.add_argument("--out", default=None, help="also append the markdown table to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    publish(markdown(compare(args), args), started, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
