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

from kerasopt.report import plots
from kerasopt.report.load import headline_metrics, tuning_seeds, load_history, load_runs, load_study, result_image
from kerasopt.report.stats import TIME_AXES, mean_interval, median_cost, paired_difference, time_to_target, \
    worse_than_best

ARMS = {"tuned": "final", "task_defaults": "task_defaults", "library_defaults": "library_defaults"}
REPORT = "report.md"
STATUSES = ("completed", "diverged", "failed")
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


def ranking(arms: pd.DataFrame, optimizers: list[str], metric: str, mode: str) -> list[str]:
    """Optimizers by tuned mean of ``metric``, best first; those whose tuned runs did not mostly
    complete (or have no tuned mean) come last, in study order."""
    tuned = arms[arms["arm"] == "tuned"].set_index("optimizer")
    sign = 1.0 if mode == "min" else -1.0

    def ranked(name):
        if name not in tuned.index:
            return False
        row = tuned.loc[name]
        return row["completed"] > row["n"] / 2 and math.isfinite(row[metric])

    good = sorted((n for n in optimizers if ranked(n)), key=lambda n: sign * tuned.loc[n, metric])
    return good + [n for n in optimizers if n not in good]


def per_seed(runs: pd.DataFrame, optimizer: str, metric: str) -> dict:
    """``{seed: value}`` of the completed tuned runs of ``optimizer``."""
    part = runs[(runs["optimizer"] == optimizer) & (runs["phase"] == "final")].dropna(subset=[metric])
    return dict(zip(part["seed"], part[metric]))


def main_table(runs: pd.DataFrame, arms: pd.DataFrame, order: list[str], metric: str, mode: str) -> pd.DataFrame:
    """One row per optimizer in rank order: tuned setting, tuned mean [95% CI] and outcomes, the paired
    difference to the best optimizer and whether it is significantly worse, and each defaults arm."""
    best = order[0] if order else None
    best_values = per_seed(runs, best, metric) if best else {}
    present = [arm for arm in ARMS if (arms["arm"] == arm).any()]
    rows = []
    for rank, name in enumerate(order, start=1):
        row = {"rank": rank, "optimizer": name}
        for arm in present:
            match = arms[(arms["optimizer"] == name) & (arms["arm"] == arm)]
            if match.empty:
                row |= {f"{arm} {metric} mean [95% CI]": "—", f"{arm} completed/diverged/failed": "—"}
                continue
            r = match.iloc[0]
            if arm == "tuned":
                row["tuned setting"] = r["setting"]
            row[f"{arm} {metric} mean [95% CI]"] = interval_text(r[metric], r[f"{metric}_low"], r[f"{metric}_high"])
            row[f"{arm} completed/diverged/failed"] = f"{r['completed']}/{r['diverged']}/{r['failed']}" + (
                f" (+{r['incomplete']} incomplete)" if r["incomplete"] else "")
            if arm == "tuned":
                if name == best:
                    row["paired diff. to best [95% CI]"], row["worse than best?"] = "best", "—"
                else:
                    mean, low, high, pairs = paired_difference(per_seed(runs, name, metric), best_values)
                    row["paired diff. to best [95% CI]"] = interval_text(mean, low, high) + (
                        f" (n={pairs})" if pairs else "")
                    row["worse than best?"] = worse_than_best(low, high, mode)
        rows.append(row)
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


def target_table(runs_dir: Path, runs: pd.DataFrame, optimizers: list[str], targets: list[float],
                 metric: str, mode: str) -> pd.DataFrame:
    """Per optimizer, arm and target: completed seeds that reached it and the median cost over them."""
    rows = []
    for name in optimizers:
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & (runs["status"] == "completed")]
            if part.empty:
                continue
            histories = [load_history(runs_dir, run_id) for run_id in part["run_id"]]
            for target in targets:
                costs = [time_to_target(h, metric, target, mode) for h in histories]
                reached = sum(math.isfinite(c["step"]) for c in costs)
                rows.append({"optimizer": name, "arm": arm, "target": target, "reached": f"{reached}/{len(costs)}",
                             **{f"median {axis}": median_cost([c[axis] for c in costs]) for axis in TIME_AXES}})
    return pd.DataFrame(rows, columns=["optimizer", "arm", "target", "reached",
                                       *(f"median {axis}" for axis in TIME_AXES)])


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
    lines = [
        "## Protocol", "",
        f"- Task: `{spec['task']}`; base settings: `{json.dumps(spec['base'], sort_keys=True)}`."
        + (f" Budget: {spec['base'].get(budget)} {budget} per run (loss-and-gradient evaluations, line-search "
           "trials included); each run is scored at its last accepted iterate within the budget."
           if budget else ""),
        f"- Seeds: tuning seeds {tuning_seeds(tuning)}; final (held-out) seeds {spec['seeds']}"
        + (f"; defaults-arm seeds {defaults_seeds}." if arms else "."),
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
            {"task_defaults": "`task_defaults` = kerasopt's per-task defaults (for style: the pixel-scale "
                              "learning-rate table)",
             "library_defaults": "`library_defaults` = the optimizer exactly as Keras (or kerasopt's "
                                 "Rprop/L-BFGS constructors) builds it"}[arm] for arm in arms) or "not run") + ".",
        "- Statistic: mean over the completed runs with a 95% Student-t interval (t with n-1 degrees of "
        "freedom; no interval from one run); diverged and failed runs are counted in `completed/diverged/failed`, "
        "never averaged. Ranking: by tuned mean; an optimizer whose tuned runs did not mostly complete ranks last.",
        "- Paired comparison: per held-out seed, the difference to the best-ranked optimizer's run with the same "
        "seed, with its 95% t interval; `worse than best?` = `yes` when the interval excludes 0.",
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


def write_figures(runs_dir: Path, runs: pd.DataFrame, study: dict, order: list[str]) -> list[Path]:
    """LR sensitivity, curves vs each time axis (tuned arm, completed runs) and, for style, the image grid."""
    metric, mode = study["target"]["metric"], study["target"]["mode"]
    positive = (runs["metric"].dropna() > 0).all()
    log_metric = mode == "min" and bool(positive)
    written = [plots.lr_sensitivity(runs[runs["phase"] == "tune"], metric, log_metric,
                                    runs_dir / "lr_sensitivity.png")]
    tuned = runs[(runs["phase"] == "final") & (runs["status"] == "completed")]
    histories = {name: [load_history(runs_dir, r) for r in tuned[tuned["optimizer"] == name]["run_id"]]
                 for name in order}
    histories = {name: h for name, h in histories.items() if h}
    for axis in TIME_AXES:
        written.append(plots.curves(histories, axis, metric, log_metric, runs_dir / f"curves_{axis}.png"))
    images = {}
    for name in order:
        images[name] = {}
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & runs["complete"]]
            if len(part):
                images[name][arm] = result_image(runs_dir, part["run_id"].iloc[0])
    written.append(plots.image_grid(images, runs_dir / "image_grid.png"))
    return [path for path in written if path is not None]


def write_report(runs_dir: str | Path) -> Path:
    """Write ``report.md``, ``main_table.csv``, ``summary.csv``, ``headline.csv``, ``time_to_target.csv``,
    ``runs.csv`` and the figures into ``runs_dir``; return the report's path.

    Unreadable run files are named in the report and left out; the rest is reported.

    Raises:
        FileNotFoundError: no study.json in ``runs_dir``.
        ValueError: an unreadable study.json.
    """
    runs_dir = Path(runs_dir)
    study = load_study(runs_dir)
    spec, target = study["study"], study["target"]
    metric, mode = target["metric"], target["mode"]
    headline = headline_metrics(study)
    main_metric = headline[0] if headline[0] != metric else "metric"
    optimizers = list(spec["optimizers"])
    loaded = load_runs(runs_dir, metric, headline)
    runs = loaded.frame
    metric_columns = list(dict.fromkeys(["metric", *(m for m in headline if m != metric)]))
    arms = arm_table(runs, optimizers, metric_columns)
    order = ranking(arms, optimizers, main_metric, mode)
    main = main_table(runs, arms, order, main_metric, mode).rename(columns=lambda c: c.replace(" metric ", f" {headline[0]} "))
    targets = target_table(runs_dir, runs, order, spec["targets"], metric, mode)
    arms.rename(columns=lambda c: c.replace("metric", metric, 1) if c.startswith("metric") else c).to_csv(
        runs_dir / "summary.csv", index=False)
    main.to_csv(runs_dir / MAIN_TABLE, index=False)
    targets.to_csv(runs_dir / "time_to_target.csv", index=False)
    runs.assign(hparams=runs["hparams"].map(lambda h: json.dumps(h, sort_keys=True))).to_csv(
        runs_dir / "runs.csv", index=False)
    figures = write_figures(runs_dir, runs, study, order)
    better = "lower" if mode == "min" else "higher"
    lines = [f"# Study `{spec['name']}`: which optimizer, at what cost?", "",
             f"Task `{spec['task']}`, headline metric `{headline[0]}` ({better} is better); tuning selected on "
             f"`{metric}`. Source: `{study.get('source', '')}`. Held-out seeds {spec['seeds']} "
             f"(tuning seeds {tuning_seeds(spec['tuning'])}).", ""]
    lines += [f"> **Note:** {warning}" for warning in study.get("warnings", [])] + (
        [""] if study.get("warnings") else [])
    lines += [f"## Final {headline[0]} per optimizer (ranked)", "", markdown_table(main), ""]
    if len(headline) > 1:
        table = headline_table(arms, order, [main_metric, *headline[1:]]).rename(columns={"metric": headline[0]})
        table.to_csv(runs_dir / "headline.csv", index=False)
        lines += ["## Test metrics of the tuned arm (mean [95% CI])", "", markdown_table(table), ""]
    lines += ["## Time to target", ""]
    lines += [markdown_table(targets) if len(targets) else "No targets were set in the study.", ""]
    lines += ["## Figures", ""] + [f"![{path.stem}]({path.name})" for path in figures] + [""]
    lines += protocol_lines(study, runs, headline)
    if loaded.unreadable:
        lines += ["", "**Unreadable run files (left out of every table):**", ""]
        lines += [f"- `{entry}`" for entry in loaded.unreadable]
    lines += ["", "Tables: `main_table.csv`, `summary.csv` (per arm), `time_to_target.csv`, `runs.csv` (every run)"
              + (", `headline.csv`." if len(headline) > 1 else ".")]
    path = runs_dir / REPORT
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
