"""The report's tables: pure functions of a study's loaded records (`kerasopt.report.load`).

Arms (`ARMS`): ``tuned`` = the final reruns of each optimizer's best tuning setting with held-out seeds;
``task_defaults`` = kerasopt's per-task defaults; ``library_defaults`` = the optimizer exactly as the
library builds it. Optimizers are ranked by the median over every held-out seed, a diverged, collapsed
or failed run counting as the worst value (`kerasopt.stats.ranking`); each arm's mean over its
COMPLETED runs has a 95% interval; failures are counted, never averaged.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from kerasopt import records
from kerasopt.report.shown import ARMS
from kerasopt.report.text import interval_text
from kerasopt.results import arm_cost, format_setting, resolved_hparams, seed_outcomes
from kerasopt.stats import verdicts
from kerasopt.stats.curves import TIME_AXES, median_cost, time_to_target
from kerasopt.stats.intervals import mean_interval, paired_difference, seeds_and_images_interval
from kerasopt.stats.ranking import failure_aware_median, on_seeds, rank_intervals, rank_order


DERIVED_FRACTIONS = (0.25, 0.5)


AXIS_NAMES = {"seconds": "wall seconds"}


WORSE = "worse than the best? (5% family-wise)"
EVERY_SEED_MEDIAN = "tuned metric median on every seed (added too)"


OUTCOMES = "completed/diverged/collapsed/failed"


STATUSES = ("completed", "diverged", "collapsed", "failed")


def status_counts(part: pd.DataFrame) -> dict[str, int]:
    """Runs per outcome: completed, diverged, failed and incomplete (no summary yet)."""
    statuses = part["status"].fillna("incomplete")
    return {status: int((statuses == status).sum()) for status in (*STATUSES, "incomplete")}


def arm_table(runs: pd.DataFrame, optimizers: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per optimizer and arm: setting, outcome counts, and mean with 95% t interval of each metric
    over the completed runs (columns ``<metric>``, ``<metric>_low``, ``<metric>_high``)."""
    rows = []
    for name in optimizers:
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase)]
            if part.empty:
                continue
            row = {"optimizer": name, "arm": arm, "setting": part["setting"].iloc[0], "trial": part["trial"].iloc[0],
                   "seeds": " ".join(str(s) for s in part["seed"]), **status_counts(part), "n": len(part)}
            for metric in metrics:
                row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = mean_interval(part[metric].dropna().tolist())
            rows.append(row)
    columns = ["optimizer", "arm", "setting", "trial", "seeds", *STATUSES, "incomplete", "n",
               *(f"{m}{suffix}" for m in metrics for suffix in ("", "_low", "_high"))]
    return pd.DataFrame(rows, columns=columns)


def rank_on_shared_seeds(runs: pd.DataFrame, optimizers: list[str], metric: str, seeds, mode: str) -> list[str]:
    """Optimizers best first by the failure-aware median over the study's own held-out seeds
    (`kerasopt.stats.ranking.rank_order` of `kerasopt.stats.ranking.on_seeds`)."""
    return rank_order(on_seeds(seed_outcomes(runs, optimizers, metric), seeds), mode)


def per_seed(runs: pd.DataFrame, optimizer: str, metric: str) -> dict:
    """``{seed: value}`` of the completed tuned runs of ``optimizer``."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "final")].dropna(subset=[metric])
    return dict(zip(part["seed"], part[metric]))


def main_table(runs: pd.DataFrame, arms: pd.DataFrame, order: list[str], metric: str, mode: str,
               configured_seeds: list[int], rule: verdicts.MoreSeeds, per_image: dict | None = None) -> pd.DataFrame:
    """One row per optimizer in rank order: the rank with its bootstrap interval, the tuned setting, the
    failure-aware median on the study's own held-out seeds (the ranking statistic, on seeds every optimizer
    shares; with added seeds also the median over all of them beside it), the mean [95% CI] over completed
    runs and the outcomes,
    the failure rate, the paired difference to the rank-1 optimizer, the verdict "worse than the best?"
    (`kerasopt.stats.verdicts.decide`: all pairs at the configured seeds, then the seeds added where it was
    undecided) and each defaults arm. With ``per_image`` (run id -> per-test-image ``(TP, FP, FN)``, from
    runs that record them), the pooled Dice's interval over seeds AND test images is added."""
    outcomes = seed_outcomes(runs, order, metric)
    best = order[0] if order else None
    best_values = per_seed(runs, best, metric) if best else {}
    present = [arm for arm in ARMS if (arms["arm"] == arm).any()]
    decision = verdicts.decide(outcomes, configured_seeds, mode, rule)  # the planner's decision, from the records
    shared, reference = decision.shared, decision.reference
    intervals = rank_intervals(shared, mode)
    added_any = any(set(by_seed) - set(configured_seeds) for by_seed in outcomes.values())
    rows = []
    for rank, name in enumerate(order, start=1):
        by_seed = outcomes[name]
        failures = sum(v is None for v in by_seed.values())
        low, high = intervals[name]
        row = {"rank": rank, "rank [95% bootstrap]": f"[{low}, {high}]" if shared[name] else "—", "optimizer": name}
        for arm in present:
            match = arms[(arms["optimizer"] == name) & (arms["arm"] == arm)]
            if match.empty:
                row |= {f"{arm} metric mean [95% CI]": "—", f"{arm} {OUTCOMES}": "—"}
                continue
            r = match.iloc[0]
            if arm == "tuned":
                row["tuned setting"] = r["setting"]
                median = failure_aware_median(list(shared[name].values()), mode)
                row["tuned metric median, failures worst"] = "worst (most runs failed)" if math.isinf(median) else median
                if added_any:
                    every = failure_aware_median(list(by_seed.values()), mode)
                    row[EVERY_SEED_MEDIAN] = "worst (most runs failed)" if math.isinf(every) else every
            row[f"{arm} metric mean [95% CI]"] = interval_text(r[metric], r[f"{metric}_low"], r[f"{metric}_high"])
            row[f"{arm} {OUTCOMES}"] = outcome_text(r)
            if arm == "tuned":
                row["failure rate"] = f"{failures}/{len(by_seed)}" if by_seed else "—"
                if per_image:
                    row[SEEDS_AND_IMAGES] = images_interval_text(runs, name, per_image)
                if name == best:
                    row["paired diff. to best [95% CI]"] = "best"
                else:
                    mean, low_d, high_d, pairs = paired_difference(per_seed(runs, name, metric), best_values)
                    row["paired diff. to best [95% CI]"] = interval_text(mean, low_d, high_d) + (
                        f" (n={pairs})" if pairs else "")
                verdict = decision.verdicts.get(name, verdicts.Verdict())
                row[WORSE] = (verdicts.verdict_text(verdict, name == reference, int(r["incomplete"]))
                              if by_seed else "—")
                row["held-out seeds"] = held_out_seeds_text(by_seed, configured_seeds)
        rows.append(row)
    return pd.DataFrame(rows)


def held_out_seeds_text(by_seed: dict, configured_seeds: list[int]) -> str | int:
    """How many held-out seeds an optimizer's tuned arm ran, failed runs included: ``n`` or
    ``"n + m added"`` (``m`` seeds beyond the study's own, added by ``more_seeds``)."""
    added = len(set(by_seed) - set(configured_seeds))
    return f"{len(by_seed) - added} + {added} added" if added else len(by_seed)


SEEDS_AND_IMAGES = "tuned pooled Dice [95% over seeds and test images]"


def images_interval_text(runs: pd.DataFrame, optimizer: str, per_image: dict) -> str:
    """`seeds_and_images_interval` over the completed tuned runs of ``optimizer`` that record per-image counts."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "final") & (runs["status"] == "completed")]
    counts = [per_image[run_id] for run_id in part["run_id"] if per_image.get(run_id)]
    if not counts or len({len(c) for c in counts}) != 1:
        return "—"
    return interval_text(*seeds_and_images_interval(counts))


def outcome_text(row) -> str:
    """``completed/diverged/collapsed/failed`` counts of an arm (+ incomplete ones)."""
    return "/".join(str(row[status]) for status in STATUSES) + (
        f" (+{row['incomplete']} incomplete)" if row["incomplete"] else "")


def tuning_table(selection: dict, order: list[str]) -> pd.DataFrame:
    """Per optimizer (rank order): settings tried, how many the bracket added, the selection, its mean
    over the tuning seeds and where it lies among the values tried (`kerasopt.study.expand.bracket`)."""
    rows = []
    for name in order:
        chosen = selection.get(name)
        if not chosen:
            continue
        where = "; ".join(f"{hp}: {status}" for hp, status in sorted(chosen.get("bracket", {}).items()))
        rows.append({"optimizer": name, "settings tried": chosen.get("trials", 0),
                     "added past an edge": chosen.get("extensions", 0),
                     "selected": format_setting(chosen["hparams"]) if chosen.get("hparams") is not None else "—",
                     "mean over tuning seeds": chosen.get("score"),
                     "where the selection lies": where or ("not tuned" if not chosen.get("tuned") else "—")})
    return pd.DataFrame(rows)


def tuning_score(runs: pd.DataFrame, optimizer: str, hparams: dict) -> float:
    """Mean selection metric over the tuning seeds of the tuning trial whose setting is ``hparams`` on
    every searched key (NaN when no trial had it or a seed did not complete)."""
    def same(trial: dict) -> bool:
        return bool(trial) and all(key in hparams and _close(value, hparams[key]) for key, value in trial.items())

    tune = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "tune")]
    values = tune[tune["hparams"].map(same)]["metric"]
    return float(values.mean()) if len(values) and values.notna().all() else math.nan


def _close(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-4)
    return a == b


def defaults_check(runs_dir: Path, runs: pd.DataFrame, order: list[str], metric: str, mode: str,
                   selection: dict) -> pd.DataFrame:
    """Defaults arms whose mean of ``metric`` beats the tuned arm's by more than the tuned interval, both on
    the seeds the defaults arm ran (the tuned arm's added seeds left out), with what tuning saw: the
    selection's mean over the tuning seeds and, where the default setting was itself a tuning trial, that
    trial's mean (the two show whether tuning could tell them apart). Compared only where the tuned arm has
    an interval on those seeds (two or more); a defaults arm whose runs are the tuned arm's own (tuning
    selected the defaults) is not compared with itself."""
    sign = 1.0 if mode == "min" else -1.0
    rows = []
    for name in order:
        tuned_runs = runs[(runs["optimizer"] == name) & (runs["phase"] == "final")]
        for arm in ("task_defaults", "library_defaults"):
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == arm)]
            shared = tuned_runs[tuned_runs["seed"].isin(part["seed"])]
            if part.empty or shared.empty or set(shared["run_id"]) == set(part["run_id"]):
                continue
            d = mean_interval(part[metric].dropna().tolist())
            t = mean_interval(shared[metric].dropna().tolist())
            edge = t[1] if mode == "min" else t[2]
            if not (math.isfinite(d[0]) and math.isfinite(edge) and sign * d[0] < sign * edge):
                continue
            default = resolved_hparams(runs_dir, part["run_id"].iloc[0])
            chosen = selection.get(name) or {}
            rows.append({"optimizer": name, "defaults arm": arm,
                         "seeds": " ".join(str(seed) for seed in part["seed"]),
                         f"defaults {metric} mean [95% CI]": interval_text(*d),
                         f"tuned {metric} mean [95% CI], same seeds": interval_text(*t),
                         "tuned setting": tuned_runs["setting"].iloc[0],
                         "tuning seeds: selected setting": chosen.get("score", math.nan),
                         "tuning seeds: default setting": tuning_score(runs, name, default) if default else math.nan})
    return pd.DataFrame(rows)


def headline_table(arms: pd.DataFrame, order: list[str], metrics: list[str]) -> pd.DataFrame:
    """Tuned arm: mean [95% CI] of every headline metric, in rank order."""
    tuned = arms[arms["arm"] == "tuned"].set_index("optimizer")
    rows = []
    for name in order:
        if name not in tuned.index:
            continue
        r = tuned.loc[name]
        rows.append({"optimizer": name, **{m: interval_text(r[m], r[f"{m}_low"], r[f"{m}_high"]) for m in metrics}})
    return pd.DataFrame(rows)


def derived_targets(histories: dict[str, list[dict]], runs: pd.DataFrame, best: str | None, metric: str,
                    fractions: tuple = DERIVED_FRACTIONS) -> list[tuple[float, str]]:
    """Targets taken from the study itself: the mean over the best optimizer's tuned seeds of
    ``metric`` at the first history row at or past each fraction of its budget (in steps).

    Returns:
        ``[(target, source text)]`` (none without a best optimizer or histories).
    """
    if best is None:
        return []
    part = runs[(runs["optimizer"] == best) & (runs["phase"] == "final") & (runs["status"] == "completed")]
    targets = []
    for fraction in fractions:
        values = []
        for history in (histories[run_id] for run_id in part["run_id"] if histories[run_id]):
            rows = [r for r in history if records.is_finite(r.get(metric)) and records.is_finite(r.get("step"))]
            if rows:
                budget = rows[-1]["step"] * fraction
                values.append(next(r[metric] for r in rows if r["step"] >= budget))
        if values:
            targets.append((float(f"{sum(values) / len(values):.4g}"),
                            f"{best} (best) at {fraction:g} of its budget"))
    return targets


def target_table(histories: dict[str, list[dict]], runs: pd.DataFrame, optimizers: list[str],
                 targets: list[tuple[float, str]], metric: str, mode: str, costs: dict) -> pd.DataFrame:
    """Per optimizer, arm and target: completed seeds that reached it and the median cost over them
    along every time axis the histories have; ``modelled seconds`` = evaluations x the optimizer's
    benchmarked seconds per evaluation at that arm's setting (`kerasopt.results.read_costs`), independent of machine
    load when each run ran; ``wall seconds`` = the seconds the run itself logged."""
    rows, axes = [], []
    for name in optimizers:
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & (runs["status"] == "completed")]
            if part.empty:
                continue
            of_arm = [histories[run_id] for run_id in part["run_id"]]
            axes = axes or [axis for axis in TIME_AXES if any(axis in h[0] for h in of_arm if h)]
            for target, source in targets:
                costs_per_seed = [time_to_target(h, metric, target, mode, axes) for h in of_arm]
                reached = sum(math.isfinite(c.get("evaluations", math.inf)) for c in costs_per_seed)
                row = {"optimizer": name, "arm": arm, "target": target, "target from": source,
                       "reached": f"{reached}/{len(costs_per_seed)}"}
                row |= {f"median {AXIS_NAMES.get(axis, axis)}": median_cost([c[axis] for c in costs_per_seed])
                        for axis in axes}
                cost = arm_cost(costs, name, arm)
                row["median modelled seconds"] = median_cost(
                    [c.get("evaluations", math.inf) * cost for c in costs_per_seed]) if cost else math.nan
                rows.append(row)
    columns = ["optimizer", "arm", "target", "target from", "reached",
               *(f"median {AXIS_NAMES.get(axis, axis)}" for axis in axes), "median modelled seconds"]
    return pd.DataFrame(rows, columns=columns)


FINISHED = 0.05
"""A "finished" result: within this fraction of the best optimizer's final value (its failure-aware median)."""


def finished_target(outcomes: dict, order: list[str], mode: str) -> list[tuple[float, str]]:
    """The target of a finished result: the rank-1 optimizer's median final value, `FINISHED` worse."""
    if not order:
        return []
    best = failure_aware_median(list(outcomes.get(order[0], {}).values()), mode)
    if not math.isfinite(best):
        return []
    target = best * (1 + FINISHED) if mode == "min" else best * (1 - FINISHED)
    return [(float(f"{target:.4g}"), f"finished: within {FINISHED:.0%} of {order[0]}'s final median")]
