"""Does a study with several budgets reproduce an earlier study at its smaller budget, run by run?

For every completed run of the NEW study (run to its largest budget) whose optimizer, hparams, seed and
defaults arm match a completed run of the OLD study (run to ``--budget``), the new run's metric at the
budget (read from its history, as the report reads it) against the old run's final metric: per optimizer,
how many agree to 1e-4 and to 1% (relative), and the largest difference. Differences come from the
environment (library versions in each record's ``config.json``) and from float rounding that unstable
settings amplify.

    python benchmarks/budget_reproduction.py docs/results/style/records docs/results/style/budgets/records \
        [--budget 100] [--metric loss] [--column evaluations]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from kerasopt import records


def run_key(run_dir: Path) -> tuple:
    """``(optimizer, hparams as JSON, seed, defaults arm)`` of a run."""
    settings = records.read_config(run_dir)["settings"]
    return (settings["optimizer"], json.dumps(settings.get("hparams", {}), sort_keys=True), settings["seed"],
            settings.get("hparam_defaults"))


def completed_runs(folder: Path) -> dict[tuple, Path]:
    return {run_key(d): d for d in sorted(folder.iterdir()) if d.is_dir() and records.is_complete(d)}


def differences(old: Path, new: Path, budget: int, metric: str, column: str) -> dict[str, list[float]]:
    """optimizer -> relative differences |new at budget / old - 1| of the matching runs completed in both."""
    before, found = completed_runs(old), defaultdict(list)
    for key, run_dir in completed_runs(new).items():
        if key not in before:
            continue
        (status_a, a), (status_b, b) = records.outcome(before[key], metric), records.outcome(run_dir, metric, column,
                                                                                              budget)
        if status_a == status_b == "completed" and records.is_finite(a) and records.is_finite(b) and a:
            found[key[0]].append(abs(b / a - 1))
    return dict(found)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path, help="results directory of the study run to --budget")
    parser.add_argument("new", type=Path, help="results directory of the study with several budgets")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--metric", default="loss")
    parser.add_argument("--column", default="evaluations")
    args = parser.parse_args(argv)
    print("| optimizer | matching runs | within 1e-4 | within 1% | largest relative difference |")
    print("|---|---|---|---|---|")
    for name, found in sorted(differences(args.old, args.new, args.budget, args.metric, args.column).items()):
        print(f"| {name} | {len(found)} | {sum(d <= 1e-4 for d in found)} | {sum(d <= 0.01 for d in found)} | "
              f"{max(found):.2g} |")


if __name__ == "__main__":
    main()
