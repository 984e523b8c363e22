"""``report.md`` + CSV tables + PNG figures for a study's results directory: `write_report` reads the
records (`kerasopt.report.load`), computes the tables (`kerasopt.report.tables`), draws the figures
(`kerasopt.report.figures`) and writes the markdown (`kerasopt.report.markdown`); `publish` copies a
written report. No TensorFlow: a committed records directory regenerates its report on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from kerasopt.report import verdicts
from kerasopt.report.companion import companion_lines
from kerasopt.report.figures import write_figures
from kerasopt.report.load import headline_metrics, load_costs, load_history, load_runs, load_selection, load_study, \
    per_image_counts, tuning_seeds
from kerasopt.report.markdown import COST_NOTE, NO_COST_NOTE, NOT_TUNED, budget_lines, protocol_lines, searched
from kerasopt.report.tables import ARMS, arm_table, defaults_check, derived_targets, finished_target, headline_table, \
    main_table, rank_on_shared_seeds, seed_outcomes, target_table, tuning_table
from kerasopt.report.text import fmt, interval_text, markdown_table  # noqa: F401  (re-exported)

__all__ = ["write_report", "publish", "REPORT", "MAIN_TABLE", "markdown_table", "fmt", "interval_text", "ARMS"]


REPORT = "report.md"


MAIN_TABLE = "main_table.csv"


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
    order = rank_on_shared_seeds(runs, optimizers, main_metric, spec["seeds"], mode)
    rule = verdicts.report_rule(spec)
    finals = runs[(runs["phase"] == "final") & runs["complete"]]["run_id"]
    per_image = per_image_counts(runs_dir, finals, loaded.unreadable)
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
    lines += companion_lines(study, runs_dir, out_dir)
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
    lines += protocol_lines(study, runs, headline, runs_dir)
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
