"""A defect study's time not spent training, before and after a change: the same runs at two commits (issue 43).

Runs the published defect study's protocol (defects_cpu.yaml's task settings, one TensorFlow thread a run)
for Adam at its default learning rate (one tuning run on seed 0, its only setting, then seeds 1..N) through
``kerasopt.study run`` with the code of a given checkout, then compares two such samples seed by seed: the
wall / training ratio of every run
(``(setup_seconds + wall_seconds) / train_seconds`` from its summary, i.e. ``1 / (1 - non_training_share)``)
and whether its metrics are identical.

    # the code before and after, each from its own worktree, the same host and threads, nothing else running
    git worktree add --detach /work/wt-before 4993b99
    python benchmarks/overhead_sample.py run --code /work/wt-before --out /work/overhead/before
    python benchmarks/overhead_sample.py run --code . --out /work/overhead/after --no-save-model
    python benchmarks/overhead_sample.py compare /work/overhead/before /work/overhead/after

A sample takes about 57 minutes here (11 runs of about 9.5 minutes at one thread, the tuning run first,
two workers), so before and after need about 2 hours of an otherwise idle machine.

``--no-save-model`` writes no ``best.keras`` (what new studies declare; the setting does not exist before
the cut). Runs go through the study runner's Ray backend with two workers of one core each, as studies
run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from kerasopt.results import RUN_COLUMNS, load_runs

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "experiments" / "defects_cpu.yaml"


def sample_study(seeds: int, save_model: bool) -> dict:
    """The sample's study file: defects_cpu's task settings, Adam at its default, seeds 1..``seeds``."""
    base = dict(yaml.safe_load(PROTOCOL.read_text())["base"], threads=1)
    if not save_model:
        base["save_model"] = False
    return {"name": "defects_overhead_sample", "task": "defects", "base": base, "optimizers": ["adam"],
            "search": {"adam": {"learning_rate": {"choice": [1e-3]}}}, "tuning": {"sampler": "grid", "trials": 1},
            "defaults_arms": [], "seeds": list(range(1, seeds + 1)),
            "targets": [0.5, 0.7]}


def run_sample(code: Path, out: Path, seeds: int, save_model: bool, workers: int) -> None:
    """Run the sample with the package at ``code`` (its own checkout, so its runs use its code only)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(sample_study(seeds, save_model), handle)
    env = dict(os.environ, PYTHONPATH=str(code))
    command = [sys.executable, "-m", "kerasopt.study", "run", handle.name, "--out", str(out),
               "--backend", "ray", "--workers", str(workers)]
    subprocess.run(command, cwd=code, env=env, check=True)


def ratios(records_dir: Path) -> dict[int, tuple[float, dict]]:
    """Seed -> (wall / training, metrics) of every completed final run in a sample's records.

    Read through `kerasopt.results.load_runs` (the one reader of run records): wall / training is
    ``1 / (1 - non_training_share)``; metrics are the run's metric columns."""
    runs = load_runs(records_dir)
    metric_names = list(runs.columns[len(RUN_COLUMNS):])
    final = runs[runs["phase"].str.contains("final") & (runs["status"] == "completed")
                 & runs["non_training_share"].notna()]
    return {int(row["seed"]): (1.0 / (1.0 - row["non_training_share"]),
                               {name: row[name] for name in metric_names if not pd.isna(row[name])})
            for row in final.to_dict("records")}


def compare(before: Path, after: Path) -> str:
    """A markdown table of the two samples on their shared seeds, and the medians."""
    old, new = ratios(before), ratios(after)
    shared = sorted(set(old) & set(new))
    if not shared:
        raise SystemExit(f"error: no completed run shares a seed between {before} and {after}")
    lines = ["| seed | wall / training before | after | metrics identical |", "|---|---|---|---|"]
    identical = 0
    for seed in shared:
        same = outcomes(old[seed][1]) == outcomes(new[seed][1])
        identical += same
        lines.append(f"| {seed} | {old[seed][0]:.3f} | {new[seed][0]:.3f} | {'yes' if same else 'NO'} |")
    medians = [statistics.median(sample[seed][0] for seed in shared) for sample in (old, new)]
    lines.append(f"\nmedian wall / training on {len(shared)} shared seeds: before {medians[0]:.3f}, "
                 f"after {medians[1]:.3f}; every metric but seconds identical on {identical} of {len(shared)}")
    return "\n".join(lines)


def outcomes(metrics: dict) -> dict:
    """A run's metrics without its timings (what must not change when only overhead does)."""
    return {key: value for key, value in metrics.items() if not key.endswith("seconds")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the sample with one checkout's code")
    run.add_argument("--code", type=Path, required=True, help="the checkout whose kerasopt runs")
    run.add_argument("--out", type=Path, required=True, help="records folder of the sample")
    run.add_argument("--seeds", type=int, default=10)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--no-save-model", action="store_true", help="declare save_model: false (after the cut)")
    both = commands.add_parser("compare", help="compare two samples seed by seed")
    both.add_argument("before", type=Path)
    both.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        run_sample(args.code.resolve(), args.out.resolve(), args.seeds, not args.no_save_model, args.workers)
    else:
        print(compare(args.before, args.after))


if __name__ == "__main__":
    main()
