"""``report.md`` + CSV tables + PNG figures for a study's results directory: `write_report` reads the
records (`read_records`, on `kerasopt.results`), computes the tables (`compute_tables`,
`kerasopt.report.tables`), writes them and the figures (`kerasopt.report.figures`) and the markdown
(`report_lines`, `kerasopt.report.markdown`) into the report's folder; `publish` copies a written report.
Nothing is written into the records. No TensorFlow: a committed records directory regenerates its report on
any machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kerasopt.layout import ARM_TABLE, HEADLINE_TABLE, MAIN_TABLE, REPORT, REPORT_SUFFIXES, RUNS_TABLE, \
    TARGET_TABLE, TUNING_TABLE
from kerasopt.report.companion import companion_lines
from kerasopt.report.figures import write_figures
from kerasopt.report.load import headline_column, headline_metrics, load_runs, load_study, searched, tuning_seeds
from kerasopt.report.markdown import COST_NOTE, NO_COST_NOTE, NOT_TUNED, budget_lines, protocol_lines
from kerasopt.report.tables import ARMS, arm_table, defaults_check, derived_targets, finished_target, headline_table, \
    main_table, rank_on_shared_seeds, target_table, tuning_table
from kerasopt.report.text import fmt, interval_text, markdown_table  # noqa: F401  (re-exported)
from kerasopt.results import read_costs, read_histories, read_per_image, read_selection, seed_outcomes
from kerasopt.stats.verdicts import MoreSeeds, report_rule

__all__ = ["write_report", "publish", "REPORT", "MAIN_TABLE", "markdown_table", "fmt", "interval_text", "ARMS"]


@dataclass
class Records:
    """What a report reads from a study's results directory, once (`read_records`).

    Attributes:
        runs_dir: the results directory.
        study: its study.json.
        headline: the metrics the report answers with (the first is the main one).
        every_budget: the roles of every run (`kerasopt.report.load.load_runs`).
        runs: the roles that answer the main question (with several budgets: the largest budget's final runs).
        unreadable: the files that could not be read (one line each), named at the end of the report.
        selection: what tuning chose (plan.json's ``selection``).
        costs: seconds per evaluation (costs.json).
    """

    runs_dir: Path
    study: dict
    headline: list[str]
    every_budget: pd.DataFrame
    runs: pd.DataFrame
    unreadable: list[str] = field(default_factory=list)
    selection: dict = field(default_factory=dict)
    costs: dict = field(default_factory=dict)

    @property
    def spec(self) -> dict:
        return self.study["study"]

    @property
    def metric(self) -> str:
        """The selection metric (the study's target)."""
        return self.study["target"]["metric"]

    @property
    def mode(self) -> str:
        return self.study["target"]["mode"]

    @property
    def main_metric(self) -> str:
        """The column of `runs` holding the main headline metric."""
        return headline_column(self.metric, self.headline)

    @property
    def optimizers(self) -> list[str]:
        return list(self.spec["optimizers"])

    @property
    def collapse(self):
        return (self.study.get("task") or {}).get("collapse")

    @property
    def budgets(self) -> list:
        return self.spec.get("budgets") or [None]


def read_records(runs_dir: str | Path) -> Records:
    """Read a study's records for its report (files only; nothing written)."""
    runs_dir = Path(runs_dir)
    study = load_study(runs_dir)
    headline = headline_metrics(study)
    loaded = load_runs(runs_dir, study["target"]["metric"], headline, (study.get("task") or {}).get("collapse"))
    every_budget = runs = loaded.frame
    budgets = study["study"].get("budgets") or [None]
    if budgets[-1] is not None:  # the main answer: the largest budget's final runs
        runs = runs[(runs["phase"] != "final") | (runs["budget"] == budgets[-1])]
    return Records(runs_dir, study, headline, every_budget, runs, loaded.unreadable, read_selection(runs_dir),
                   read_costs(runs_dir))


@dataclass
class Tables:
    """The report's tables (`compute_tables`)."""

    arms: pd.DataFrame
    order: list[str]
    rule: MoreSeeds
    main: pd.DataFrame
    tuning: pd.DataFrame
    histories: dict
    times: pd.DataFrame


def compute_tables(records: Records) -> Tables:
    """Arms, ranking, the main table, tuning and time to target from the records (histories read once)."""
    runs, spec, mode, metric = records.runs, records.spec, records.mode, records.metric
    metric_columns = list(dict.fromkeys(["metric", *(m for m in records.headline if m != metric)]))
    arms = arm_table(runs, records.optimizers, metric_columns)
    order = rank_on_shared_seeds(runs, records.optimizers, records.main_metric, spec["seeds"], mode)
    rule = report_rule(spec)
    finals = runs[(runs["phase"] == "final") & runs["complete"]]["run_id"]
    per_image = read_per_image(records.runs_dir, finals, records.unreadable)
    main = main_table(runs, arms, order, records.main_metric, mode, spec["seeds"], rule, per_image).rename(
        columns=lambda c: c.replace(" metric ", f" {records.headline[0]} "))
    compared = runs[runs["phase"].isin(list(ARMS.values())) & (runs["status"] == "completed")]
    histories = read_histories(records.runs_dir, compared["run_id"], records.unreadable)
    ranked = [name for name in order if name in set(arms[arms["arm"] == "tuned"]["optimizer"])]
    targets = [(float(t), "study file") for t in spec["targets"]] + derived_targets(
        histories, runs, ranked[0] if ranked else None, metric) + finished_target(
        seed_outcomes(runs, records.optimizers, "metric"), order, mode)
    times = target_table(histories, runs, order, targets, metric, mode, records.costs)
    return Tables(arms, order, rule, main, tuning_table(records.selection, order), histories, times)


def write_tables(records: Records, tables: Tables, out_dir: Path) -> None:
    """The report's CSV tables (``summary.csv``: per arm; ``runs.csv``: every role, with what it spent)."""
    metric = records.metric
    tables.arms.rename(columns=lambda c: c.replace("metric", metric, 1) if c.startswith("metric") else c).to_csv(
        out_dir / ARM_TABLE, index=False)
    tables.main.to_csv(out_dir / MAIN_TABLE, index=False)
    tables.tuning.to_csv(out_dir / TUNING_TABLE, index=False)
    tables.times.to_csv(out_dir / TARGET_TABLE, index=False)
    runs = records.runs
    runs.assign(hparams=runs["hparams"].map(lambda h: json.dumps(h, sort_keys=True))).to_csv(
        out_dir / RUNS_TABLE, index=False)
    if len(records.headline) > 1:
        headline_of(records, tables).to_csv(out_dir / HEADLINE_TABLE, index=False)


def headline_of(records: Records, tables: Tables) -> pd.DataFrame:
    """The tuned arm's mean [95% CI] of every headline metric."""
    return headline_table(tables.arms, tables.order, [records.main_metric, *records.headline[1:]]).rename(
        columns={"metric": records.headline[0]})


def incomplete_runs(records: Records) -> int:
    """Planned runs without a record yet."""
    return int(records.runs.drop_duplicates("run_id")["status"].isna().sum())


def tuning_over(records: Records) -> bool:
    """Whether tuning has ended (a selection, or final runs planned)."""
    return bool(records.selection) or bool((records.runs["phase"] == "final").any())


def header_lines(records: Records) -> list[str]:
    """The title, what the study answers, its warnings and, while it is not finished, a note saying so."""
    spec, headline = records.spec, records.headline
    better = "lower" if records.mode == "min" else "higher"
    tuning_note = f"tuning seeds {tuning_seeds(spec['tuning'])}" if searched(spec) else NOT_TUNED
    lines = [f"# Study `{spec['name']}`: which optimizer, at what cost?", "",
             f"Task `{spec['task']}`, headline metric `{headline[0]}` ({better} is better); tuning selected on "
             f"`{records.metric}`. Source: `{records.study.get('source', '')}`. Held-out seeds {spec['seeds']} "
             f"({tuning_note}).", ""]
    warnings = records.study.get("warnings", [])
    lines += [f"> **Note:** {warning}" for warning in warnings] + ([""] if warnings else [])
    incomplete, tuned = incomplete_runs(records), tuning_over(records)
    if incomplete or not len(records.runs) or not tuned:
        lines += [f"> **This study is not finished** ({incomplete} planned runs have no record yet"
                  + ("" if tuned else "; the bracket extensions and the final runs on the held-out seeds are "
                                      "planned when tuning ends, and the ranking is by the tuned arm")
                  + "): every number below is provisional. Rerun `python -m kerasopt.study run` to finish it.", ""]
    return lines


def answer_lines(records: Records, tables: Tables, out_dir: Path) -> list[str]:
    """The ranked answer, the tuned arm's headline metrics and, with several budgets, the answer at each."""
    headline = records.headline
    lines = [f"## Final {headline[0]} per optimizer (ranked)", "", markdown_table(tables.main), ""]
    if len(headline) > 1:
        table = headline_of(records, tables)
        lines += ["## Test metrics of the tuned arm (mean [95% CI])", "",
                  markdown_table(table) if len(table) else "No tuned runs yet.", ""]
    if records.budgets[-1] is not None:
        lines += budget_lines(records.runs_dir, out_dir, records.every_budget, records.study, records.optimizers,
                              [int(b) for b in records.budgets], tables.rule, records.collapse, headline)
    return lines


DEFAULTS_CHECKED = ("on the held-out seeds the defaults arm ran, where they are two or more (the tuned arm's "
                    "added seeds left out; an arm whose runs are the tuned arm's own is not compared with itself)")
DEFAULTS_BEAT = ("Defaults arms that beat their tuned arm by more than the tuned interval, " + DEFAULTS_CHECKED + ". "
                 "Tuning chose on the tuning seeds (`{metric}`, mean over them); where the default setting "
                 "was a tuning trial its mean is shown: a small gap there means the tuning seeds could not tell "
                 "the two settings apart and the held-out seeds rank them the other way. Library defaults are the "
                 "optimizer constructor's own values, which the run record does not list, so no tuning-seed mean "
                 "is shown for them.")


def tuning_lines(records: Records, tables: Tables) -> list[str]:
    """The tuning table and the defaults arms that beat their tuned arm."""
    lines = ["## Tuning", "", markdown_table(tables.tuning) if len(tables.tuning) else "Tuning has not finished.", ""]
    beaten = defaults_check(records.runs_dir, records.runs, tables.order, records.main_metric,
                            records.mode, records.selection)
    beaten = beaten.rename(columns=lambda c: c.replace(" metric ", f" {records.headline[0]} "))
    if len(beaten):
        lines += [DEFAULTS_BEAT.format(metric=records.metric), "", markdown_table(beaten), ""]
    elif tuning_over(records) and not incomplete_runs(records) and len(records.runs):
        lines += [f"No defaults arm beats its tuned arm by more than the tuned interval, {DEFAULTS_CHECKED}.", ""]
    return lines


def target_lines(records: Records, tables: Tables) -> list[str]:
    """Time to target, with what its seconds mean."""
    if not len(tables.times):
        return ["## Time to target", "",
                "No targets (none in the study file, and no finished best optimizer to derive them from)."]
    return ["## Time to target", "", markdown_table(tables.times), "", COST_NOTE if records.costs else NO_COST_NOTE]


def closing_lines(records: Records, figures: list[Path]) -> list[str]:
    """The figures, the protocol, the unreadable files and the list of tables."""
    lines = ["", "## Figures", ""] + [f"![{path.stem}]({path.name})" for path in figures] + [""]
    lines += protocol_lines(records.study, records.runs, records.headline, records.runs_dir)
    if records.unreadable:
        lines += ["", "**Unreadable run files (left out of every table):**", ""]
        lines += [f"- `{entry}`" for entry in records.unreadable]
    lines += ["", f"Tables: `{MAIN_TABLE}`, `{ARM_TABLE}` (per arm), `{TUNING_TABLE}`, `{TARGET_TABLE}`, "
              f"`{RUNS_TABLE}` (every run, with what it spent)"
              + (f", `{HEADLINE_TABLE}`." if len(records.headline) > 1 else ".")]
    return lines


def report_lines(records: Records, tables: Tables, figures: list[Path], out_dir: Path) -> list[str]:
    """The whole of ``report.md``, section by section."""
    return (header_lines(records) + answer_lines(records, tables, out_dir)
            + companion_lines(records.study, records.runs_dir, out_dir) + tuning_lines(records, tables)
            + target_lines(records, tables) + closing_lines(records, figures))


def write_report(runs_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write ``report.md``, ``main_table.csv``, ``summary.csv``, ``headline.csv``, ``tuning.csv``,
    ``time_to_target.csv``, ``runs.csv`` and the figures into ``out_dir`` (default ``runs_dir``);
    return the report's path. Reads files only (no TensorFlow) and writes nothing but the report's own
    files, so a committed records directory regenerates its published report on any machine.

    Unreadable run files are named in the report and left out; the rest is reported.

    Raises:
        FileNotFoundError: no study.json in ``runs_dir``.
        ValueError: an unreadable study.json.
    """
    records = read_records(runs_dir)
    out_dir = Path(out_dir) if out_dir is not None else records.runs_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = compute_tables(records)
    write_tables(records, tables, out_dir)
    figures = write_figures(records.runs_dir, out_dir, records.runs, tables.histories, records.study, tables.order)
    path = out_dir / REPORT
    path.write_text("\n".join(report_lines(records, tables, figures, out_dir)) + "\n")
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
        if old.is_file() and old.suffix in REPORT_SUFFIXES:
            old.unlink()
    copied = []
    for path in sorted(runs_dir.iterdir()):
        if path.is_file() and path.suffix in REPORT_SUFFIXES:
            copied.append(Path(shutil.copy2(path, destination / path.name)))
    return copied
