"""Comparing several optimizer runs of one task: the run loop and the one comparison writer.

`compare(task, configs, out_dir)` runs each config into ``out_dir/<optimizer>``
and, after every run (so an interrupted comparison keeps its finished runs),
`write_comparison` writes into ``out_dir``:

- ``comparison.md``: status, the task's comparison metrics, cost columns and peak memory per optimizer;
- ``curves.png``: the task's curve metrics vs steps, evaluations and seconds;
- ``comparison.png``: the runs' result images side by side (tasks that save one).

The writer reads run records only (no TensorFlow).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from kerasopt.records import ARTIFACTS, is_complete, read_history, read_summary

COST_COLUMNS = ("trace_seconds", "peak_rss_mb")


def summary_rows(task, run_dirs: dict[str, Path]) -> list[dict]:
    """One row per run: optimizer, status, the task's `comparison_metrics`, trace seconds, peak RSS, error."""
    rows = []
    for name, run_dir in run_dirs.items():
        summary = read_summary(run_dir) if is_complete(run_dir) else {"status": "incomplete", "metrics": {}}
        metrics = summary.get("metrics") or {}
        rows.append({"optimizer": name, "status": summary.get("status"),
                     **{key: metrics.get(key) for key in task.comparison_metrics},
                     **{key: summary.get(key) for key in COST_COLUMNS}, "error": summary.get("error")})
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """The rows of `summary_rows` as a Markdown table (the error column left out)."""
    columns = [key for key in rows[0] if key != "error"] if rows else []
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[key]) for key in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_curves(task, run_dirs: dict[str, Path], path: Path) -> Path | None:
    """One row of panels per curve metric, against steps, evaluations and seconds; None without data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_keys = ("step", "evaluations", "seconds")
    figure, axes = plt.subplots(len(task.curve_metrics), 3, figsize=(15, 4.2 * len(task.curve_metrics)),
                                squeeze=False)
    colours = plt.get_cmap("tab20")
    drawn = False
    for index, (name, run_dir) in enumerate(run_dirs.items()):
        history = read_history(run_dir)
        style = {"color": colours(index % 20), "linestyle": ("-", "--", ":")[index // 20 % 3], "label": name}
        for row_axes, metric in zip(axes, task.curve_metrics):
            points = [row for row in history if isinstance(row.get(metric), float) and math.isfinite(row[metric])]
            for axis, key in zip(row_axes, axes_keys):
                xy = [(row[key], row[metric]) for row in points if row.get(key) is not None]
                if xy:
                    axis.plot(*zip(*xy), marker="." if len(xy) < 40 else None, **style)
                    drawn = True
    for row_axes, metric in zip(axes, task.curve_metrics):
        for axis, label in zip(row_axes, ("steps", "evaluations (loss + gradient)", "seconds (tracing excluded)")):
            positive = all(v > 0 for line in axis.get_lines() for v in line.get_ydata())
            if metric in task.log_metrics and positive and axis.get_lines():
                axis.set_yscale("log")
            axis.set_xlabel(label)
            axis.set_ylabel(metric)
            axis.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    if drawn:
        figure.savefig(path, dpi=90)
    plt.close(figure)
    return path if drawn else None


def plot_results(task, rows: list[dict], run_dirs: dict[str, Path], path: Path) -> Path | None:
    """The runs' ``artifacts/<task.result_image>`` in a grid titled optimizer / headline / status."""
    if not task.result_image:
        return None
    images = {row["optimizer"]: Path(run_dirs[row["optimizer"]]) / ARTIFACTS / task.result_image for row in rows}
    if not any(p.is_file() for p in images.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(len(rows), 4)
    lines = math.ceil(len(rows) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.9 * lines), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    metric = task.headline[0]
    for axis, row in zip(axes.ravel(), rows):
        if images[row["optimizer"]].is_file():
            axis.imshow(plt.imread(str(images[row["optimizer"]])))
        status = "" if row["status"] == "completed" else f" ({row['status']})"
        axis.set_title(f"{row['optimizer']}\n{metric} {_cell(row.get(metric))}{status}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_comparison(task, run_dirs: dict[str, str | Path], out_dir: str | Path) -> list[dict]:
    """Write comparison.md, curves.png and (where the task saves result images) comparison.png; return the rows."""
    out_dir, run_dirs = Path(out_dir), {name: Path(d) for name, d in run_dirs.items()}
    rows = summary_rows(task, run_dirs)
    errors = [f"- {row['optimizer']}: {row['error']}" for row in rows if row.get("error")]
    text = [f"# {task.title}: optimizer comparison", "", markdown_table(rows), task.comparison_note]
    if errors:
        text += ["", "Errors:", *errors]
    (out_dir / "comparison.md").write_text("\n".join(text) + "\n")
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
        run_dirs[config.optimizer] = out_dir / config.optimizer
        summary = task.run(config, run_dirs[config.optimizer], progress=progress)
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
