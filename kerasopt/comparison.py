"""Comparing several optimizer runs of one task: the run loop and the one comparison writer.

`compare(task, configs, out_dir)` runs each config into ``out_dir/<optimizer>``
(a finished run of the same settings there is kept: the same command again continues an interrupted
comparison) and, after every run (so an interrupted comparison keeps its finished runs),
`write_comparison` writes into ``out_dir``:

- ``comparison.md``: status, the task's comparison metrics, cost columns and peak memory per optimizer;
- ``curves.png``: the task's curve metrics vs steps, evaluations and seconds;
- ``comparison.png``: the runs' result images side by side (tasks that save one).

The writer reads run records only (no TensorFlow) and uses the report's table and plot functions
(`kerasopt.report.text`, `kerasopt.report.plots`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import pandas as pd

from kerasopt.records import ARTIFACTS, is_complete, read_config, read_history, read_summary
from kerasopt.report import plots, text
from kerasopt.report.text import fmt

COST_COLUMNS = ("trace_seconds", "peak_rss_mb")
COMPARISON_FILES = ("comparison.md", "curves.png", "comparison.png")


def same_settings(run_dir: Path, config) -> bool:
    """True when ``run_dir`` is a run record (finished or not) whose settings include ``config``'s unchanged."""
    try:
        settings = read_config(run_dir).get("settings", {})
    except (OSError, ValueError):
        return False
    return all(settings.get(key) == value for key, value in config.to_dict().items())


def comparison_rows(task, run_dirs: dict[str, Path]) -> list[dict]:
    """One row per run: optimizer, status, the task's `comparison_metrics`, trace seconds, peak RSS, error."""
    rows = []
    for name, run_dir in run_dirs.items():
        summary = read_summary(run_dir) if is_complete(run_dir) else {"status": "incomplete", "metrics": {}}
        metrics = summary.get("metrics") or {}
        rows.append({"optimizer": name, "status": summary.get("status"),
                     **{key: metrics.get(key) for key in task.presentation.comparison_metrics},
                     **{key: summary.get(key) for key in COST_COLUMNS}, "error": summary.get("error")})
    return rows


def _cell(value) -> str:
    return fmt(value) if not isinstance(value, float) or math.isfinite(value) else str(value)


def markdown_table(rows: list[dict]) -> str:
    """The rows of `comparison_rows` as a Markdown table (the error column left out; `kerasopt.report.text`)."""
    frame = pd.DataFrame(rows)
    return text.markdown_table(frame.drop(columns=["error"], errors="ignore")) + "\n" if rows else ""


def plot_curves(task, run_dirs: dict[str, Path], path: Path) -> Path | None:
    """The task's curve metrics against steps, evaluations and seconds (the report's `plots.curve_grid`)."""
    histories = {name: [read_history(run_dir)] for name, run_dir in run_dirs.items()}
    shown = task.presentation
    return plots.curve_grid(histories, shown.curve_metrics, ("step", "evaluations", "seconds"), shown.log_metrics, path)


def plot_results(task, rows: list[dict], run_dirs: dict[str, Path], path: Path) -> Path | None:
    """The runs' ``artifacts/<result_image>`` side by side (the report's `plots.image_grid`), each
    titled with its headline value and status."""
    if not task.presentation.result_image:
        return None
    metric = task.headline[0]
    images = {}
    for row in rows:
        status = "" if row["status"] == "completed" else f" ({row['status']})"
        image = Path(run_dirs[row["optimizer"]]) / ARTIFACTS / task.presentation.result_image
        images[row["optimizer"]] = {f"{metric} {_cell(row.get(metric))}{status}": image if image.is_file() else None}
    return plots.image_grid(images, path, per_row=4)


def write_comparison(task, run_dirs: dict[str, str | Path], out_dir: str | Path) -> list[dict]:
    """Write comparison.md, curves.png and (where the task saves result images) comparison.png; return the rows."""
    out_dir, run_dirs = Path(out_dir), {name: Path(d) for name, d in run_dirs.items()}
    rows = comparison_rows(task, run_dirs)
    errors = [f"- {row['optimizer']}: {row['error']}" for row in rows if row.get("error")]
    shown = task.presentation
    lines = [f"# {shown.title}: optimizer comparison", "", markdown_table(rows), shown.comparison_note]
    if errors:
        lines += ["", "Errors:", *errors]
    (out_dir / "comparison.md").write_text("\n".join(lines) + "\n")
    plot_curves(task, run_dirs, out_dir / "curves.png")
    plot_results(task, rows, run_dirs, out_dir / "comparison.png")
    return rows


def compare(task, configs: list, out_dir: str | Path, log: Callable[[str], None] = print,
            progress: bool = True) -> dict[str, Path]:
    """Run several optimizers of ``task`` with otherwise identical settings and compare them.

    Args:
        task: the `kerasopt.tasks.Task`.
        configs: one config per optimizer (names must differ); validated, then ``task.prepare``
            (when the task has one) loads the shared inputs, so bad input fails before any output.
        out_dir: each run goes to ``out_dir/<optimizer>``; the comparison files are
            rewritten after every run when there is more than one config.
        log: receives one line per finished run.
        progress: show each run's progress.

    Returns:
        ``{optimizer: run_dir}`` in the order of ``configs``.
    """
    names = [config.optimizer for config in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"compare needs distinct optimizers. Received: {names}")
    for config in configs:
        config.validate()
    if task.prepare is not None:
        task.prepare(configs[0])
    out_dir = Path(out_dir)
    run_dirs = {}
    for config in configs:
        run_dir = run_dirs[config.optimizer] = out_dir / config.optimizer
        finished = is_complete(run_dir) and same_settings(run_dir, config)
        summary = read_summary(run_dir) if finished else task.run(config, run_dir, progress=progress)
        value = (summary.get("metrics") or {}).get(task.headline[0])
        detail = f"{task.headline[0]} {_cell(value)}" if value is not None else summary.get("error") or ""
        log(f"{config.optimizer}: {summary['status']}, {detail}")
        if len(configs) > 1:
            write_comparison(task, run_dirs, out_dir)
    return run_dirs


def for_task(task) -> Callable:
    """``compare`` bound to ``task``: what each task package exports as its ``compare(configs, out_dir)``."""

    def compare_runs(configs: list, out_dir: str | Path, log: Callable[[str], None] = print,
                     progress: bool = True) -> dict[str, Path]:
        return compare(task, configs, out_dir, log=log, progress=progress)

    compare_runs.__doc__ = f"`kerasopt.comparison.compare` on the {task.name} task: run ``configs`` into " \
                           "``out_dir/<optimizer>`` and write comparison.md, curves.png and comparison.png."
    return compare_runs
