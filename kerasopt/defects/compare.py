"""Compare finished defect runs: ``comparison.md`` (table) and ``curves.png``.

Reads only run records (``summary.json``, ``history.csv``), never TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

from kerasopt.records import is_complete, read_history, read_summary

TABLE_METRICS = ("val_dice", "test_dice", "test_iou", "test_precision", "test_recall", "test_dice_at_best",
                 "image_ap", "image_auroc")


def load_runs(run_dirs: dict[str, str | os.PathLike]) -> dict[str, dict]:
    """``{label: {"summary": dict, "history": list[dict]}}`` for every complete run."""
    return {label: {"summary": read_summary(path), "history": read_history(path)}
            for label, path in run_dirs.items() if is_complete(path)}


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def comparison_table(runs: dict[str, dict]) -> str:
    """A Markdown table: one row per run with status, test metrics, steps and seconds."""
    header = ["optimizer", "status", *TABLE_METRICS, "epochs", "steps", "train s", "trace s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, run in runs.items():
        summary = run["summary"]
        metrics = summary.get("metrics", {})
        cells = [label, summary["status"], *(metrics.get(name) for name in TABLE_METRICS),
                 metrics.get("epochs"), metrics.get("steps"), metrics.get("train_seconds"),
                 summary.get("trace_seconds")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_comparison(run_dirs: dict[str, str | os.PathLike], out_dir: str | os.PathLike,
                     title: str = "Defect segmentation: optimizer comparison") -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``curves.png`` into ``out_dir``; return their paths."""
    runs = load_runs(run_dirs)
    out = Path(out_dir)
    errors = [f"- {label}: {run['summary'].get('error')}" for label, run in runs.items()
              if run["summary"].get("error")]
    text = [f"# {title}", "", comparison_table(runs), "",
            "val_dice: best validation Dice (pooled pixels, threshold 0.5; its checkpoint is tested). "
            "test_*: test split at 0.5; test_dice_at_best: at the threshold best on validation. "
            "image_ap / image_auroc: image-level, score = max probability. train s excludes validation "
            "and the first step's tracing (trace s).", ""]
    if errors:
        text += ["Errors:", *errors, ""]
    markdown = out / "comparison.md"
    markdown.write_text("\n".join(text))
    return markdown, plot_curves(runs, out / "curves.png")


def plot_curves(runs: dict[str, dict], path: Path) -> Path:
    """2 x 2 panels: validation Dice and loss against epoch and against training seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = [(0, 0, "epoch", "val_dice"), (0, 1, "seconds", "val_dice"), (1, 0, "epoch", "val_loss"),
              (1, 1, "seconds", "val_loss")]
    for row, column, x_key, y_key in panels:
        ax = axes[row, column]
        for label, run in runs.items():
            points = [(r[x_key], r[y_key]) for r in run["history"]
                      if isinstance(r.get(x_key), float) and isinstance(r.get(y_key), float)]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        ax.set_xlabel("training seconds" if x_key == "seconds" else x_key)
        ax.set_ylabel(y_key)
        ax.grid(alpha=0.3)
        if y_key == "val_loss":
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
