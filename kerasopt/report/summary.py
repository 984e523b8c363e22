"""Which optimizer across workloads: performance profiles, benchmark scores and tuning-cost curves,
from the committed records of several studies (no TensorFlow).

Definitions (after AlgoPerf's scoring, with the departures stated):

- **Workloads.** One workload per problem (a task and its base settings apart from the budget): of the
  finished, tuned studies of a problem the one with the most optimizers (ties: the larger budget) counts;
  a problem answered at several budgets is one workload. Untuned companion studies (``settings_from``,
  every setting fixed) are left out of every score: they were not tuned on their own problem.
- **Targets, declared in the study file.** A workload's targets are the values its study file declares
  (``targets``, set from a sizing probe): the strictest is the *target*, the loosest
  the *second level* (sensitivity). They come from no compared optimizer's result. A study that declares
  none has no time target and enters only the final-quality score.
- an optimizer's time to a target is the median over its held-out seeds (the study's own, which every
  optimizer shares) of the evaluations (steps) its tuned runs needed (a seed that never reaches it
  counts as infinite, so more than half must reach it), and, where the study has an interleaved cost
  benchmark (``costs.json``), that many evaluations times its seconds per evaluation;
- ``r = t / t_best`` per workload (t_best: the fastest optimizer there); a miss, and a workload the
  optimizer did not run, is infinite: every optimizer is scored over the same workloads, as performance
  profiles do; ``rho(tau)`` = the fraction of those workloads with ``r <= tau``; the benchmark score is
  the area under ``rho`` from ``tau = 1`` to ``4``, divided by 3 (1: fastest everywhere; 0: never
  within 4x). A separate score counts only the workloads where full-batch drivers apply (the style
  transfer problems), over every optimizer that ran there;
- the final-quality profile uses ``r = final / best final`` (lower is better; ``best / final`` for a
  metric where higher is better) in place of the time;
- tuning-cost curves: for each workload and optimizer, the expected best tuning score after k of its
  K tuning settings tried in a random order (k = 1 .. K: ``sum_i s_(i) C(K - i, k - 1) / C(K, k)``,
  s_(1) the best; a failed setting counts as the workload's worst finite score), with a 95%
  interval over 2000 random orders, and what its defaults arm got (task_defaults, else library_defaults).

Intervals of the scores: 2000 bootstrap resamples of each optimizer's seeds in every workload (seeded),
the fastest time of every workload recomputed inside each resample; beside them each optimizer's
probability of ranking first over the resamples.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kerasopt import records, results
from kerasopt.layout import STUDY, SUMMARY_REPORT
from kerasopt.report.load import headline_column, load_runs, searched, tuning_seeds
from kerasopt.results import arm_cost, read_costs, resolved_hparams, seed_outcomes
from kerasopt.stats.curves import time_to_target
from kerasopt.stats.profiles import RESAMPLES, TAU_MAX, best_of_k_interval, expected_best_of_k, median_time, \
    profile, ratios, scores
from kerasopt.stats.ranking import failure_aware_median, on_seeds

SUMMARY = SUMMARY_REPORT
CONSTANT = "constant learning rate (the 2021 paper's protocol)"
MODERN = "warmup + decay (the 2026 protocol)"
DECAYED_TIME_CAVEAT = (
    "Under this protocol the quality score is the answer; the time scores are context: they read where a run "
    "first crosses the target inside a learning rate that decays over the whole budget (a run given a shorter "
    "budget would have decayed sooner), which favours an optimizer that does not decay (Schedule-Free).")
"""Said under the 2026 protocol's scores when a workload has a declared target: a decaying schedule makes a
run's budget part of the setting, so its anytime curve does not answer smaller budgets (issue 42)."""
DEFAULTS_ARMS = ("task_defaults", "library_defaults")
"""The arms a workload's defaults come from, in order of preference."""


@dataclass
class Workload:
    """One study as the summary sees it.

    Attributes:
        name: the study's name.
        mode: ``"min"`` or ``"max"``.
        finals: optimizer -> {seed: final value or None (failed)} of the tuned arm, on the study's own
            held-out seeds (seeds added to some optimizers only are left out).
        spent: optimizer -> {seed: evaluations to the target (inf: never)}; empty without a declared target.
        spent_second: the same at the second (loosest) declared target.
        costs: optimizer -> seconds per evaluation of its tuned setting (None: not benchmarked).
        tuning: optimizer -> the mean tuning score of every setting tried (None: a failed setting).
        defaults: optimizer -> the mean selection metric of its defaults arm (NaN: none), the
            tuning scores' scale.
        target: the target (the strictest declared; NaN: none declared).
        second_target: the loosest declared target (NaN: none declared).
        tuned: whether the study tuned anything (False: an untuned companion).
        full_batch: whether full-batch drivers apply to its task (the style problems).
        protocol: `MODERN` (a decaying schedule, weight decay searched: the 2026 protocol) or `CONSTANT`.
        pick_scores, defaults_by_seed, same_run: `defaults_evidence`.
        defaults_arm: the arm ``defaults`` come from: ``task_defaults`` (kerasopt's default setting),
            else ``library_defaults`` (the optimizer as Keras builds it), else None.
        runs: (runs with a record, runs planned).
        finished: every planned run has its record and the final runs are planned (tuning is over).
        problem: the task and its base settings apart from the budget (JSON), to find studies of one problem.
        budget: the largest budget its runs went to (0 when the study file does not set one).
        optimizers: the study's optimizers.
    """

    name: str
    mode: str
    finals: dict
    spent: dict
    costs: dict = field(default_factory=dict)
    tuning: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    target: float = math.nan
    defaults_arm: str | None = None
    runs: tuple = (0, 0)
    finished: bool = True
    problem: str = ""
    budget: float = 0.0
    optimizers: tuple = ()
    spent_second: dict = field(default_factory=dict)
    second_target: float = math.nan
    tuned: bool = True
    full_batch: bool = False
    protocol: str = ""
    pick_scores: dict = field(default_factory=dict)
    defaults_by_seed: dict = field(default_factory=dict)
    same_run: list = field(default_factory=list)


def studies_in(paths: list[str | Path]) -> list[Path]:
    """The study results directories named by ``paths``: a directory holding ``study.json`` is one;
    any other directory stands for every ``records/study.json`` below it, in sorted order (so
    ``docs/results`` is every published study). Raises ValueError for a path that names none."""
    found = []
    for path in map(Path, paths):
        if (path / STUDY).is_file():
            found.append(path)
            continue
        below = sorted(p.parent for p in path.rglob(f"records/{STUDY}"))
        if not below:
            raise ValueError(f"{path} holds no study: neither {STUDY} nor records/{STUDY} below it")
        found.extend(below)
    return found


def load_workload(runs_dir: str | Path) -> Workload:
    """The `Workload` of a study's results directory (its records only)."""
    runs_dir = Path(runs_dir)
    study = records.read_study(runs_dir)
    spec, target = study["study"], study["target"]
    metric, mode = target["metric"], target["mode"]
    headline = (study.get("task") or {}).get("headline") or [metric]
    frame = load_runs(runs_dir, metric, headline, (study.get("task") or {}).get("collapse")).frame
    budgets = spec.get("budgets") or [None]
    if budgets[-1] is not None:
        frame = frame[(frame["phase"] != "final") | (frame["budget"] == budgets[-1])]
    column = headline_column(metric, headline)
    tuned = frame[(frame["phase"] == "final") & frame["complete"]]
    own = set(spec["seeds"])  # the study's own held-out seeds, which every optimizer shares
    finals = on_seeds(seed_outcomes(frame, list(dict.fromkeys(tuned["optimizer"])), column), own)
    declared = sorted(float(t) for t in spec.get("targets") or [])
    target, second = ((declared[0], declared[-1]) if mode == "min" else (declared[-1], declared[0])) if declared \
        else (math.nan, math.nan)
    spent, spent_second = {}, {}
    for name, part in tuned.groupby("optimizer", sort=False):
        spent[name], spent_second[name] = {}, {}
        for run_id, seed, status in zip(part["run_id"], part["seed"], part["status"]):
            if not declared or int(seed) not in own:
                continue
            history = results.read_histories(runs_dir, [run_id], [])[run_id] if status == "completed" else []
            for goal, into in ((target, spent), (second, spent_second)):
                into[name][int(seed)] = (time_to_target(history, metric, goal, mode, ("evaluations",))["evaluations"]
                                         if history else math.inf)
    if not declared:
        spent, spent_second = {}, {}
    costs_file = read_costs(runs_dir)
    costs = {name: arm_cost(costs_file, name, "tuned") for name in finals}
    tune = frame[(frame["phase"] == "tune") & frame["complete"]]
    tuning = {}
    for name, part in tune.groupby("optimizer", sort=False):
        by_trial = part.groupby("trial")
        tuning[name] = [None if values.isna().any() else float(values.mean()) for _, values in by_trial["metric"]]
    arm_name = next((a for a in DEFAULTS_ARMS if (frame["phase"] == a).any()), None)
    arm = frame[(frame["phase"] == arm_name) & frame["complete"]]
    defaults = {}
    for name, part in arm.groupby("optimizer", sort=False):
        ok = part["status"] == "completed"
        values = part.loc[ok, "metric"].dropna()
        defaults[name] = float(values.mean()) if len(values) else math.nan
    pick_scores, defaults_by_seed, same_run = defaults_evidence(runs_dir, frame, arm_name, column,
                                                                set(int(t) for t in tuning_seeds(spec.get("tuning") or {})), own)
    unique = frame.drop_duplicates("run_id")
    runs = (int(unique["complete"].sum()), len(unique))
    finished = runs[0] == runs[1] and bool((frame["phase"] == "final").any())
    key = ((study.get("task") or {}).get("budget") or [None])[0]  # the setting the task budgets with
    base = spec.get("base") or {}
    problem = json.dumps({"task": spec.get("task"), "base": {k: v for k, v in base.items()
                                                             if k not in (key, "snapshot_evaluations")}}, sort_keys=True)
    largest = max(spec.get("budgets") or [base.get(key) or 0])
    return Workload(spec["name"], mode, finals, spent, costs, tuning, defaults, target, arm_name, runs,
                    finished, problem, float(largest), tuple(spec.get("optimizers") or ()), spent_second, second,
                    searched(spec), spec.get("task") == "style", MODERN if base.get("schedule", "constant") != "constant" else CONSTANT,
                    pick_scores, defaults_by_seed, same_run)


def defaults_evidence(runs_dir: Path, frame: pd.DataFrame, arm: str | None, column: str, tuning_seeds: set,
                      held_out: set) -> tuple[dict, dict, list]:
    """What a fair "defaults or tuned?" needs, per optimizer: the defaults setting's mean selection metric on the
    tuning seeds (its defaults-arm runs there, else the tuning trial built with exactly the defaults' resolved
    hyperparameters; NaN: neither), its defaults arm's answer on the held-out seeds ({seed: value or None}), and
    the optimizers whose tuned arm is the defaults arm (the same resolved hyperparameters: the same runs)."""
    if arm is None:
        return {}, {}, []
    scores, by_seed, same = {}, {}, []
    for name, part in frame[(frame["phase"] == arm) & frame["complete"]].groupby("optimizer", sort=False):
        by_seed[name] = on_seeds(seed_outcomes(part, [name], column, phase=arm), held_out)[name]
        default = resolved_hparams(runs_dir, part["run_id"].iloc[0])
        on_tuning = part[part["seed"].astype(int).isin(tuning_seeds)]
        if on_tuning.empty and default:
            tune = frame[(frame["phase"] == "tune") & frame["complete"] & (frame["optimizer"] == name)]
            on_tuning = tune[[resolved_hparams(runs_dir, r) == default for r in tune["run_id"]]]
        values = on_tuning["metric"].where(on_tuning["status"] == "completed")
        scores[name] = float(values.mean()) if len(values) and values.notna().all() else math.nan
        tuned = frame[(frame["phase"] == "final") & frame["complete"] & (frame["optimizer"] == name)]
        if default and len(tuned) and resolved_hparams(runs_dir, tuned["run_id"].iloc[0]) == default:
            same.append(name)
    return scores, by_seed, same


def protocol_section(protocol: str, workloads: list[Workload], table: pd.DataFrame, shown, out_dir: Path) -> list[str]:
    """The scores of one protocol's workloads: every optimizer over the same workloads (not run: a miss), and
    separately over the workloads where full-batch drivers apply."""
    from kerasopt.report.text import markdown_table

    timed = [w for w in workloads if w.spent]
    full_batch = [w for w in workloads if w.full_batch]
    lines = [f"## Benchmark scores: {protocol}", "",
             f"Every optimizer over the same {len(workloads)} workloads ({', '.join(f'`{w.name}`' for w in workloads)}; "
             f"time scores over the {len(timed)} with a declared target); a workload it did not run counts as a "
             "miss.", "", markdown_table(shown(table)), ""]
    if protocol == MODERN and timed:
        lines += [DECAYED_TIME_CAVEAT, ""]
    if full_batch:
        full = score_table(full_batch)
        full.to_csv(out_dir / "scores_full_batch.csv", index=False)
        lines += [f"Where full-batch methods apply: the same scores over the {len(full_batch)} style-transfer "
                  f"workload{'s' if len(full_batch) > 1 else ''} only ({', '.join(f'`{w.name}`' for w in full_batch)})"
                  ", every optimizer that ran there:", "", markdown_table(shown(full)), ""]
    return lines


def one_per_problem(workloads: list[Workload]) -> dict[str, str]:
    """name -> the study that answers the same problem (task and base settings apart from the budget) for
    the score: of a problem's studies the one with the most optimizers, ties to the larger budget, then the
    first; the others are left out, so a problem is one workload."""
    found = {}
    for w in workloads:
        chosen = max((o for o in workloads if o.problem == w.problem),
                     key=lambda o: (len(o.optimizers), o.budget, -workloads.index(o)))
        if chosen is not w:
            found[w.name] = chosen.name
    return found


def quality_ratios(workload: Workload) -> dict[str, float]:
    """Final-quality ``r`` per optimizer: its failure-aware median relative to the best's (inf: mostly failed)."""
    medians = {n: failure_aware_median(list(v.values()), workload.mode) for n, v in workload.finals.items()}
    finite = [m for m in medians.values() if math.isfinite(m)]
    if not finite:
        return {n: math.inf for n in medians}
    if workload.mode == "min":
        best = min(finite)
        return {n: (m / best if math.isfinite(m) and best > 0 else math.inf) for n, m in medians.items()}
    best = max(finite)
    return {n: (best / m if math.isfinite(m) and m > 0 else math.inf) for n, m in medians.items()}


def _resampled_times(workloads: list[Workload], rng, axis: str, level: str = "target") -> dict[str, dict[str, float]]:
    result = {}
    for w in workloads:
        spent = w.spent if level == "target" else w.spent_second
        if not spent:
            continue
        times = {}
        for name, by_seed in spent.items():
            seeds = list(by_seed)
            drawn = {i: by_seed[seeds[j]] for i, j in enumerate(rng.integers(0, len(seeds), len(seeds)))} if seeds else {}
            times[name] = _time(w, name, median_time(drawn), axis)
        result[w.name] = ratios(times)
    return result


def _time(workload: Workload, name: str, evaluations: float, axis: str) -> float:
    if axis == "evaluations":
        return evaluations
    cost = workload.costs.get(name)
    return evaluations * cost if cost else math.nan


def time_ratios(workloads: list[Workload], axis: str = "evaluations", level: str = "target") -> dict[str, dict[str, float]]:
    """workload -> optimizer -> r on ``axis`` (``evaluations`` or ``seconds``: modelled, where benchmarked) to
    the ``target`` or the ``second`` declared level; workloads without a declared target are left out."""
    out = {}
    for w in workloads:
        spent = w.spent if level == "target" else w.spent_second
        if not spent:
            continue
        times = {name: _time(w, name, median_time(by_seed), axis) for name, by_seed in spent.items()}
        if axis == "seconds" and any(math.isnan(t) for t in times.values()):
            continue  # no interleaved cost benchmark for every optimizer: left out of the seconds profile
        out[w.name] = ratios(times)
    return out


def score_table(workloads: list[Workload], resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per optimizer, over the same workloads for all (not run: a miss): the time score (evaluations, to
    each workload's declared target) with its bootstrap interval and the probability of ranking first,
    the score at the second target level, the seconds score where costs exist, the final-quality score,
    and the largest quality ratio among the workloads it ran."""
    names = sorted({n for w in workloads for n in w.finals})
    by_time = time_ratios(workloads)
    by_seconds = time_ratios(workloads, "seconds")
    by_quality = {w.name: quality_ratios(w) for w in workloads}
    point = scores(by_time, names) if by_time else {n: math.nan for n in names}
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in names}
    first = {name: 0 for name in names}
    for _ in range(resamples if by_time else 0):
        drawn = scores(_resampled_times(workloads, rng, "evaluations"), names)
        top = max(drawn.values())
        for name, value in drawn.items():
            draws[name].append(value)
            first[name] += (value == top) / sum(v == top for v in drawn.values())
    second = scores(time_ratios(workloads, level="second"), names) if by_time else {}
    seconds = scores(by_seconds, names) if by_seconds else {}
    quality = scores(by_quality, names)
    rows = []
    for name in sorted(names, key=lambda n: (-(point[n] if math.isfinite(point[n]) else -1), -quality[n], n)):
        low, high = np.percentile(draws[name], [2.5, 97.5]) if draws[name] else (math.nan, math.nan)
        worst_quality = max(per[name] for per in by_quality.values() if name in per)
        rows.append({"optimizer": name, "workloads run": sum(name in w.finals for w in workloads),
                     "workloads": len(workloads), "time score": point[name], "time score low": float(low),
                     "time score high": float(high),
                     "P(first)": first[name] / resamples if draws[name] else math.nan,
                     "time score, second target": second.get(name, math.nan),
                     "seconds score": seconds.get(name, math.nan), "quality score": quality.get(name, math.nan),
                     "worst quality ratio": worst_quality,
                     "within 1.25x everywhere it ran": "yes" if worst_quality <= 1.25 else "no"})
    return pd.DataFrame(rows)


def tuning_cost_table(workloads: list[Workload], resamples: int = RESAMPLES) -> pd.DataFrame:
    """Per workload, optimizer and k: the expected best tuning score after k settings, its interval
    over random orders, and the defaults arm's mean beside it. A failed setting (diverged,
    collapsed, failed on a tuning seed) counts as the worst finite score of that workload's tuning."""
    rows = []
    for w in workloads:
        finite = [v for values in w.tuning.values() for v in values if v is not None and math.isfinite(v)]
        worst = (max(finite) if w.mode == "min" else min(finite)) if finite else math.nan
        for name, values in w.tuning.items():
            values = [v if v is not None and math.isfinite(v) else worst for v in values]
            for k in range(1, len(values) + 1):
                low, high = best_of_k_interval(values, k, w.mode, resamples)
                rows.append({"workload": w.name, "optimizer": name, "k": k,
                             "expected best": expected_best_of_k(values, k, w.mode), "low": low, "high": high,
                             "settings tried": len(values), "defaults arm": w.defaults.get(name, math.nan)})
    return pd.DataFrame(rows)


def failure_counts(workload: Workload) -> dict[str, tuple[int, int]]:
    """optimizer -> (failed final runs: diverged, collapsed or failed; final runs) of the tuned arm."""
    return {name: (sum(v is None for v in by_seed.values()), len(by_seed)) for name, by_seed in workload.finals.items()}


def ratio_matrix(ratios_by_workload: dict[str, dict[str, float]], workloads: list[Workload]) -> pd.DataFrame:
    """optimizer x workload (in the studies' order) of r; NaN where the optimizer did not run."""
    names = sorted({n for per in ratios_by_workload.values() for n in per})
    columns = [w.name for w in workloads if w.name in ratios_by_workload]
    return pd.DataFrame({c: [ratios_by_workload[c].get(n, math.nan) for n in names] for c in columns}, index=names)


def _better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def defaults_versus_tuned(workloads: list[Workload], reference: str = "adam") -> pd.DataFrame:
    """Per workload, Schmidt et al.'s question asked fairly: the optimizer whose defaults setting did best on
    the TUNING seeds is the pick of "several at their defaults"; it is judged on the held-out seeds its
    defaults arm shares with the study's seeds, against every tuned arm on the same seeds (failure-aware
    medians). An optimizer whose tuned arm is its defaults arm (the same runs) is named, not compared with
    itself. No pick where no defaults setting ran on the tuning seeds."""
    rows = []
    for w in workloads:
        scored = {n: v for n, v in w.pick_scores.items() if math.isfinite(v)}
        if not w.defaults_by_seed:
            continue
        if not scored:
            rows.append({"workload": w.name, "arm": w.defaults_arm, "picked on tuning seeds": "— (no defaults "
                         "setting ran on the tuning seeds: no fair pick)"})
            continue
        pick = sorted(scored, key=lambda n: ((scored[n] if w.mode == "min" else -scored[n]), n))[0]
        seeds = sorted(s for s, v in w.defaults_by_seed.get(pick, {}).items())
        at_defaults = failure_aware_median([w.defaults_by_seed[pick][s] for s in seeds], w.mode)
        tuned = {n: failure_aware_median([v.get(s) for s in seeds], w.mode)
                 for n, v in w.finals.items() if all(s in v for s in seeds)}
        others = {n: m for n, m in tuned.items() if n not in w.same_run or n != pick}
        best_tuned = sorted(others, key=lambda n: ((others[n] if w.mode == "min" else -others[n]), n))[0] \
            if others else None
        beating = sum(_better(m, at_defaults, w.mode) for m in others.values())
        rows.append({"workload": w.name, "arm": w.defaults_arm, "picked on tuning seeds": pick,
                     "judged on seeds": " ".join(map(str, seeds)), "median at defaults": at_defaults,
                     "best tuned there": best_tuned, "its median": others.get(best_tuned, math.nan),
                     "tuned optimizers better than the pick": f"{beating} of {len(others)}",
                     "tuned arm = defaults arm": ", ".join(w.same_run) or "none",
                     f"{reference} tuned there": tuned.get(reference, math.nan)})
    return pd.DataFrame(rows)


def settings_to_beat(curve: pd.DataFrame, defaults: float, mode: str) -> str:
    """The smallest k whose expected best tuning score beats ``defaults``: ``"never"`` or ``"—"`` (no arm)."""
    if not math.isfinite(defaults):
        return "—"
    for k, value in zip(curve["k"], curve["expected best"]):
        if _better(value, defaults, mode):
            return str(int(k))
    return "never"


def tuning_overview(tuning: pd.DataFrame, workloads: list[Workload]) -> pd.DataFrame:
    """Per workload and optimizer: settings tried K, its defaults arm, the expected best after 1, 3 and K
    settings, and how many settings it takes to beat the defaults arm (on the tuning scores' scale)."""
    modes = {w.name: w.mode for w in workloads}
    rows = []
    for (workload, name), curve in tuning.groupby(["workload", "optimizer"], sort=False):
        at = dict(zip(curve["k"], curve["expected best"]))
        defaults = float(curve["defaults arm"].iloc[0])
        rows.append({"workload": workload, "optimizer": name, "settings tried": len(curve), "defaults arm": defaults,
                     "best of 1": at.get(1, math.nan), "best of 3": at.get(3, math.nan),
                     "best of all": at[max(at)], "settings to beat the defaults arm":
                         settings_to_beat(curve, defaults, modes[workload])})
    return pd.DataFrame(rows)


def _matrix_markdown(matrix: pd.DataFrame) -> str:
    from kerasopt.report.text import markdown_table

    return markdown_table(matrix.reset_index(names="optimizer").map(
        lambda v: (f"{v:.3g}" if math.isfinite(v) else math.inf) if isinstance(v, float) and not math.isnan(v) else v))


def _failure_sentence(workloads: list[Workload]) -> str:
    """Which optimizers failed (diverged, collapsed or failed) on held-out seeds, and where."""
    parts = []
    for w in workloads:
        for name, (failed, total) in failure_counts(w).items():
            if failed:
                parts.append(f"{name} {failed} of {total} in `{w.name}`")
    return ("Failed final runs (diverged, collapsed or failed): " + "; ".join(parts) + ".") if parts else \
        "No final run failed (diverged, collapsed or failed) in any workload."


def write_summary(dirs: list[str | Path], out_dir: str | Path) -> Path:
    """Write ``summary.md``, ``scores.csv``, ``ratios.csv``, ``tuning_cost.csv`` and the profile and
    tuning-cost figures for the studies in ``dirs`` into ``out_dir``; return the markdown's path."""
    from kerasopt.report import plots
    from kerasopt.report.text import fmt, markdown_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = [load_workload(d) for d in dirs]
    finished = [w for w in loaded if w.finished]
    companions = [w for w in finished if not w.tuned]
    tuned = [w for w in finished if w.tuned]
    replaced = one_per_problem(tuned)
    workloads = [w for w in tuned if w.name not in replaced]
    left_out = [f"`{w.name}` ({w.runs[0]} of {w.runs[1]} planned runs recorded"
                f"{'' if w.runs[0] < w.runs[1] else '; tuning not over'})" for w in loaded if not w.finished]
    protocols = [p for p in (CONSTANT, MODERN) if any(w.protocol == p for w in workloads)]
    tables = {p: score_table([w for w in workloads if w.protocol == p]) for p in protocols}
    pd.concat([t.assign(protocol=p) for p, t in tables.items()] or [pd.DataFrame()]).to_csv(
        out_dir / "scores.csv", index=False)
    by_time = time_ratios(workloads)
    pd.DataFrame([{"workload": w, "optimizer": n, "time ratio": r, "quality ratio": quality_ratios(
        next(x for x in workloads if x.name == w)).get(n)} for w, per in by_time.items() for n, r in per.items()]
                 ).to_csv(out_dir / "ratios.csv", index=False)
    tuning = tuning_cost_table(workloads)
    tuning.to_csv(out_dir / "tuning_cost.csv", index=False)
    overview = tuning_overview(tuning, workloads)
    overview.to_csv(out_dir / "tuning_overview.csv", index=False)
    choice = defaults_versus_tuned(workloads)
    choice.to_csv(out_dir / "defaults_vs_tuned.csv", index=False)
    taus = list(np.linspace(1.0, TAU_MAX, 61))
    names = sorted({n for w in workloads for n in w.finals})
    figure = plots.profiles(profile(by_time, taus, names), taus, out_dir / "performance_profile.png") if by_time \
        else None
    cost_figure = plots.tuning_costs(tuning, {w.name: w.mode for w in workloads}, out_dir / "tuning_cost.png")
    full_batch = [w for w in workloads if w.full_batch]
    def shown(frame):
        frame = frame.assign(**{"time score [95%]": [f"{fmt(r['time score'], 3)} [{fmt(r['time score low'], 3)}, "
                                                     f"{fmt(r['time score high'], 3)}]" for _, r in frame.iterrows()]})
        return frame[["optimizer", "workloads run", "time score [95%]", "P(first)", "time score, second target",
                      "seconds score", "quality score", "worst quality ratio", "within 1.25x everywhere it ran"]]

    targets = [f"`{w.name}` {fmt(w.target, 4)} (second level {fmt(w.second_target, 4)})" for w in workloads
               if math.isfinite(w.target)]
    untimed = [f"`{w.name}`" for w in workloads if not math.isfinite(w.target)]
    lines = ["# Which optimizer across workloads", "",
             f"Workloads (one per problem): {', '.join(f'`{w.name}`' for w in workloads)}. Read from their committed "
             "records only.", "",
             *([f"Left out, not finished: {', '.join(left_out)}.", ""] if left_out else []),
             *([f"Left out, untuned companions (every setting fixed by another study, not tuned on their own "
                f"problem): {', '.join(f'`{w.name}`' for w in companions)}.", ""] if companions else []),
             *([f"Left out, the same problem answered by the study with the most optimizers: "
                f"{', '.join(f'`{old}` (by `{new}`)' for old, new in replaced.items())}.", ""] if replaced else []),
             *[line for p in protocols for line in protocol_section(p, [w for w in workloads if w.protocol == p],
                                                                    tables[p], shown, out_dir)],
             "## How the scores are made", "",
             "Time to each workload's declared target (the strictest of the `targets` its study file declares, set "
             "from a sizing probe, so no compared optimizer's result defines it; docs/studies.md), in "
             "evaluations or steps, median over the study's own held-out seeds: `r = t / t_best` per workload, a "
             "miss or a workload not run infinite; `rho(tau)` = the fraction of the workloads with `r <= tau`; "
             "score = the area under `rho` on [1, 4] / 3. `time score, second target`: the same at the loosest "
             "declared target. `P(first)`: the share of the bootstrap resamples in which the optimizer has the "
             "best time score (ties shared). The seconds score uses each study's interleaved cost benchmark and "
             "only the workloads that have one; the quality score uses the final value relative to the best "
             f"instead of the time, over every workload. Interval: {RESAMPLES} bootstrap resamples of each "
             "optimizer's seeds in every workload, the fastest time recomputed in each.", "",
             "Targets: " + ("; ".join(targets) if targets else "none declared") + "." + (
                 f" No declared target (final quality only): {', '.join(untimed)}." if untimed else ""), "",
             f"![performance profile]({figure.name})" if figure else "", "",
             "## Per workload", "",
             "Time to the finished target relative to the fastest optimizer there (`not reached`: the median seed "
             "never reached it; `—`: not run):", "",
             _matrix_markdown(ratio_matrix(by_time, workloads)), "",
             "Final quality relative to the best there (the failure-aware median over held-out seeds):", "",
             _matrix_markdown(ratio_matrix({w.name: quality_ratios(w) for w in workloads}, workloads)), "",
             _failure_sentence(workloads), "",
             "## Several optimizers at their defaults, or one tuned?", "",
             "Per workload, the 'try several at their defaults' strategy made fairly: the pick is the optimizer "
             "whose defaults setting did best on the tuning seeds (`task_defaults`, else `library_defaults`); "
             "it is judged on the held-out seeds its defaults arm ran, against every tuned arm on the same seeds "
             "(failure-aware medians, point estimates). `tuned arm = defaults arm`: optimizers whose tuning "
             "selected their defaults (the same runs), not compared with themselves.", "",
             markdown_table(choice) if len(choice) else "No study has a defaults arm.", "",
             "## What tuning costs", "",
             "Expected best tuning score after k settings tried in a random order (the study's own tuning runs; a "
             "failed setting counts as the workload's worst), beside the optimizer's defaults arm on the same "
             "scale; `settings to beat the defaults arm`: the smallest k whose expected best is better (`never`: "
             "not even all of them). Curves with 95% intervals over orders: `tuning_cost.csv`.", "",
             f"![tuning cost]({cost_figure.name})" if cost_figure else "", "",
             markdown_table(overview) if len(overview) else "", ""]
    path = out_dir / SUMMARY
    path.write_text("\n".join(lines) + "\n")
    return path
