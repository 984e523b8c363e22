"""Compare finished fast-style runs from their run records: ``comparison.md`` and ``curves.png``.

Reads only run records (``summary.json``, ``history.csv``), never TensorFlow.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from kerasopt.records import is_complete, read_history, read_summary

COLUMNS = ("optimizer", "status", "val_loss", "val_content_loss", "val_style_loss", "style_ratio", "loss",
           "steps", "train_seconds", "trace_seconds", "peak_rss_mb")


def summary_rows(run_dirs: dict[str, str | os.PathLike]) -> list[dict]:
    """One row per optimizer with the `COLUMNS` (None where unknown; ``incomplete`` without a summary)."""
    rows = []
    for name, run_dir in run_dirs.items():
        summary = read_summary(run_dir) if is_complete(run_dir) else {"status": "incomplete", "metrics": {}}
        metrics = summary.get("metrics", {})
        rows.append({"optimizer": name, "status": summary["status"], **{key: metrics.get(key) for key in COLUMNS[2:9]},
                     "trace_seconds": summary.get("trace_seconds"), "peak_rss_mb": summary.get("peak_rss_mb"),
                     "error": summary.get("error")})
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, in the given order."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[key]) for key in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_curves(run_dirs: dict[str, Path], path: Path) -> Path:
    """Three panels: training loss vs step, validation loss vs step, validation loss vs training seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (("step", "loss", "training loss"), ("step", "val_loss", "validation loss"),
              ("seconds", "val_loss", "validation loss"))
    for name, run_dir in run_dirs.items():
        history = read_history(run_dir)
        for axis, (x_key, y_key, _) in zip(axes, panels):
            points = [(row[x_key], row[y_key]) for row in history
                      if isinstance(row.get(y_key), float) and row[y_key] > 0 and isinstance(row.get(x_key), float)]
            if points:
                axis.plot(*zip(*points), marker="o" if y_key == "val_loss" else None, markersize=3, label=name)
    for axis, (x_key, _, y_label) in zip(axes, panels):
        axis.set_xlabel("training seconds (tracing excluded)" if x_key == "seconds" else "step (mini-batches)")
        axis.set_ylabel(y_label)
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return Path(path)


def write_comparison(out_dir: str | os.PathLike, run_dirs: dict[str, str | os.PathLike]) -> list[dict]:
    """Write ``comparison.md`` and ``curves.png`` into ``out_dir`` for ``{optimizer: run_dir}``; return the rows."""
    out_dir, run_dirs = Path(out_dir), {name: Path(d) for name, d in run_dirs.items()}
    rows = summary_rows(run_dirs)
    errors = [f"- {row['optimizer']}: {row['error']}" for row in rows if row.get("error")]
    text = ["# Fast style transfer: optimizer comparison", "", markdown_table(rows),
            "val_loss: perceptual loss of the final network on the held-out photos (lower is better). "
            "style_ratio: style loss of the stylized held-out photos / that of the photos themselves. "
            "loss: training loss over the last logging window. train_seconds exclude validation and "
            "the first step's tracing (trace_seconds); peak_rss_mb is the process peak (cumulative "
            "when runs share a process).", ""]
    if errors:
        text += ["Errors:", *errors, ""]
    (out_dir / "comparison.md").write_text("\n".join(text))
    plot_curves(run_dirs, out_dir / "curves.png")
    return rows
