"""Report figures: LR sensitivity, curves with seed bands, image grids, performance profiles.

Drawn on `matplotlib.figure.Figure` objects, not through pyplot, so importing this module changes no
global backend (a notebook that imports kerasopt keeps showing its own inline figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.image import imread

from kerasopt.stats.curves import band

AXIS_LABELS = {"step": "steps", "epoch": "epochs", "evaluations": "gradient evaluations",
               "seconds": "seconds (excl. tracing)"}


def _subplots(rows: int = 1, columns: int = 1, figsize=None, squeeze: bool = True):
    """``(figure, axes)`` like ``pyplot.subplots``, on a `Figure` pyplot does not track."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=squeeze)


def _colors(names: Sequence[str]) -> dict:
    cmap = matplotlib.colormaps["tab20"]
    return {name: cmap(i % 20) for i, name in enumerate(names)}


def _save(fig, path: Path, dpi: int = 110) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def lr_sensitivity(tune: pd.DataFrame, metric: str, log_metric: bool, path: Path) -> Path | None:
    """Final metric vs learning rate per optimizer (tuning runs); diverged runs as ×, failed as ▽,
    both drawn at the top of the axis (they have no final metric).

    Args:
        tune: `load_runs` rows of the tune phase (``metric`` is NaN unless completed).
        metric: the metric's name (axis label).
        log_metric: log scale for the metric axis.
        path: PNG to write.

    Returns:
        ``path``, or None when no tuning run set a learning rate.
    """
    tune = tune[tune["learning_rate"].notna()]
    if tune.empty:
        return None
    names = list(dict.fromkeys(tune["optimizer"]))
    colors = _colors(names)
    fig, ax = _subplots(figsize=(7, 4.5))
    ok = tune[tune["metric"].notna()]
    ceiling = ok["metric"].max() if not ok.empty else 1.0
    for name in names:
        rows = tune[tune["optimizer"] == name].sort_values("learning_rate")
        good = rows[rows["metric"].notna()]
        ax.plot(good["learning_rate"], good["metric"], "o-", color=colors[name], label=name)
        for status, marker in (("diverged", "x"), ("failed", "v")):
            bad = rows[rows["status"] == status]
            ax.plot(bad["learning_rate"], [ceiling] * len(bad), marker, color=colors[name], markersize=9,
                    linestyle="none")
    ax.set_xscale("log")
    if log_metric and (ok["metric"] > 0).all() and not ok.empty:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final {metric} (× diverged, ▽ failed)")
    ax.set_title("Learning-rate sensitivity (tuning trials)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def curves(histories: dict[str, list[list[dict]]], axis: str, metric: str, log_metric: bool,
           path: Path) -> Path | None:
    """Metric vs ``axis`` per optimizer: mean over seeds with a min–max band.

    Args:
        histories: optimizer → one history (rows) per seed.
        axis: ``"step"``, ``"evaluations"`` or ``"seconds"``.
        metric: the history column to plot.
        log_metric: log scale for the metric axis.
        path: PNG to write.

    Returns:
        ``path``, or None when no history has the metric.
    """
    fig, ax = _subplots(figsize=(7, 4.5))
    if not draw_curves(ax, histories, axis, metric, log_metric):
            return None
    ax.set_title(f"{metric} vs {AXIS_LABELS.get(axis, axis)}: mean over seeds, band = min–max")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def draw_curves(ax, histories: dict[str, list[list[dict]]], axis: str, metric: str, log_metric: bool) -> bool:
    """Draw `curves` into ``ax`` (mean over seeds, min–max band; one run: its line); False when nothing to draw."""
    colors = _colors(list(histories))
    drawn = False
    for name, runs in histories.items():
        series = []
        for rows in runs:
            points = [(r[axis], r[metric]) for r in rows
                      if isinstance(r.get(metric), float) and np.isfinite(r[metric]) and r.get(axis) is not None]
            if points:
                series.append(tuple(np.array(points).T))
        shared = band(series)
        if shared is None:
            continue
        grid, mean, low, high = shared
        ax.plot(grid, mean, color=colors[name], label=f"{name} (n={len(series)})")
        ax.fill_between(grid, low, high, color=colors[name], alpha=0.2, linewidth=0)
        drawn = True
    if drawn and log_metric and all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
        ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS.get(axis, axis))
    ax.set_ylabel(metric)
    ax.grid(True, which="both", alpha=0.3)
    return drawn


def curve_grid(histories: dict[str, list[list[dict]]], metrics: Sequence[str], axes: Sequence[str],
               log_metrics: Sequence[str], path: Path) -> Path | None:
    """One row of panels per metric, one column per time axis (`draw_curves` each); None without data."""
    fig, grid = _subplots(len(metrics), len(axes), figsize=(5 * len(axes), 4.2 * len(metrics)), squeeze=False)
    drawn = [draw_curves(ax, histories, axis, metric, metric in log_metrics)
             for row, metric in zip(grid, metrics) for ax, axis in zip(row, axes)]
    if not any(drawn):
            return None
    grid[0][-1].legend(fontsize=7, ncol=2)
    return _save(fig, path, dpi=90)


def image_grid(images: dict[str, dict[str, Path | None]], path: Path, per_row: int = 6) -> Path | None:
    """Result images, optimizers in ranked order: each optimizer a block of one panel per arm
    (e.g. tuned, task_defaults), about ``per_row`` panels to a row.

    Args:
        images: optimizer → arm → PNG path (None: no image).
        path: PNG to write.
        per_row: panels per row (rounded down to whole optimizers).
    """
    arms = list(dict.fromkeys(arm for per_arm in images.values() for arm in per_arm))
    if not images or not any(p for per_arm in images.values() for p in per_arm.values()):
        return None
    blocks = max(1, per_row // len(arms))
    rows = -(-len(images) // blocks)
    columns = blocks * len(arms)
    fig, axes = _subplots(rows, columns, figsize=(1.7 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for index, (name, per_arm) in enumerate(images.items()):
        for offset, arm in enumerate(arms):
            ax = axes[index // blocks][index % blocks * len(arms) + offset]
            image_path = per_arm.get(arm)
            if image_path is not None:
                ax.imshow(imread(str(image_path)))
            ax.set_title(f"{index + 1}. {name}\n{arm}", fontsize=7)
    return _save(fig, path, dpi=80)  # about one screen pixel per image pixel at 128 px


def stacked_grid(shared: Path, strips: dict[str, Path], path: Path, shared_rows: Sequence[str] = ("",),
                 title: str = "") -> Path:
    """A shared image cut into ``len(shared_rows)`` equal horizontal bands (labelled), then one strip per
    optimizer (``strips``: label -> PNG of the same width), in order."""
    panel = imread(str(shared))
    band_height = panel.shape[0] // max(len(shared_rows), 1)
    rows = [(label, panel[i * band_height:(i + 1) * band_height]) for i, label in enumerate(shared_rows)]
    rows += [(label, imread(str(strip))) for label, strip in strips.items()]
    width = panel.shape[1] / band_height
    fig, axes = _subplots(len(rows), 1, figsize=(1.3 * width + 1.6, 1.3 * len(rows)), squeeze=False)
    for ax, (label, picture) in zip(axes[:, 0], rows):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi=90)


def profiles(rho: dict[str, list[float]], taus: Sequence[float], path: Path) -> Path | None:
    """Performance profiles: rho(tau) of each optimizer (a step line), best score first in the legend."""
    if not rho:
        return None
    fig, ax = _subplots(figsize=(6.4, 4.0))
    colors = _colors(list(rho))
    for name, values in sorted(rho.items(), key=lambda item: -sum(item[1])):
        ax.step(taus, values, where="post", label=name, color=colors[name])
    ax.set_xlabel("tau (time to target / fastest)")
    ax.set_ylabel("fraction of workloads within tau")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def _relative(values, best: float, mode: str) -> np.ndarray:
    """``values`` as multiples of ``best`` (>= 1 = worse, for either direction of the metric)."""
    values = np.asarray(values, float)
    return values / best if mode == "min" else best / values


def tuning_costs(tuning: pd.DataFrame, modes: dict[str, str], path: Path, per_row: int = 3) -> Path | None:
    """One panel per workload: the expected best tuning score after k settings (k = 1 .. K) of each
    optimizer, relative to the best setting tried in that workload (1 = the best; log axis), with its
    task-defaults arm at k = 0 (a dot).

    Args:
        tuning: rows of ``summary.tuning_cost_table`` (workload, optimizer, k, expected best, defaults arm).
        modes: workload -> ``"min"`` or ``"max"``.
    """
    if tuning.empty:
        return None
    workloads = list(dict.fromkeys(tuning["workload"]))
    colors = _colors(sorted(set(tuning["optimizer"])))
    rows = -(-len(workloads) // per_row)
    fig, axes = _subplots(rows, min(per_row, len(workloads)), figsize=(4.2 * min(per_row, len(workloads)), 3.3 * rows),
                          squeeze=False)
    for ax, workload in zip(axes.flat, workloads):
        part = tuning[tuning["workload"] == workload]
        best = part["expected best"].min() if modes[workload] == "min" else part["expected best"].max()
        for name, curve in part.groupby("optimizer", sort=False):
            ax.plot(curve["k"], _relative(curve["expected best"], best, modes[workload]), color=colors[name],
                    label=name, lw=1.2)
            ax.plot([0], _relative([curve["defaults arm"].iloc[0]], best, modes[workload]), "o", color=colors[name],
                    ms=3)
        ax.set_yscale("log")
        ax.set_title(workload, fontsize=9)
        ax.set_xlabel("settings tried (0: defaults arm)", fontsize=8)
        ax.set_ylabel("relative to the best setting", fontsize=8)
    for ax in list(axes.flat)[len(workloads):]:
        ax.set_visible(False)
    seen = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(seen.values()), list(seen), fontsize=6, ncol=min(len(seen), 10), loc="lower center")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    return path
