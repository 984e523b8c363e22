"""``report.md`` + CSV tables + PNG figures for a study's results directory.

Arms: ``tuned`` = the final reruns of each optimizer's best tuning setting with
held-out seeds; ``task_defaults`` = kerasopt's per-task defaults;
``library_defaults`` = the optimizer exactly as the library builds it. Each
arm's headline metric is the mean over its COMPLETED runs with a Student-t 95%
interval; diverged and failed runs are counted, never averaged. Optimizers are
ranked by the tuned mean; one whose tuned runs mostly did not complete ranks
last. Each optimizer is also compared with the best one seed by seed (paired
differences with their t interval).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from kerasopt.report import budgets as anytime
from kerasopt.report import plots
from kerasopt import records
from kerasopt.report.load import (arm_cost, format_setting, headline_metrics, load_costs, load_history, load_runs,
                                  load_selection, load_study, resolved_hparams, result_image, tuning_seeds)
from kerasopt.report import verdicts
from kerasopt.report.stats import TIME_AXES, mean_interval, median_cost, paired_difference, \
    seeds_and_images_interval, time_to_target

ARMS = {"tuned": "final", "task_defaults": "task_defaults", "library_defaults": "library_defaults"}
DERIVED_FRACTIONS = (0.25, 0.5)
AXIS_NAMES = {"seconds": "wall seconds"}
COST_NOTE = ("Targets: those of the study file, and those derived from the study itself (the best optimizer's "
             "mean at a fraction of its budget). `median wall seconds` are the seconds each run logged, which "
             "depend on what else the machine ran at the time; `median modelled seconds` = evaluations x the "
             "seconds per evaluation of each optimizer at the arm's setting, from one interleaved benchmark "
             "(`costs.json`), which do not: rank by those.")
NO_COST_NOTE = ("Targets: those of the study file, and those derived from the study itself (the best optimizer's "
                "mean at a fraction of its budget). `median wall seconds` are the seconds each run logged and "
                "depend on the machine's load when it ran; no interleaved cost benchmark (`costs.json`) was "
                "given, so rank by steps or evaluations.")
NOT_TUNED = ("settings fixed by the study file, not tuned here; a companion study's `settings_from` fixes "
             "the settings another study's tuning selected")
WORSE = "worse than the best? (5% family-wise)"
OUTCOMES = "completed/diverged/collapsed/failed"
REPORT = "report.md"
STATUSES = ("completed", "diverged", "collapsed", "failed")
MAIN_TABLE = "main_table.csv"


def fmt(value, digits: int = 4) -> str:
    """A number for a table: ``—`` for missing, ``not reached`` for inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "not reached"
    return f"{value:.{digits}g}" if isinstance(value, (float, int)) else str(value)


def interval_text(mean: float, low: float, high: float) -> str:
    """``"12.3 [10.1, 14.5]"``; the mean alone where no interval exists."""
    if math.isnan(low) or math.isnan(high):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (values formatted with `fmt`)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


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


def seed_outcomes(runs: pd.DataFrame, optimizers: list[str], metric: str) -> dict[str, dict[int, float | None]]:
    """Per optimizer, ``{seed: value}`` of its tuned runs (None for a diverged, collapsed or failed run;
    incomplete runs left out)."""
    tuned = runs[(runs["phase"] == "final") & runs["complete"]]
    outcomes = {}
    for name in optimizers:
        part = tuned[tuned["optimizer"] == name]
        outcomes[name] = {int(seed): (float(value) if status == "completed" and math.isfinite(value) else None)
                          for seed, value, status in zip(part["seed"], part[metric], part["status"])}
    return outcomes


def per_seed(runs: pd.DataFrame, optimizer: str, metric: str) -> dict:
    """``{seed: value}`` of the completed tuned runs of ``optimizer``."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "final")].dropna(subset=[metric])
    return dict(zip(part["seed"], part[metric]))


def main_table(runs: pd.DataFrame, arms: pd.DataFrame, order: list[str], metric: str, mode: str,
               configured_seeds: list[int], rule: verdicts.MoreSeeds, per_image: dict | None = None) -> pd.DataFrame:
    """One row per optimizer in rank order: the rank with its bootstrap interval, the tuned setting, the
    failure-aware median (the ranking statistic), the mean [95% CI] over completed runs and the outcomes,
    the failure rate, the paired difference to the rank-1 optimizer, the verdict "worse than the best?"
    (`kerasopt.report.verdicts`: all pairs at the configured seeds, then the seeds added where it was
    undecided) and each defaults arm. With ``per_image`` (run id -> per-test-image ``(TP, FP, FN)``, from
    runs that record them), the pooled Dice's interval over seeds AND test images is added."""
    outcomes = seed_outcomes(runs, order, metric)
    best = order[0] if order else None
    best_values = per_seed(runs, best, metric) if best else {}
    present = [arm for arm in ARMS if (arms["arm"] == arm).any()]
    values = {name: {s: v for s, v in by_seed.items() if v is not None} for name, by_seed in outcomes.items()}
    configured = {name: set(by_seed) & set(configured_seeds) for name, by_seed in outcomes.items()}
    reference = verdicts.leader({n: {s: v for s, v in o.items() if s in configured_seeds} for n, o in outcomes.items()},
                                mode)
    decided = verdicts.verdicts(values, configured, reference, mode, rule)
    verdicts.next_round(values, configured, reference, mode, rule, decided)  # says why each undecided one stopped
    intervals = verdicts.rank_intervals(outcomes, mode)
    rows = []
    for rank, name in enumerate(order, start=1):
        by_seed = outcomes[name]
        failures = sum(v is None for v in by_seed.values())
        low, high = intervals[name]
        row = {"rank": rank, "rank [95% bootstrap]": f"[{low}, {high}]" if by_seed else "—", "optimizer": name}
        for arm in present:
            match = arms[(arms["optimizer"] == name) & (arms["arm"] == arm)]
            if match.empty:
                row |= {f"{arm} metric mean [95% CI]": "—", f"{arm} {OUTCOMES}": "—"}
                continue
            r = match.iloc[0]
            if arm == "tuned":
                row["tuned setting"] = r["setting"]
                median = verdicts.failure_aware_median(list(by_seed.values()), mode)
                row["tuned metric median, failures worst"] = "worst (most runs failed)" if math.isinf(median) else median
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
                verdict = decided.get(name, verdicts.Verdict())
                row[WORSE] = verdicts.verdict_text(verdict, name == reference) if by_seed else "—"
                added = verdict.added
                row["held-out seeds"] = f"{len(by_seed) - added} + {added} added" if added else len(by_seed)
        rows.append(row)
    return pd.DataFrame(rows)


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


def defaults_check(runs_dir: Path, runs: pd.DataFrame, arms: pd.DataFrame, order: list[str], metric: str,
                   mode: str, selection: dict) -> pd.DataFrame:
    """Defaults arms whose mean of ``metric`` beats the tuned arm's by more than the tuned interval, with
    what tuning saw: the selection's mean over the tuning seeds and, where the default setting was
    itself a tuning trial, that trial's mean (the two show whether tuning could tell them apart)."""
    sign = 1.0 if mode == "min" else -1.0
    rows = []
    for name in order:
        tuned = arms[(arms["optimizer"] == name) & (arms["arm"] == "tuned")]
        if tuned.empty or not math.isfinite(tuned.iloc[0][metric]):
            continue
        t = tuned.iloc[0]
        edge = t[f"{metric}_low"] if mode == "min" else t[f"{metric}_high"]
        edge = edge if math.isfinite(edge) else t[metric]
        for arm in ("task_defaults", "library_defaults"):
            match = arms[(arms["optimizer"] == name) & (arms["arm"] == arm)]
            if match.empty or not math.isfinite(match.iloc[0][metric]) or not sign * match.iloc[0][metric] < sign * edge:
                continue
            d = match.iloc[0]
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == arm)]
            default = resolved_hparams(runs_dir, part["run_id"].iloc[0])
            chosen = selection.get(name) or {}
            rows.append({"optimizer": name, "defaults arm": arm,
                         f"defaults {metric} mean [95% CI]": interval_text(d[metric], d[f"{metric}_low"], d[f"{metric}_high"]),
                         f"tuned {metric} mean [95% CI]": interval_text(t[metric], t[f"{metric}_low"], t[f"{metric}_high"]),
                         "tuned setting": t["setting"],
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
    benchmarked seconds per evaluation at that arm's setting (`load_costs`), independent of machine
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
                reached = sum(math.isfinite(c["evaluations"]) for c in costs_per_seed)
                row = {"optimizer": name, "arm": arm, "target": target, "target from": source,
                       "reached": f"{reached}/{len(costs_per_seed)}"}
                row |= {f"median {AXIS_NAMES.get(axis, axis)}": median_cost([c[axis] for c in costs_per_seed])
                        for axis in axes}
                cost = arm_cost(costs, name, arm)
                row["median modelled seconds"] = median_cost(
                    [c["evaluations"] * cost for c in costs_per_seed]) if cost else math.nan
                rows.append(row)
    columns = ["optimizer", "arm", "target", "target from", "reached",
               *(f"median {AXIS_NAMES.get(axis, axis)}" for axis in axes), "median modelled seconds"]
    return pd.DataFrame(rows, columns=columns)


def searched(spec: dict) -> bool:
    """Whether the study searched any hyperparameter (a dimension, not a fixed number)."""
    return any(isinstance(value, dict) for space in spec.get("search", {}).values() for value in space.values())


def protocol_lines(study: dict, runs: pd.DataFrame, headline: list[str]) -> list[str]:
    """The protocol section: what every optimizer got, so readers can judge fairness."""
    spec, target = study["study"], study["target"]
    tuning = spec["tuning"]
    better = "lowest" if target["mode"] == "min" else "highest"
    sampler = ("scrambled Halton quasi-random points (scipy.stats.qmc, seeded; optimizers with equally many "
               "dimensions get the same points of the unit cube)" if tuning["sampler"] == "quasirandom"
               else "a full factorial grid (log-spaced for log-uniform ranges, endpoints included)")
    arms = spec.get("defaults_arms", ["task_defaults"] if spec.get("defaults_arm") else [])
    defaults_seeds = spec.get("defaults_seeds", spec["seeds"])
    budget = study.get("task", {}).get("budget_key")
    tuned = searched(spec)
    lines = [
        "## Protocol", "",
        f"- Task: `{spec['task']}`; base settings: `{json.dumps(spec['base'], sort_keys=True)}`."
        + (f" Budget: {spec['base'].get(budget)} {budget} per run (loss-and-gradient evaluations, line-search "
           "trials included); each run is scored at its last accepted iterate within the budget."
           if budget else ""),
        (f"- Seeds: tuning seeds {tuning_seeds(tuning)}; final (held-out) seeds {spec['seeds']}" if tuned
         else f"- Seeds: {spec['seeds']}") + (f"; defaults-arm seeds {defaults_seeds}." if arms else "."),
        f"- Tuning: none ({NOT_TUNED})." if not tuned else
        (f"- Tuning: the bracketing tuner: a grid {tuning['spacing']:g} decades apart that contains the task "
         "default, extended past an edge the selection lands on, in the same steps, until the target gets worse "
         f"there or the runs diverge (at most {tuning['extensions']} steps per side); every setting runs with "
         "every tuning seed and selection uses the mean over them. Trials per optimizer and where each selection "
         "lies are in the tuning table." if tuning.get("sampler") == "bracket" else
         f"- Tuning budget: {tuning['trials']} trials for every optimizer with a searched dimension, drawn as "
         f"{sampler}; each trial runs with every tuning seed."),
        f"- Selection: the trial with the {better} `{target['metric']}` among completed runs "
        "(failed or diverged trials are never selected; ties go to the lower trial index).",
        f"- Tuned arm: the selected setting rerun with the held-out seeds; the tuning run itself is not part of "
        f"the tuned mean. Headline metric: `{headline[0]}`"
        + (f" (selection used `{target['metric']}`, which the headline never uses)."
           if headline[0] != target["metric"] else "."),
        "- Defaults arms: " + ("; ".join(
            {"task_defaults": "`task_defaults` = kerasopt's per-task defaults (the task's own learning-rate "
                              "table where it has one, e.g. style's pixel scale; else the registry's)",
             "library_defaults": "`library_defaults` = the optimizer exactly as Keras (or kerasopt's "
                                 "Rprop/L-BFGS constructors) builds it"}[arm] for arm in arms) or "not run") + ".",
        "- Failures: a run that diverged, failed, or collapsed (completed, but the task's collapse rule rejects "
        f"it: {_collapse_words(study)}) is counted in `{OUTCOMES}` and in the failure rate, never averaged.",
        "- Ranking: by the median over every held-out seed of the tuned arm, a failed run counting as the worst "
        "possible value (so an optimizer whose runs mostly fail ranks last); `rank [95% bootstrap]` = the "
        "2.5-97.5% percentiles of its rank over 2000 resamples of each optimizer's seeds. Beside it: the mean over "
        "the completed runs with a 95% interval (Student t with n-1 degrees of freedom below 30 values, a "
        "percentile bootstrap from 30; none from one run).",
        "- Paired difference: per held-out seed, the difference to the rank-1 optimizer's run with the same seed, "
        "with its 95% t interval (descriptive).",
        "- `worse than the best?`: every pair of optimizers is compared by a two-sided paired t test on their "
        "shared seeds, Holm-adjusted over all pairs; `yes (worse than X)` when it is significantly worse than X "
        "(so worse than the best). Testing only against the best-ranked optimizer, picked from the same seeds, "
        "would declare equal optimizers worse in about 10% of studies at a nominal 5% (simulated: "
        "kerasopt/report/verdicts.py). `not established at n seeds` means the test could not decide with the "
        "seeds it had, not that the optimizers are equal." + (
            f" Undecided optimizers with a gap to the leader of the configured seeds of at least "
            f"{rule_text(spec)} got rounds of fresh seeds; their verdict is a one-sided test against that leader "
            "on the fresh seeds only, with the error rate spent over the looks so that false `yes` verdicts stay "
            "at most 5% family-wise (simulated: benchmarks/verdicts_simulation.py)." if spec.get("more_seeds") else ""),
        f"- Time-to-target: the first history row where `{target['metric']}` reaches each target "
        f"({'≤' if target['mode'] == 'min' else '≥'}); median over completed seeds, an unreached seed counting "
        "as infinite (so `not reached` unless more than half of them reach it).",
        "", "Search spaces (hyperparameter: dimension; `{}` = nothing to tune, the defaults are the setting):", ""]
    lines += [f"- `{name}`: `{json.dumps(space, sort_keys=True)}`" for name, space in spec["search"].items()]
    counts = status_counts(runs.drop_duplicates("run_id"))
    lines += ["", "Runs: " + ", ".join(f"{count} {status}" for status, count in counts.items() if count) + "."]
    if counts["incomplete"]:
        lines.append("**The study is incomplete**: rerun `python -m kerasopt.study run` to finish it.")
    return lines


FINISHED = 0.05
"""A "finished" result: within this fraction of the best optimizer's final value (its failure-aware median)."""


def finished_target(outcomes: dict, order: list[str], mode: str) -> list[tuple[float, str]]:
    """The target of a finished result: the rank-1 optimizer's median final value, `FINISHED` worse."""
    if not order:
        return []
    best = verdicts.failure_aware_median(list(outcomes.get(order[0], {}).values()), mode)
    if not math.isfinite(best):
        return []
    target = best * (1 + FINISHED) if mode == "min" else best * (1 - FINISHED)
    return [(float(f"{target:.4g}"), f"finished: within {FINISHED:.0%} of {order[0]}'s final median")]


COMPACT = ("rank", "rank [95% bootstrap]", "optimizer", "tuned setting", "tuned metric median, failures worst",
           "tuned metric mean [95% CI]", "failure rate", WORSE)


def budget_lines(runs_dir: Path, out_dir: Path, runs: pd.DataFrame, study: dict, optimizers: list[str],
                 budgets: list[int], rule, collapse: dict | None, headline: list[str]) -> list[str]:
    """The section of a study with several budgets: a ranked table at each budget (selected, tuned and
    judged there; ``main_table_at_<b>.csv``), Kendall's tau between the rankings, and the images."""
    spec, mode = study["study"], study["target"]["mode"]
    column = study["task"]["budget"][1]
    largest = budgets[-1]
    per_budget = {b: anytime.runs_at(runs_dir, runs, b, largest, column, study["target"]["metric"], headline,
                                     collapse) for b in budgets}
    orders, outcomes, lines = {}, {}, ["## The answer at every budget", ""]
    lines += [f"Every run went to {largest} {column}; at each budget the tuner selected from the tuning runs' "
              "histories at that budget (its own bracket), and the final runs of the selected setting were read "
              "there (shared between budgets that selected the same setting).", ""]
    for b in budgets:
        frame = per_budget[b]
        arms = arm_table(frame, optimizers, ["metric"])
        outcomes[b] = seed_outcomes(frame, optimizers, "metric")
        orders[b] = verdicts.rank_order(outcomes[b], mode)
        table = main_table(frame, arms, orders[b], "metric", mode, spec["seeds"], rule)
        table = table[[c for c in COMPACT if c in table.columns]].rename(
            columns=lambda c: c.replace(" metric ", f" {headline[0]} "))
        table.to_csv(out_dir / f"main_table_at_{b}.csv", index=False)
        lines += [f"### After {b} {column}", "", markdown_table(table), ""]
    rows = []
    pairs = list(zip(budgets, budgets[1:])) + ([(budgets[0], largest)] if len(budgets) > 2 else [])
    for a, b in pairs:
        tau, low, high, n = anytime.kendall_tau(outcomes[a], outcomes[b], mode)
        rows.append({"budgets": f"{a} → {b}", "Kendall's tau [95% bootstrap]": interval_text(tau, low, high),
                     "optimizers": n})
    taus = pd.DataFrame(rows)
    taus.to_csv(out_dir / "ranking_changes.csv", index=False)
    lines += ["How the ranking changes between budgets (Kendall's tau-b of the rankings by the failure-aware "
              "median; 1 = the same order; interval: 2000 resamples of each optimizer's seeds):", "",
              markdown_table(taus), ""]
    grid = anytime.image_grid(runs_dir, out_dir, per_budget, orders, largest,
                              (study.get("task") or {}).get("result_image") or "result.png",
                              (study.get("task") or {}).get("budget_image"))
    if grid is not None:
        lines += [f"![{grid.stem}]({grid.name})", ""]
    return lines


def _collapse_words(study: dict) -> str:
    rule = (study.get("task") or {}).get("collapse")
    if not rule:
        return "this task has no collapse rule"
    if rule["kind"] == "fell_to":
        return (f"`{rule['metric']}` ended at most {rule['at_most']:g} after reaching at least "
                f"{rule['after_at_least']:g}")
    return f"`{rule['metric']}` ended above its start"


def rule_text(spec: dict) -> str:
    """``more_seeds`` in words: the smallest difference that matters, rounds, seeds per round, cap."""
    more = spec["more_seeds"]
    return (f"{more['min_difference']:g} (the smallest difference that matters; up to {more['rounds']} rounds of "
            f"{more['per_round']} seeds, at most {more['max_seeds']} seeds per optimizer)")


def write_figures(runs_dir: Path, out_dir: Path, runs: pd.DataFrame, histories: dict[str, list[dict]], study: dict,
                  order: list[str]) -> list[Path]:
    """LR sensitivity, curves vs each time axis (tuned arm, completed runs) and the task's result panel
    (its declaration in study.json: result images side by side, or under a shared image), into ``out_dir``."""
    metric, mode = study["target"]["metric"], study["target"]["mode"]
    positive = (runs["metric"].dropna() > 0).all()
    log_metric = mode == "min" and bool(positive)
    written = [plots.lr_sensitivity(runs[runs["phase"] == "tune"], metric, log_metric,
                                    out_dir / "lr_sensitivity.png")]
    tuned = runs[(runs["phase"] == "final") & (runs["status"] == "completed")]
    by_optimizer = {name: [histories[r] for r in tuned[tuned["optimizer"] == name]["run_id"]] for name in order}
    by_optimizer = {name: h for name, h in by_optimizer.items() if h}
    for axis in TIME_AXES:
        if any(axis in rows[0] for runs_of in by_optimizer.values() for rows in runs_of if rows):
            written.append(plots.curves(by_optimizer, axis, metric, log_metric, out_dir / f"curves_{axis}.png"))
    task = study.get("task") or {}
    if task.get("shared_image"):  # e.g. predicted masks under the test images and their true masks
        written.append(stacked_grid(runs_dir, out_dir, tuned, order, task["result_image"], task["shared_image"]))
    else:
        written.append(image_grid(runs_dir, out_dir, runs, study, order))
    return [path for path in written if path is not None]


def image_grid(runs_dir: Path, out_dir: Path, runs: pd.DataFrame, study: dict, order: list[str]) -> Path | None:
    """The result image of each optimizer's first complete run per arm (rows ranked), or None."""
    image_name = (study.get("task") or {}).get("result_image") or "result.png"
    images = {}
    for name in order:
        images[name] = {}
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & runs["complete"]]
            if len(part):
                images[name][arm] = result_image(runs_dir, part["run_id"].iloc[0], image_name)
    return plots.image_grid(images, out_dir / "image_grid.png")


def stacked_grid(runs_dir: Path, out_dir: Path, tuned: pd.DataFrame, order: list[str], result: str,
                 shared: str) -> Path | None:
    """The task's ``shared`` image (e.g. test images above their true masks) above each optimizer's
    ``result`` strip (its tuned run with the lowest seed), ranked; None when the runs saved none."""
    inputs = shared_panel(runs_dir, tuned["run_id"], shared)
    predictions = {}
    for name in order:
        part = tuned[tuned["optimizer"] == name].sort_values("seed")
        for run_id, seed in zip(part["run_id"], part["seed"]):
            path = runs_dir / run_id / records.ARTIFACTS / result
            if path.is_file():
                predictions[f"{len(predictions) + 1}. {name} (seed {seed})"] = path
                break
    if inputs is None or not predictions:
        return None
    return plots.mask_grid(inputs, predictions, out_dir / "mask_grid.png")


def shared_panel(runs_dir: Path, run_ids, name: str) -> Path | None:
    """The artifact ``name`` that every run of a study writes identically, at the root of ``runs_dir``;
    copied there from the first run that has one, so a report can be regenerated from the committed
    lightweight records alone."""
    import shutil

    root = runs_dir / name
    if root.is_file():
        return root
    for run_id in run_ids:
        path = runs_dir / run_id / records.ARTIFACTS / name
        if path.is_file():
            shutil.copyfile(path, root)
            return root
    return None


def write_report(runs_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write ``report.md``, ``main_table.csv``, ``summary.csv``, ``headline.csv``, ``tuning.csv``,
    ``time_to_target.csv``, ``runs.csv`` and the figures into ``out_dir`` (default ``runs_dir``);
    return the report's path. Reads files only (no TensorFlow), so a committed records directory
    regenerates its published report on any machine.

    Unreadable run files are named in the report and left out; the rest is reported.

    Raises:
        FileNotFoundError: no study.json in ``runs_dir``.
        ValueError: an unreadable study.json.
    """
    runs_dir = Path(runs_dir)
    out_dir = Path(out_dir) if out_dir is not None else runs_dir
    study = load_study(runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec, target = study["study"], study["target"]
    metric, mode = target["metric"], target["mode"]
    headline = headline_metrics(study)
    main_metric = headline[0] if headline[0] != metric else "metric"
    optimizers = list(spec["optimizers"])
    collapse = (study.get("task") or {}).get("collapse")
    loaded = load_runs(runs_dir, metric, headline, collapse)
    runs = loaded.frame
    budgets = spec.get("budgets") or [None]
    every_budget = runs
    if budgets[-1] is not None:  # the main answer: the largest budget's final runs
        runs = runs[(runs["phase"] != "final") | (runs["budget"] == budgets[-1])]
    metric_columns = list(dict.fromkeys(["metric", *(m for m in headline if m != metric)]))
    arms = arm_table(runs, optimizers, metric_columns)
    order = verdicts.rank_order(seed_outcomes(runs, optimizers, main_metric), mode)
    rule = verdicts.MoreSeeds(**spec.get("more_seeds", {}))
    finals = runs[(runs["phase"] == "final") & runs["complete"]]["run_id"]
    per_image = {run_id: records.read_per_image(runs_dir / run_id) for run_id in finals}
    per_image = {run_id: counts for run_id, counts in per_image.items() if counts}
    main = main_table(runs, arms, order, main_metric, mode, spec["seeds"], rule, per_image).rename(
        columns=lambda c: c.replace(" metric ", f" {headline[0]} "))
    selection = load_selection(runs_dir)
    tuning = tuning_table(selection, order)
    costs = load_costs(runs_dir)
    compared = runs[runs["phase"].isin(list(ARMS.values())) & (runs["status"] == "completed")]
    histories = {run_id: load_history(runs_dir, run_id) for run_id in compared["run_id"]}  # read once
    ranked = [name for name in order if name in set(arms[arms["arm"] == "tuned"]["optimizer"])]
    targets = [(float(t), "study file") for t in spec["targets"]] + derived_targets(
        histories, runs, ranked[0] if ranked else None, metric) + finished_target(
        seed_outcomes(runs, optimizers, "metric"), order, mode)
    times = target_table(histories, runs, order, targets, metric, mode, costs)
    arms.rename(columns=lambda c: c.replace("metric", metric, 1) if c.startswith("metric") else c).to_csv(
        out_dir / "summary.csv", index=False)
    main.to_csv(out_dir / MAIN_TABLE, index=False)
    tuning.to_csv(out_dir / "tuning.csv", index=False)
    times.to_csv(out_dir / "time_to_target.csv", index=False)
    runs.assign(hparams=runs["hparams"].map(lambda h: json.dumps(h, sort_keys=True))).to_csv(
        out_dir / "runs.csv", index=False)
    figures = write_figures(runs_dir, out_dir, runs, histories, study, order)
    better = "lower" if mode == "min" else "higher"
    tuning_note = f"tuning seeds {tuning_seeds(spec['tuning'])}" if searched(spec) else NOT_TUNED
    lines = [f"# Study `{spec['name']}`: which optimizer, at what cost?", "",
             f"Task `{spec['task']}`, headline metric `{headline[0]}` ({better} is better); tuning selected on "
             f"`{metric}`. Source: `{study.get('source', '')}`. Held-out seeds {spec['seeds']} ({tuning_note}).", ""]
    lines += [f"> **Note:** {warning}" for warning in study.get("warnings", [])] + (
        [""] if study.get("warnings") else [])
    incomplete = int(runs.drop_duplicates("run_id")["status"].isna().sum())
    tuned = bool(selection) or (runs["phase"] == "final").any()  # tuning over, finals planned
    if incomplete or not len(runs) or not tuned:
        lines += [f"> **This study is not finished** ({incomplete} planned runs have no record yet"
                  + ("" if tuned else "; the bracket extensions and the final runs on the held-out seeds are "
                                      "planned when tuning ends, and the ranking is by the tuned arm")
                  + "): every number below is provisional. Rerun `python -m kerasopt.study run` to finish it.", ""]
    lines += [f"## Final {headline[0]} per optimizer (ranked)", "", markdown_table(main), ""]
    if len(headline) > 1:
        table = headline_table(arms, order, [main_metric, *headline[1:]]).rename(columns={"metric": headline[0]})
        table.to_csv(out_dir / "headline.csv", index=False)
        lines += ["## Test metrics of the tuned arm (mean [95% CI])", "",
                  markdown_table(table) if len(table) else "No tuned runs yet.", ""]
    if budgets[-1] is not None:
        lines += budget_lines(runs_dir, out_dir, every_budget, study, optimizers, [int(b) for b in budgets], rule,
                              collapse, headline)
    lines += ["## Tuning", "", markdown_table(tuning) if len(tuning) else "Tuning has not finished.", ""]
    beaten = defaults_check(runs_dir, runs, arms, order, main_metric, mode, selection)
    beaten = beaten.rename(columns=lambda c: c.replace(" metric ", f" {headline[0]} "))
    if len(beaten):
        lines += ["Defaults arms that beat their tuned arm by more than the tuned interval (held-out seeds). "
                  "Tuning chose on the tuning seeds (`" + metric + "`, mean over them); where the default setting "
                  "was a tuning trial its mean is shown: a small gap there means the tuning seeds could not tell "
                  "the two settings apart and the held-out seeds rank them the other way. A defaults arm run on one "
                  "seed is a single run, not an interval. Library defaults are the optimizer constructor's own values, "
                  "which the run record does not list, so no tuning-seed mean is shown for them.", "",
                  markdown_table(beaten), ""]
    elif tuned and not incomplete and len(runs):
        lines += ["No defaults arm beats its tuned arm by more than the tuned interval.", ""]
    lines += ["## Time to target", ""]
    lines += ([markdown_table(times), "", COST_NOTE if costs else NO_COST_NOTE] if len(times)
              else ["No targets (none in the study file, and no finished best optimizer to derive them from)."])
    lines += ["", "## Figures", ""] + [f"![{path.stem}]({path.name})" for path in figures] + [""]
    lines += protocol_lines(study, runs, headline)
    if loaded.unreadable:
        lines += ["", "**Unreadable run files (left out of every table):**", ""]
        lines += [f"- `{entry}`" for entry in loaded.unreadable]
    lines += ["", "Tables: `main_table.csv`, `summary.csv` (per arm), `tuning.csv`, `time_to_target.csv`, "
              "`runs.csv` (every run, with what it spent)" + (", `headline.csv`." if len(headline) > 1 else ".")]
    path = out_dir / REPORT
    path.write_text("\n".join(lines) + "\n")
    return path


def publish(runs_dir: str | Path, destination: str | Path) -> list[Path]:
    """Copy a written report with its CSV tables and figures (not the run directories) to ``destination``.

    The folder is emptied of earlier report files first, so it holds exactly this report.

    Raises:
        FileNotFoundError: ``runs_dir`` has no report.md (run `write_report` first).
    """
    import shutil

    runs_dir, destination = Path(runs_dir), Path(destination)
    if not (runs_dir / REPORT).is_file():
        raise FileNotFoundError(f"{runs_dir / REPORT}: not found; write the report first")
    destination.mkdir(parents=True, exist_ok=True)
    for old in destination.iterdir():
        if old.is_file() and old.suffix in (".md", ".csv", ".png"):
            old.unlink()
    copied = []
    for path in sorted(runs_dir.iterdir()):
        if path.is_file() and path.suffix in (".md", ".csv", ".png"):
            copied.append(Path(shutil.copy2(path, destination / path.name)))
    return copied
