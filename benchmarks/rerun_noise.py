"""Does a run reproduce itself? Two records folders compared run by run, on the runs they share.

Run ids hash a run's settings (seed included), so a run id present in both folders is a run with the
same settings done twice (the code may differ between the two: say which versions you compare).
Records copied from one folder into the other (identical ``summary.json``) are left out: they were
reused, not rerun. Status is as recorded: a task's collapse rule is applied when a report reads the
records, not here, so a collapsed run counts as completed; that is why the spread is also printed
without the largest difference. Prints each rerun's metric in both folders and the spread of the
differences: median |difference|, largest, and the standard deviation (with and without the largest,
and divided by sqrt 2: the spread of a single run around its own mean).

The first folder may be read from a git revision (``REV:PATH``), so a study replaced in the tree can
still be compared with its rerun::

    python benchmarks/rerun_noise.py 2af70a4:docs/results/defects/records docs/results/defects/records \\
        [--metric test_dice]
"""

from __future__ import annotations

import argparse
import math
import subprocess
from pathlib import Path

import numpy as np

from kerasopt import records


def summaries(folder: str) -> dict[str, dict]:
    """run id -> summary.json of every completed run record in ``folder`` (a path, or ``REV:PATH`` in git)."""
    if ":" in folder and not Path(folder).exists():
        rev, path = folder.split(":", 1)
        names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{path}"], check=True,
                               capture_output=True, text=True).stdout.split()
        found = {}
        for name in names:
            shown = subprocess.run(["git", "show", f"{rev}:{path}/{name}/{records.SUMMARY}"],
                                   capture_output=True, text=True)
            if shown.returncode == 0:
                found[name] = records.parse_json_object(shown.stdout, f"{folder}/{name}/{records.SUMMARY}",
                                                         ("status", "metrics"), "run summary")
        return found
    return {run_dir.name: records.read_summary(run_dir) for run_dir in sorted(Path(folder).iterdir())
            if (run_dir / records.SUMMARY).is_file()}


def rerun_pairs(first: dict[str, dict], second: dict[str, dict], metric: str) -> list[tuple[str, float, float]]:
    """``(run id, value in first, value in second)`` of every completed run in both that was rerun, not copied."""
    pairs = []
    for run_id in sorted(set(first) & set(second)):
        a, b = first[run_id], second[run_id]
        if a == b or a.get("status") != "completed" or b.get("status") != "completed":
            continue
        x, y = a["metrics"].get(metric), b["metrics"].get(metric)
        if records.is_finite(x) and records.is_finite(y):
            pairs.append((run_id, float(x), float(y)))
    return pairs


def spread(differences: np.ndarray) -> dict[str, float]:
    """Median |d|, largest |d|, SD of d, SD without the largest |d|, and that divided by sqrt 2 (one run)."""
    largest = int(np.argmax(np.abs(differences)))
    rest = np.delete(differences, largest)
    sd_rest = float(np.std(rest, ddof=1)) if rest.size > 1 else math.nan
    return {"median_abs": float(np.median(np.abs(differences))), "max_abs": float(abs(differences[largest])),
            "sd": float(np.std(differences, ddof=1)) if differences.size > 1 else math.nan,
            "sd_without_largest": sd_rest, "sd_one_run": sd_rest / math.sqrt(2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="records folder, or REV:PATH in git")
    parser.add_argument("second", help="records folder, or REV:PATH in git")
    parser.add_argument("--metric", default="test_dice")
    args = parser.parse_args(argv)
    try:
        pairs = rerun_pairs(summaries(args.first), summaries(args.second), args.metric)
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else exc
        raise SystemExit(f"error: {detail}") from None
    if not pairs:
        raise SystemExit("error: the two folders share no rerun (no run id completed in both with different records)")
    for run_id, x, y in pairs:
        print(f"{run_id}  {x:.4f}  {y:.4f}  {y - x:+.4f}")
    stats = spread(np.asarray([y - x for _, x, y in pairs]))
    print(f"{len(pairs)} reruns of {args.metric}: median |difference| {stats['median_abs']:.4f}, largest "
          f"{stats['max_abs']:.4f}, SD {stats['sd']:.4f}; without the largest SD {stats['sd_without_largest']:.4f} "
          f"({stats['sd_one_run']:.4f} per run)")


if __name__ == "__main__":
    main()
