"""The report's words: the protocol section and the per-budget section (tables from `kerasopt.report.tables`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kerasopt import records
from kerasopt.layout import RANKING_CHANGES, main_table_at
from kerasopt.report import budgets as anytime
from kerasopt.report.load import searched, tuning_seeds
from kerasopt.report.tables import OUTCOMES, WORSE, arm_table, main_table, status_counts
from kerasopt.report.text import interval_text, markdown_table
from kerasopt.results import seed_outcomes
from kerasopt.stats import verdicts
from kerasopt.stats.ranking import kendall_tau, on_seeds, rank_order


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


def protocol_lines(study: dict, runs: pd.DataFrame, headline: list[str], runs_dir: Path | None = None) -> list[str]:
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
    test = verdicts.test_words(verdicts.report_rule(spec).test)
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
                              "table where it has one, else the registry's)",
             "library_defaults": "`library_defaults` = the optimizer exactly as Keras (or kerasopt's "
                                 "Rprop/L-BFGS constructors) builds it"}[arm] for arm in arms) or "not run") + ".",
        "- Failures: a run that diverged, failed, or collapsed (completed, but the task's collapse rule rejects "
        f"it: {_collapse_words(study)}) is counted in `{OUTCOMES}` and in the failure rate, never averaged.",
        f"- Ranking: by the median over the study's own held-out seeds {spec['seeds']}, which every optimizer "
        "shares (seeds added to some optimizers only never move a rank), a failed run counting as the worst "
        "possible value (so an optimizer whose runs mostly fail ranks last); `rank [95% bootstrap]` = the "
        "2.5-97.5% percentiles of its rank over 2000 resamples of each optimizer's seeds. Beside it: the mean over "
        "every completed run, added seeds included, with a 95% interval (Student t with n-1 degrees of freedom "
        "below 30 values, a percentile bootstrap from 30; none from one run).",
        "- Paired difference: per held-out seed, the difference to the rank-1 optimizer's run with the same seed, "
        "with its 95% t interval (descriptive).",
        f"- `worse than the best?`: every pair of optimizers is compared by a two-sided {test} on their "
        "shared seeds, Holm-adjusted over all pairs; `yes (worse than X)` when it is significantly worse than X "
        "(so worse than the best). Testing only against the best-ranked optimizer, picked from the same seeds, "
        "would declare equal optimizers worse in about 10% of studies at a nominal 5% (simulated: "
        # the published reports cite the simulation's old home; it is kerasopt/stats/simulation.py now (changing
        # the words changes every published report.md: do it with the next republication)
        "kerasopt/report/verdicts.py). `not established at n seeds` means the test could not decide with the "
        "seeds it had, not that the optimizers are equal." + (
            f" Undecided optimizers with a gap to the leader of the configured seeds of at least "
            f"{rule_text(spec)} got rounds of fresh seeds; their verdict is a one-sided test against that leader "
            "on the fresh seeds only, with the error rate spent over the looks so that false `yes` verdicts stay "
            "at most 5% family-wise (simulated: benchmarks/verdicts_simulation.py)." if spec.get("more_seeds") else "")
        + reanalysis_words(spec),
        f"- Time-to-target: the first history row where `{target['metric']}` reaches each target "
        f"({'≤' if target['mode'] == 'min' else '≥'}); median over completed seeds, an unreached seed counting "
        "as infinite (so `not reached` unless more than half of them reach it).",
        "", "Search spaces (hyperparameter: dimension; `{}` = nothing to tune, the defaults are the setting):", ""]
    lines += [f"- `{name}`: `{json.dumps(space, sort_keys=True)}`" for name, space in spec["search"].items()]
    counts = status_counts(runs.drop_duplicates("run_id"))
    lines += ["", "Runs: " + ", ".join(f"{count} {status}" for status, count in counts.items() if count) + "."]
    if runs_dir is not None:
        lines += ["", hosts_line(records.hosts(runs_dir)), "", overhead_line(runs)]
    if counts["incomplete"]:
        lines.append("**The study is incomplete**: rerun `python -m kerasopt.study run` to finish it.")
    return lines


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
    selection = ("at each budget the tuner selected from the tuning runs' histories at that budget (its own "
                 "bracket), and the final runs of the selected setting were read there (shared between budgets "
                 "that selected the same setting)." if searched(spec) else
                 "each run was read at every budget (one fixed setting per optimizer, not tuned here).")
    lines += [f"Every run went to {largest} {column}; {selection}", ""]
    for b in budgets:
        frame = per_budget[b]
        arms = arm_table(frame, optimizers, ["metric"])
        outcomes[b] = on_seeds(seed_outcomes(frame, optimizers, "metric"), spec["seeds"])
        orders[b] = rank_order(outcomes[b], mode)
        table = main_table(frame, arms, orders[b], "metric", mode, spec["seeds"], rule)
        table = table[[c for c in COMPACT if c in table.columns]].rename(
            columns=lambda c: c.replace(" metric ", f" {headline[0]} "))
        table.to_csv(out_dir / main_table_at(b), index=False)
        lines += [f"### After {b} {column}", "", markdown_table(table), ""]
    rows = []
    pairs = list(zip(budgets, budgets[1:])) + ([(budgets[0], largest)] if len(budgets) > 2 else [])
    for a, b in pairs:
        tau, low, high, n = kendall_tau(outcomes[a], outcomes[b], mode)
        rows.append({"budgets": f"{a} → {b}", "Kendall's tau [95% bootstrap]": interval_text(tau, low, high),
                     "optimizers": n})
    taus = pd.DataFrame(rows)
    taus.to_csv(out_dir / RANKING_CHANGES, index=False)
    lines += ["How the ranking changes between budgets (Kendall's tau-b of the rankings by the failure-aware "
              "median; 1 = the same order; interval: 2000 resamples of each optimizer's seeds):", "",
              markdown_table(taus), ""]
    grid = anytime.image_grid(runs_dir, out_dir, per_budget, orders, largest,
                              (study.get("task") or {}).get("result_image"),
                              (study.get("task") or {}).get("budget_image"))
    if grid is not None:
        lines += [f"![{grid.stem}]({grid.name})", ""]
    return lines


def _collapse_words(study: dict) -> str:
    rule = (study.get("task") or {}).get("collapse")
    if not rule:
        return "this task has no collapse rule"
    return "; or ".join(_one_rule_words(one) for one in (rule if isinstance(rule, list) else [rule]))


def _one_rule_words(rule: dict) -> str:
    if rule["kind"] == "fell_to":
        return (f"`{rule['metric']}` ended at most {rule['at_most']:g} after reaching at least "
                f"{rule['after_at_least']:g}")
    if rule["kind"] == "stuck":
        return (f"`{rule['metric']}` did not move (relative change at most {rule['rtol']:g}) over at least "
                f"{rule['share']:.0%} of the logged steps")
    if rule["kind"] == "at_chance":
        return f"`{rule['metric']}` ended at or below chance ({rule['chance']:.3g} + {rule.get('tolerance', 0):g})"
    return f"`{rule['metric']}` ended above its start"


def overhead_line(runs: pd.DataFrame) -> str:
    """The median non-training share of the study's completed runs (data, tracing, evaluation, saving: the
    part of a run's seconds that is not training), over the runs whose summary records it."""
    shares = pd.to_numeric(runs[runs["complete"]].drop_duplicates("run_id")["non_training_share"],
                           errors="coerce").dropna()
    if shares.empty:
        return "Non-training share: not recorded (runs before 2026-12-07)."
    return (f"Non-training share of a run's seconds (setup, tracing, evaluation, saving): median "
            f"{shares.median():.1%} over the {len(shares)} runs that record it.")


def hosts_line(counts: dict[str, int]) -> str:
    """Which hosts wrote the runs (`kerasopt.records.host_fingerprint`): identical runs differ between hosts."""
    parts = ", ".join(f"{count} on `{host}`" for host, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    mixed = (" Runs of different hosts are not bit-identical, so compare optimizers on one host where it matters "
             "(the `host_id` of each run is in its config.json)." if len(counts) > 1 else "")
    return f"Hosts (run records per host fingerprint): {parts or 'none yet'}.{mixed}"


def reanalysis_words(spec: dict) -> str:
    """The sentence a declared re-analysis adds to the protocol ("" without one)."""
    again = spec.get("reanalysis")
    if not again:
        return ""
    original = verdicts.test_words((spec.get("more_seeds") or {}).get("test", "t"))
    return (f" **Re-analysis declared {again['declared']}:** the verdicts are re-judged with the "
            f"{verdicts.test_words(again['test'])} instead of the study's own {original} ({again['why']}); the "
            f"runs, and which optimizers got added seeds, are as the study's own procedure chose them, not "
            "chosen by the new test.")


def rule_text(spec: dict) -> str:
    """``more_seeds`` in words: the smallest difference that matters, rounds, seeds per round, cap."""
    more = spec["more_seeds"]
    close = (f", judged by the gap's one-sided {1 - more.get('alpha', 0.05):.0%} upper bound"
             if more.get("close_by") == "bound" else "")
    return (f"{more['min_difference']:g} (the smallest difference that matters{close}; up to {more['rounds']} "
            f"rounds of {more['per_round']} seeds, at most {more['max_seeds']} seeds per optimizer)")
