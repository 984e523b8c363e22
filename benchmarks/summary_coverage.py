"""Does the summary's score interval cover the true score? A simulated example with known truth (issue 41).

Each simulated summary has ``--workloads`` workloads and ``--optimizers`` optimizers whose true median times to
the target are fixed (drawn once, seeded); a study's held-out seeds are ``--seeds`` draws per optimizer of
``true median x lognormal(0, --spread)``. The true score is the benchmark score of the true medians
(`kerasopt.stats.profiles.scores`); each simulated summary computes the point score and its 95% bootstrap
interval exactly as `score_table` does (seeds resampled per optimizer and workload, the fastest time
recomputed in each resample). Printed: per optimizer, the true score, the mean point estimate and the share
of simulations whose interval covers the truth.

    .venv/bin/python benchmarks/summary_coverage.py [--simulations 200] [--resamples 400]
"""

from __future__ import annotations

import argparse

import numpy as np

from kerasopt.report import summary
from kerasopt.stats import profiles


def true_medians(optimizers: int, workloads: int, seed: int = 0) -> np.ndarray:
    """(workloads, optimizers) true median times, within a factor 3 of each other on each workload."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(rng.uniform(0.0, np.log(3.0), size=(workloads, optimizers)))


def simulated_workloads(medians: np.ndarray, seeds: int, spread: float, rng) -> list:
    names = [f"o{i}" for i in range(medians.shape[1])]
    workloads = []
    for w, row in enumerate(medians):
        spent = {n: {s: float(m * np.exp(rng.normal(0.0, spread))) for s in range(1, seeds + 1)}
                 for n, m in zip(names, row)}
        workloads.append(summary.Workload(f"w{w}", "min", {n: {1: 1.0} for n in names}, spent, target=1.0))
    return workloads


def coverage(simulations: int = 200, resamples: int = 400, optimizers: int = 4, workloads: int = 4, seeds: int = 5,
             spread: float = 0.3, seed: int = 0) -> dict[str, dict[str, float]]:
    """optimizer -> {"true", "mean estimate", "coverage"} over ``simulations`` simulated summaries."""
    medians = true_medians(optimizers, workloads, seed)
    truth = profiles.scores({f"w{w}": profiles.ratios({f"o{i}": m for i, m in enumerate(row)})
                            for w, row in enumerate(medians)})
    rng = np.random.default_rng(seed + 1)
    hits, estimates = {n: 0 for n in truth}, {n: [] for n in truth}
    for index in range(simulations):
        table = summary.score_table(simulated_workloads(medians, seeds, spread, rng), resamples, seed=index)
        for _, row in table.iterrows():
            estimates[row["optimizer"]].append(row["time score"])
            hits[row["optimizer"]] += row["time score low"] <= truth[row["optimizer"]] <= row["time score high"]
    return {n: {"true": truth[n], "mean estimate": float(np.mean(estimates[n])), "coverage": hits[n] / simulations}
            for n in truth}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--spread", type=float, default=0.3)
    args = parser.parse_args(argv)
    result = coverage(args.simulations, args.resamples, seeds=args.seeds, spread=args.spread)
    print(f"| optimizer | true score | mean point estimate | coverage of the 95% interval ({args.simulations} "
          f"simulations, {args.seeds} seeds, spread {args.spread}) |\n|---|---|---|---|")
    for name, row in result.items():
        print(f"| {name} | {row['true']:.3f} | {row['mean estimate']:.3f} | {row['coverage']:.2f} |")


if __name__ == "__main__":
    main()
