"""Could the optimizers a longer budget left out have led it? The check behind a staged budgets study.

A study answered at budgets ``b0 < b1`` (every held-out run of the setting selected at ``b1`` has its
value at both in its history) runs the longer budget ``b2`` only for the optimizers near the best at
``b1``. For every optimizer of the short study this extrapolates its mean at ``b1`` to ``b2`` with the
power law through its means at ``b0`` and ``b1``::

    L(b2) = L(b1) * (b2 / b1) ** s,   s = log(L(b1) / L(b0)) / log(b1 / b0)

Loss curves that flatten (the exponent shrinks as the budget grows) make this an optimistic
extrapolation. Whether it is optimistic here is checked on the optimizers the long study ran: their
measured mean at ``b2`` beside the extrapolated one. An optimizer left out "cannot lead" when even its
optimistic extrapolation is above the measured mean at ``b2`` of the long study's best.

It also gives Kendall's tau between the ranking at ``b1`` (short study) and at ``b2`` (long study).

    python benchmarks/budget_cut.py SHORT_RECORDS LONG_RECORDS [--budgets 100 300 1000] [--metric loss]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from kerasopt import records
from kerasopt.report import budgets
from kerasopt.report.load import load_runs


def extrapolate(at_b0: float, at_b1: float, b0: float, b1: float, b2: float) -> float:
    """The power law through ``(b0, at_b0)`` and ``(b1, at_b1)`` evaluated at ``b2`` (positive values)."""
    exponent = math.log(at_b1 / at_b0) / math.log(b1 / b0)
    return at_b1 * (b2 / b1) ** exponent


def final_values(runs_dir: Path, selected_at: int | None, budgets: list[int], metric: str = "loss",
                 column: str = "evaluations") -> dict[str, dict[int, list[float]]]:
    """optimizer -> {seed: [value at each budget]} of its complete held-out runs of the setting selected
    at ``selected_at`` (None: a study without budgets); NaN where a run did not complete at a budget
    (diverged, failed, or collapsed by the study's task rule, as the report reads it)."""
    collapse = (records.read_study(runs_dir).get("task") or {}).get("collapse")
    frame = load_runs(runs_dir, metric, collapse=collapse).frame
    finals = frame[(frame["phase"] == "final") & frame["complete"]]
    if selected_at is not None:
        finals = finals[finals["budget"] == selected_at]
    values: dict[str, dict[int, list[float]]] = {}
    for run_id, name, seed in zip(finals["run_id"], finals["optimizer"], finals["seed"]):
        at = [records.outcome(runs_dir / run_id, metric, column, budget, collapse) for budget in budgets]
        row = [v if s == "completed" and records.is_finite(v) else math.nan for s, v in at]
        values.setdefault(name, {})[int(seed)] = row
    return values


def means(values: dict[str, dict[int, list[float]]]) -> dict[str, list[float]]:
    """optimizer -> mean over its seeds at each budget; an optimizer with a failed run at some budget is left out."""
    averaged = {name: [float(x) for x in np.mean(list(rows.values()), axis=0)] for name, rows in values.items()}
    return {name: row for name, row in averaged.items() if all(math.isfinite(x) for x in row)}


def ranking_change(short: dict[str, dict[int, list[float]]], long: dict[str, dict[int, list[float]]]) -> tuple:
    """Kendall's tau (with its bootstrap interval over seeds, `kerasopt.report.budgets.kendall_tau`) between
    the ranking at the short study's last budget and the long study's, over the optimizers in both."""
    at = lambda values: {name: {seed: (row[-1] if math.isfinite(row[-1]) else None)  # noqa: E731
                                for seed, row in rows.items()} for name, rows in values.items()}
    return budgets.kendall_tau(at(short), at(long), "min")


def cut_table(short: dict[str, list[float]], long: dict[str, list[float]], budgets: list[int]) -> list[dict]:
    """One row per optimizer of the short study: its means at b0 and b1, the extrapolation to b2, the
    measured mean at b2 where the long study ran it, and for the others whether they could lead."""
    b0, b1, b2 = budgets
    leader = min(long.values(), key=lambda row: row[-1])[-1] if long else math.nan
    rows = []
    for name, (at_b0, at_b1) in sorted(short.items(), key=lambda item: item[1][1]):
        guess = extrapolate(at_b0, at_b1, b0, b1, b2)
        measured = long[name][-1] if name in long else math.nan
        if name in long:
            verdict = "ran" + (" (extrapolation optimistic)" if guess <= measured else " (extrapolation NOT optimistic)")
        else:
            verdict = "cannot lead" if guess > leader else "could lead"
        rows.append({"optimizer": name, f"at {b0}": at_b0, f"at {b1}": at_b1, f"extrapolated to {b2}": guess,
                     f"measured at {b2}": measured, "verdict": verdict})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("short", type=Path, help="results directory of the study with budgets b0, b1")
    parser.add_argument("long", type=Path, help="results directory of the study run to b2 (no budgets)")
    parser.add_argument("--budgets", type=int, nargs=3, default=[100, 300, 1000])
    parser.add_argument("--metric", default="loss")
    parser.add_argument("--column", default="evaluations")
    args = parser.parse_args(argv)
    b0, b1, b2 = args.budgets
    short = final_values(args.short, b1, [b0, b1], args.metric, args.column)
    long = final_values(args.long, None, [b2], args.metric, args.column)
    rows = cut_table(means(short), means(long), args.budgets)
    print("| " + " | ".join(rows[0]) + " |" if rows else "no completed held-out runs")
    print("|" + "---|" * len(rows[0]) if rows else "")
    for row in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    tau, low, high, compared = ranking_change(short, long)
    print(f"\nKendall's tau between the rankings at {b1} and at {b2} evaluations (medians over the seeds both "
          f"ran, {compared} optimizers): {tau:.3g} [{low:.3g}, {high:.3g}] (95% bootstrap over seeds)")

if __name__ == "__main__":
    main()
