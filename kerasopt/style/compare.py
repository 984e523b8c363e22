"""Comparison of several optimizer runs from their run records (no TensorFlow needed).

`write_comparison(out_dir, run_dirs)` writes into ``out_dir``:

- ``comparison.png``: the result images in a grid, titled optimizer / final loss / status.
- ``curves.png``: total loss (log scale) vs iterations, vs evaluations, vs seconds.
- ``comparison.md``: final loss and components, iterations, evaluations, seconds,
  trace seconds and peak memory per optimizer.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kerasopt.records import is_complete, read_history, read_summary  # noqa: E402
from kerasopt.style.images import read_rgb  # noqa: E402

RESULT = Path("artifacts") / "result.png"
_COLUMNS = ("optimizer", "status", "loss", "content_loss", "style_loss", "tv_loss", "iterations", "evaluations",
            "seconds", "trace_seconds", "peak_rss_mb")


def summary_rows(run_dirs: dict[str, Path]) -> list[dict]:
    """One row per optimizer: status, final metrics, seconds and peak RSS (None where unknown)."""
    rows = []
    for name, run_dir in run_dirs.items():
        summary = read_summary(run_dir) if is_complete(run_dir) else {"status": "incomplete", "metrics": {}}
        metrics = summary.get("metrics", {})
        rows.append({"optimizer": name, "status": summary["status"],
                     **{key: metrics.get(key) for key in _COLUMNS[2:9]},
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
    """The comparison rows as a Markdown table (sorted as given)."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + " --- |" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[key]) for key in _COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _plot_results(rows: list[dict], run_dirs: dict[str, Path], path: Path) -> None:
    count = len(rows)
    columns = min(count, 4)
    lines = math.ceil(count / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.9 * lines), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, row in zip(axes.ravel(), rows):
        result = run_dirs[row["optimizer"]] / RESULT
        if result.is_file():
            axis.imshow(read_rgb(result).astype("uint8"))
        loss = _cell(row["loss"])
        status = "" if row["status"] == "completed" else f" ({row['status']})"
        axis.set_title(f"{row['optimizer']}\nloss {loss}{status}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_curves(run_dirs: dict[str, Path], path: Path) -> None:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colours = plt.get_cmap("tab20")  # 20 distinct colours; the line style separates more runs
    for index, (name, run_dir) in enumerate(run_dirs.items()):
        history = [row for row in read_history(run_dir) if row.get("loss") and row["loss"] > 0]
        if not history:
            continue
        style = {"color": colours(index % 20), "linestyle": ("-", "--", ":")[index // 20 % 3], "label": name}
        for axis, column in zip(axes, ("step", "evaluations", "seconds")):
            axis.plot([row[column] for row in history], [row["loss"] for row in history], **style)
    for axis, label in zip(axes, ("iterations", "evaluations (loss + gradient)", "seconds (tracing excluded)")):
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("total loss")
        axis.grid(True, which="both", alpha=0.3)
    axes[-1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_comparison(out_dir: str | Path, run_dirs: dict[str, Path]) -> list[dict]:
    """Write comparison.png, curves.png and comparison.md for ``{optimizer: run_dir}``; returns the rows."""
    out_dir, run_dirs = Path(out_dir), {name: Path(d) for name, d in run_dirs.items()}
    rows = summary_rows(run_dirs)
    (out_dir / "comparison.md").write_text(
        "# Style transfer: optimizer comparison\n\n" + markdown_table(rows)
        + "\nSeconds exclude tracing; peak_rss_mb is the process peak RSS sampled during each run "
          "(runs share one process, so it is cumulative).\n")
    _plot_results(rows, run_dirs, out_dir / "comparison.png")
    _plot_curves(run_dirs, out_dir / "curves.png")
    return rows
