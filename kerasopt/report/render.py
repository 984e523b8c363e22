"""``report.md`` + CSV tables + PNG figures for a study's results directory.

Arms: ``tuned`` = the final reruns of each optimizer's best tuning setting,
``defaults`` = the task's default hyperparameters. Each arm's final metric is
reported as the mean over seeds with a 95% percentile-bootstrap interval over
the seeds whose run completed with a finite metric.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from kerasopt.report import plots
from kerasopt.report.load import load_history, load_runs, load_study, result_image
from kerasopt.report.stats import TIME_AXES, bootstrap_ci, median_cost, time_to_target

ARMS = {"tuned": "final", "defaults": "defaults"}
REPORT = "report.md"


def fmt(value, digits: int = 4) -> str:
    """A number for a table: ``—`` for missing, ``not reached`` for inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "not reached"
    return f"{value:.{digits}g}" if isinstance(value, (float, int)) else str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (values formatted with `fmt`)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def arm_table(runs: pd.DataFrame, optimizers: list[str]) -> pd.DataFrame:
    """Per optimizer and arm: setting, mean and 95% bootstrap CI of the metric, runs usable/total."""
    rows = []
    for name in optimizers:
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase)]
            if part.empty:
                continue
            values = part["metric"].dropna().tolist()
            mean, low, high = bootstrap_ci(values)
            rows.append({"optimizer": name, "arm": arm, "setting": part["setting"].iloc[0],
                         "trial": part["trial"].iloc[0], "mean": mean, "ci_low": low, "ci_high": high,
                         "n_ok": len(values), "n": len(part),
                         "statuses": ", ".join(f"{s}:{c}" for s, c in part["status"].fillna("incomplete")
                                               .value_counts().sort_index().items())})
    return pd.DataFrame(rows, columns=["optimizer", "arm", "setting", "trial", "mean", "ci_low", "ci_high",
                                       "n_ok", "n", "statuses"])


def main_table(arms: pd.DataFrame, optimizers: list[str], metric: str) -> pd.DataFrame:
    """One row per optimizer: tuned and defaults ``mean [low, high]`` side by side."""
    def cell(name, arm):
        row = arms[(arms["optimizer"] == name) & (arms["arm"] == arm)]
        if row.empty:
            return "—", "—"
        r = row.iloc[0]
        return f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", f"{r['n_ok']}/{r['n']}"

    rows = []
    for name in optimizers:
        tuned, tuned_n = cell(name, "tuned")
        default, default_n = cell(name, "defaults")
        setting = arms[(arms["optimizer"] == name) & (arms["arm"] == "tuned")]["setting"]
        rows.append({"optimizer": name, "tuned setting": setting.iloc[0] if len(setting) else "—",
                     f"tuned {metric} mean [95% CI]": tuned, "tuned ok": tuned_n,
                     f"defaults {metric} mean [95% CI]": default, "defaults ok": default_n})
    return pd.DataFrame(rows)


def target_table(runs_dir: Path, runs: pd.DataFrame, optimizers: list[str], targets: list[float],
                 metric: str, mode: str) -> pd.DataFrame:
    """Per optimizer, arm and target: seeds that reached it and the median cost over seeds."""
    rows = []
    for name in optimizers:
        for arm, phase in ARMS.items():
            part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & runs["complete"]]
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


def protocol_lines(study: dict, target: dict, runs: pd.DataFrame) -> list[str]:
    """The protocol section: what every optimizer got, so readers can judge fairness."""
    spec = study["study"]
    tuning = spec["tuning"]
    better = "lowest" if target["mode"] == "min" else "highest"
    sampler = ("scrambled Halton quasi-random points (scipy.stats.qmc, seeded; optimizers with equally many "
               "dimensions get the same points of the unit cube)" if tuning["sampler"] == "quasirandom"
               else "a full factorial grid (log-spaced for log-uniform ranges, endpoints included)")
    lines = [
        "## Protocol", "",
        f"- Task: `{spec['task']}`; base settings: `{json.dumps(spec['base'], sort_keys=True)}`.",
        f"- Tuning budget: {tuning['trials']} trials for every optimizer with a searched dimension, drawn as "
        f"{sampler}; each trial runs once with seed {tuning['seed']}.",
        f"- Selection: the trial with the {better} `{target['metric']}` among completed runs "
        "(failed or diverged trials are never selected; ties go to the lower trial index).",
        f"- Final reruns: the selected setting with seeds {spec['seeds']} (a rerun with the tuning seed "
        "is the tuning run itself: same settings, same run id).",
        "- Defaults arm: " + (f"the task's default hyperparameters with seeds {spec['seeds']}."
                              if spec["defaults_arm"] else "not run."),
        "- Statistic: mean over seeds of the final metric with a 95% percentile-bootstrap interval "
        "(10,000 resamples); only completed runs with a finite metric enter it (`ok` = how many).",
        f"- Time-to-target: the first history row where `{target['metric']}` reaches each target "
        f"({'≤' if target['mode'] == 'min' else '≥'}); median over seeds, an unreached seed counting as "
        "infinite (so `not reached` unless more than half of the seeds reach it).",
        "", "Search spaces (hyperparameter: dimension; `{}` = nothing to tune, the defaults are the setting):", ""]
    lines += [f"- `{name}`: `{json.dumps(space, sort_keys=True)}`" for name, space in spec["search"].items()]
    counts = runs.drop_duplicates("run_id")["status"].fillna("incomplete").value_counts().sort_index()
    lines += ["", "Runs: " + ", ".join(f"{count} {status}" for status, count in counts.items()) + "."]
    if "incomplete" in counts:
        lines.append("**The study is incomplete**: rerun `python -m kerasopt.study run` to finish it.")
    return lines


def write_figures(runs_dir: Path, runs: pd.DataFrame, study: dict, target: dict) -> list[Path]:
    """LR sensitivity, curves vs each time axis (tuned arm) and, for style, the image grid."""
    metric, mode = target["metric"], target["mode"]
    optimizers = study["study"]["optimizers"]
    positive = (runs["metric"].dropna() > 0).all()
    log_metric = mode == "min" and bool(positive)
    written = [plots.lr_sensitivity(runs[runs["phase"] == "tune"], metric, log_metric,
                                    runs_dir / "lr_sensitivity.png")]
    tuned = runs[(runs["phase"] == "final") & runs["complete"]]
    histories = {name: [load_history(runs_dir, r) for r in tuned[tuned["optimizer"] == name]["run_id"]]
                 for name in optimizers}
    histories = {name: h for name, h in histories.items() if h}
    for axis in TIME_AXES:
        written.append(plots.curves(histories, axis, metric, log_metric, runs_dir / f"curves_{axis}.png"))
    if study["study"]["task"] == "style":
        images = {}
        for name in optimizers:
            images[name] = {}
            for arm, phase in ARMS.items():
                part = runs[(runs["optimizer"] == name) & (runs["phase"] == phase) & runs["complete"]]
                images[name][arm] = result_image(runs_dir, part["run_id"].iloc[0]) if len(part) else None
        written.append(plots.image_grid(images, runs_dir / "image_grid.png"))
    return [path for path in written if path is not None]


def write_report(runs_dir: str | Path) -> Path:
    """Write ``report.md``, ``summary.csv``, ``main_table.csv``, ``time_to_target.csv``,
    ``runs.csv`` and the figures into ``runs_dir``; return the report's path.

    Raises:
        FileNotFoundError: no study.json in ``runs_dir``.
        ValueError: unreadable study files.
    """
    runs_dir = Path(runs_dir)
    study = load_study(runs_dir)
    target = study["target"]
    metric, mode = target["metric"], target["mode"]
    spec = study["study"]
    optimizers = spec["optimizers"]
    runs = load_runs(runs_dir, metric)
    arms = arm_table(runs, optimizers)
    main = main_table(arms, optimizers, metric)
    targets = target_table(runs_dir, runs, optimizers, spec["targets"], metric, mode)
    arms.to_csv(runs_dir / "summary.csv", index=False)
    main.to_csv(runs_dir / "main_table.csv", index=False)
    targets.to_csv(runs_dir / "time_to_target.csv", index=False)
    runs.assign(hparams=runs["hparams"].map(lambda h: json.dumps(h, sort_keys=True))).to_csv(
        runs_dir / "runs.csv", index=False)
    figures = write_figures(runs_dir, runs, study, target)
    better = "lower" if mode == "min" else "higher"
    lines = [f"# Study `{spec['name']}`: which optimizer, at what cost?", "",
             f"Task `{spec['task']}`, metric `{metric}` ({better} is better). Source: `{study.get('source', '')}`.",
             "", "## Final metric per optimizer", "", markdown_table(main), "",
             "## Time to target", ""]
    lines += [markdown_table(targets) if len(targets) else "No targets were set in the study.", ""]
    lines += ["## Figures", ""] + [f"![{path.stem}]({path.name})" for path in figures] + [""]
    lines += protocol_lines(study, target, runs)
    lines += ["", "Tables: `main_table.csv`, `summary.csv` (per arm), `time_to_target.csv`, `runs.csv` (every run)."]
    path = runs_dir / REPORT
    path.write_text("\n".join(lines) + "\n")
    return path
