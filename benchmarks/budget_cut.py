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

    python benchmarks/budget_cut.py SHORT_RECORDS LONG_RECORDS [--budgets 100 300 1000] [--metric loss]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from kerasopt import records


def extrapolate(at_b0: float, at_b1: float, b0: float, b1: float, b2: float) -> float:
    """The power law through ``(b0, at_b0)`` and ``(b1, at_b1)`` evaluated at ``b2`` (positive values)."""
    exponent = math.log(at_b1 / at_b0) / math.log(b1 / b0)
    return at_b1 * (b2 / b1) ** exponent


def final_means(runs_dir: Path, selected_at: int, budgets: list[int], metric: str = "loss",
                column: str = "evaluations") -> dict[str, list[float]]:
    """optimizer -> [mean over its completed held-out runs of the setting selected at ``selected_at``,
    read at each budget]; an optimizer with a run that did not complete at some budget is left out."""
    plan = json.loads((runs_dir / "plan.json").read_text())
    values: dict[str, list[list[float]]] = {}
    for role in plan["runs"]:
        if role.get("phase") != "final" or role.get("budget") != selected_at:
            continue
        run_dir = runs_dir / role["run_id"]
        if not records.is_complete(run_dir):
            continue
        at = [records.outcome(run_dir, metric, column, budget) for budget in budgets]
        row = [v if s == "completed" and records.is_finite(v) else math.nan for s, v in at]
        values.setdefault(role["optimizer"], []).append(row)
    means = {name: [float(x) for x in np.mean(rows, axis=0)] for name, rows in values.items()}
    return {name: row for name, row in means.items() if all(math.isfinite(x) for x in row)}


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
    parser.add_argument("long", type=Path, help="results directory of the study with budget b2 (its finals "
                                                "selected at b2)")
    parser.add_argument("--budgets", type=int, nargs=3, default=[100, 300, 1000])
    parser.add_argument("--metric", default="loss")
    parser.add_argument("--column", default="evaluations")
    args = parser.parse_args(argv)
    b0, b1, b2 = args.budgets
    short = final_means(args.short, b1, [b0, b1], args.metric, args.column)
    long = final_means(args.long, b2, [b2], args.metric, args.column)
    rows = cut_table(short, long, args.budgets)
    print("| " + " | ".join(rows[0]) + " |" if rows else "no completed held-out runs")
    print("|" + "---|" * len(rows[0]) if rows else "")
    for row in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
