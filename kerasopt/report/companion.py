"""A study beside a companion study of the same task under another protocol (a decayed schedule against a
constant learning rate): per optimizer in both, the two answers on the seeds they share, and whether the
ranking changes (Kendall's tau with a bootstrap interval). Pure reading of two studies' records.

The companion is named by the study's report-only key ``compare_to: {study: DIR, label: TEXT}`` (DIR: its
results directory, relative to the study file, then the working directory).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from kerasopt.layout import COMPANION_TABLE, STUDY
from kerasopt.report.load import headline_column, headline_metrics, load_runs, load_study
from kerasopt.report.text import interval_text, markdown_table
from kerasopt.results import seed_outcomes
from kerasopt.stats.intervals import paired_difference
from kerasopt.stats.paired import sign_flip_p_value
from kerasopt.stats.ranking import failure_aware_median, kendall_tau, on_seeds


def companion_dir(study: dict) -> Path | None:
    """The companion's results directory named by ``compare_to`` (None without one, or while the companion
    has no records yet: its study.json is looked up relative to the study file, then the working directory)."""
    given = (study["study"].get("compare_to") or {}).get("study")
    if not given:
        return None
    source = Path(study.get("source") or ".")
    return next((c for c in (source.parent / given, Path(given)) if (c / STUDY).is_file()), None)


def final_outcomes(runs_dir: Path, optimizers: list[str] | None = None) -> tuple[dict, str, list[int]]:
    """``(optimizer -> {seed: headline value or None}, mode, held-out seeds)`` of a study's tuned arm."""
    study = load_study(runs_dir)
    headline = headline_metrics(study)
    runs = load_runs(runs_dir, study["target"]["metric"], headline, (study.get("task") or {}).get("collapse")).frame
    names = optimizers or list(study["study"]["optimizers"])
    column = headline_column(study["target"]["metric"], headline)
    return seed_outcomes(runs, names, column), study["target"]["mode"], list(study["study"]["seeds"])


def comparison_table(mine: dict, theirs: dict, seeds: list[int], mode: str) -> pd.DataFrame:
    """Per optimizer in both: the median under each protocol on the held-out ``seeds`` (which every optimizer
    has), and on EVERY seed both arms completed (held-out and added to both): the paired difference (this
    protocol - the companion's) with its 95% t interval and the two-sided exact sign-flip p-value."""
    rows = []
    for name in [n for n in mine if n in theirs]:
        a, b = (on_seeds({name: o[name]}, seeds)[name] for o in (mine, theirs))
        shared = sorted(s for s in set(mine[name]) & set(theirs[name])
                        if mine[name][s] is not None and theirs[name][s] is not None)
        here, there = ({s: o[name][s] for s in shared} for o in (mine, theirs))
        mean, low, high, pairs = paired_difference(here, there)
        differences = np.asarray([here[s] - there[s] for s in shared], float)
        p = sign_flip_p_value(differences) if differences.size >= 2 else math.nan
        rows.append({"optimizer": name, "median here": failure_aware_median(list(a.values()), mode),
                     "median, companion": failure_aware_median(list(b.values()), mode),
                     "paired difference [95% CI]": interval_text(mean, low, high) + f" (n={pairs})",
                     "sign-flip p (two-sided)": p})
    return pd.DataFrame(rows)


def companion_lines(study: dict, runs_dir: Path, out_dir: Path) -> list[str]:
    """The report section comparing the study with its ``compare_to`` companion ([] without one)."""
    if not study["study"].get("compare_to"):
        return []
    label = study["study"]["compare_to"].get("label", "the companion study")
    other = companion_dir(study)
    if other is None:
        return [f"## Against {label}", "", f"The companion study (`{study['study']['compare_to']['study']}`) has "
                "no records yet: run it, then regenerate this report.", ""]
    mine, mode, seeds = final_outcomes(runs_dir)
    theirs, _, _ = final_outcomes(other)
    table = comparison_table(mine, theirs, seeds, mode)
    table.to_csv(out_dir / COMPANION_TABLE, index=False)
    shared = [n for n in mine if n in theirs]
    tau, low, high, count = kendall_tau(on_seeds({n: mine[n] for n in shared}, seeds),
                                                on_seeds({n: theirs[n] for n in shared}, seeds), mode)
    ranking = (f"Kendall's tau-b between the two rankings of these {count} optimizers (failure-aware median on "
               f"seeds {seeds}): {interval_text(tau, low, high)} (95% bootstrap over seeds; 1 = the same order)."
               if math.isfinite(tau) else f"Only {count} optimizers have results under both protocols: no ranking "
                                          "to compare.")
    return [f"## Against {label}", "",
            f"The optimizers in both this study and study `{load_study(other)['study']['name']}` ({label}), on "
            f"the held-out seeds {seeds}: each protocol's failure-aware median; on every seed both arms completed "
            "(held-out, and added seeds where both have them; n per row): the paired difference (this study "
            "minus the companion, per seed) and the exact sign-flip test of it. Each arm was tuned under its own "
            "protocol.",
            "", markdown_table(table), "", ranking, ""]
