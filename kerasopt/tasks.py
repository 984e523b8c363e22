"""The task interface: what a study needs to know about a workload, declared once per task.

A `Task` names its config class (a `kerasopt.config.TaskConfig`), its ``run``
function, the metric a study selects on (validation), the metrics it reports as
the answer (test metrics where the task has a test split), which optimizers it
supports, and how its budget is counted. `TASKS` is an explicit table; `get`
builds a task on first use, so importing this module does not import TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Task:
    """One workload as a study sees it (in the spirit of AlgoPerf's ``Workload``).

    Attributes:
        name: task name used in study files (``task: style``).
        config_cls: the `TaskConfig` subclass of one run's settings.
        run: ``run(config, run_dir, progress=False) -> summary dict`` (writes a run record).
        target: ``{"metric", "mode"}``: the metric tuning selects on (``"min"``/``"max"``).
        headline: the metrics the report answers with, first = main; same direction as
            ``target``. Defects: test metrics of the validation-chosen checkpoint.
        supported: the optimizers this task can run (what ``optimizers: all`` means).
        excluded: optimizers left out of ``all`` with a one-line reason each.
        budget_key: the setting a study must budget with (``"evaluations"`` for
            full-batch tasks, so L-BFGS's line search cannot buy extra gradients).
        seeds_matter: settings -> None, or why several seeds give the same run
            (e.g. style from the content image is deterministic).
        title: the task in headings ("Style transfer").
        comparison_metrics: summary metrics in a comparison table (after the headline).
        curve_metrics: history columns drawn in a comparison's curves.
        log_metrics: the curve metrics drawn on a log scale.
        result_image: the artifact file shown side by side in a comparison (None: none).
        comparison_note: a sentence under the comparison table explaining its columns.
    """

    name: str
    config_cls: type
    run: Callable
    target: dict
    headline: tuple
    supported: tuple
    excluded: dict = field(default_factory=dict)
    budget_key: str | None = None
    seeds_matter: Callable[[dict], str | None] = lambda settings: None
    title: str = ""
    comparison_metrics: tuple = ()
    curve_metrics: tuple = ("loss",)
    log_metrics: tuple = ("loss",)
    result_image: str | None = None
    comparison_note: str = ""

    def resolve(self, settings: dict) -> dict:
        """Settings -> the resolved, fully validated settings (ValueError on bad ones)."""
        return self.config_cls.from_dict(settings).to_dict()

    def task_hparams(self, settings: dict) -> dict:
        """kerasopt's default hyperparameters of ``settings["optimizer"]`` for these settings."""
        return self.config_cls.from_dict(settings).task_hparams()

    def preflight(self, settings: dict) -> None:
        """Checks a study makes once before it writes anything (user tasks: model and data); ValueError."""

    def describe(self) -> dict:
        """What ``study.json`` records about the task."""
        return {"name": self.name, "target": dict(self.target), "headline": list(self.headline),
                "budget_key": self.budget_key, "excluded": dict(self.excluded)}


def _style() -> Task:
    from kerasopt import optimizers
    from kerasopt.optimizers.muon import PIXEL_PROBLEM_REASON
    from kerasopt.style.config import StyleConfig
    from kerasopt.style.workload import run

    def deterministic(settings: dict) -> str | None:
        if settings.get("init", StyleConfig.init) == "content":
            return "init: content starts every seed from the same image and the loss is deterministic"
        return None

    excluded = {"muon": PIXEL_PROBLEM_REASON}
    return Task("style", StyleConfig, run, {"metric": "loss", "mode": "min"}, ("loss",),
                tuple(name for name in optimizers.available() if name not in excluded), excluded,
                budget_key="evaluations", seeds_matter=deterministic, title="Style transfer",
                comparison_metrics=("loss", "content_loss", "style_loss", "tv_loss", "iterations", "evaluations",
                                    "seconds"),
                result_image="result.png",
                comparison_note="Seconds exclude tracing; peak_rss_mb is the process peak RSS sampled during each "
                                "run (runs share one process, so it is cumulative).")


def _defects() -> Task:
    from kerasopt.defects.config import DefectsConfig, supported_optimizers
    from kerasopt.defects.train import run

    headline = ("test_dice", "test_dice_at_best", "test_iou", "test_precision", "test_recall")
    return Task("defects", DefectsConfig, run, {"metric": "val_dice", "mode": "max"}, headline,
                tuple(supported_optimizers()), title="Defect segmentation",
                comparison_metrics=(*headline, "val_dice", "image_ap", "image_auroc", "epochs", "steps",
                                    "train_seconds"),
                curve_metrics=("val_dice", "val_loss"), log_metrics=("val_loss",),
                comparison_note="val_dice: validation Dice of the selected (best-validation) checkpoint, used only "
                                "for selection. test_*: test split at 0.5; test_dice_at_best: at the threshold best "
                                "on validation. image_ap / image_auroc: image-level, score = max probability. "
                                "train_seconds excludes validation and the first step's tracing (trace_seconds).")


def _faststyle() -> Task:
    from kerasopt.faststyle import FastStyleConfig, TARGET, run, supported_optimizers

    return Task("faststyle", FastStyleConfig, run, dict(TARGET), (TARGET["metric"],), tuple(supported_optimizers()),
                title="Fast style transfer",
                comparison_metrics=(TARGET["metric"], "val_content_loss", "val_style_loss", "style_ratio", "loss",
                                    "steps", "train_seconds"),
                curve_metrics=("loss", TARGET["metric"]), log_metrics=("loss", TARGET["metric"]),
                result_image="grid.png",
                comparison_note="val_loss: perceptual loss on held-out validation photos (never trained on).")


TASKS: dict[str, Callable[[], Task]] = {"style": _style, "defects": _defects, "faststyle": _faststyle}
_BUILT: dict[str, Task] = {}
REFERENCE_HELP = "a built-in task ({names}), path/to/file.py:NAME or package.module:NAME (a kerasopt.KerasTask)"


def get(name: str, base_dir: str | Path | None = None) -> Task:
    """The `Task` called ``name``: a built-in task, or a user task by import path.

    Args:
        name: ``"defects"``; ``"path/to/file.py:TASK"`` (relative paths: to ``base_dir``, e.g. the
            study file's folder, then the working directory); or ``"package.module:TASK"``.
        base_dir: where relative file paths are looked up first.

    Raises:
        ValueError: one line: unknown name, a path that does not import, or names nothing / no task.
    """
    name = str(name).strip()
    if name in _BUILT:
        return _BUILT[name]
    if name in TASKS:
        _BUILT[name] = TASKS[name]()
        return _BUILT[name]
    if ":" not in name:
        raise ValueError(f"unknown task {name!r}. Valid: {REFERENCE_HELP.format(names=', '.join(TASKS))}")
    from kerasopt import user_tasks

    return user_tasks.load(name, base_dir, _BUILT)


def register(task: Task) -> Task:
    """Make ``task`` findable by `get` under ``task.name`` in this process (the Python API of studies)."""
    if task.name in TASKS:
        raise ValueError(f"task name {task.name!r} is a built-in task; give your task another name")
    _BUILT[task.name] = task
    return task
