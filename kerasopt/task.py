"""The task interface: what a study needs to know about a workload, declared once per task (`Task`).

A `Task` names its config class (a `kerasopt.config.TaskConfig`), its ``run``
function, the metric a study selects on (validation), the metrics it reports as
the answer (test metrics where the task has a test split), which optimizers it
supports, how its budget is counted, what a collapsed run is, and what its
report shows. This module imports nothing of kerasopt: the table of tasks
(`kerasopt.tasks`) and your own model (`kerasopt.keras_task`) both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
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
        budget: ``(setting, history column)`` of the task's training length, e.g.
            ``("evaluations", "evaluations")``: a study with several ``budgets`` runs every run to
            the largest and reads the selection metric at each smaller budget from the history
            column (None: the task cannot be read at intermediate budgets).
        collapse: the rule (or list of rules, any of which) that makes a completed run ``collapsed``
            (`kerasopt.records.collapse_reason`): never selected, never averaged, counted as a failure;
            None: no rule.
        budget_images: ``(setting, file pattern)``: the setting a study with budgets sets to the
            budgets below the largest, so each run keeps its result image at each of them, and the
            artifact name of that image (``"at_{budget}_evaluations.png"``); None: no such images.
        seeds_matter: settings -> None, or why several seeds give the same run
            (e.g. style from the content image is deterministic).
        title: the task in headings ("Style transfer").
        comparison_metrics: summary metrics in a comparison table (after the headline).
        curve_metrics: history columns drawn in a comparison's curves.
        log_metrics: the curve metrics drawn on a log scale.
        result_image: the artifact file shown side by side in a comparison (None: none).
        shared_image: an artifact every run writes identically (defects: the test images above their
            true masks) that a report shows once above the runs' ``result_image`` strips; None: the
            result images are shown side by side, one per optimizer and arm.
        shared_rows: the labels of the ``shared_image``'s equal horizontal bands, top first.
        panel_title: the title of that panel.
        comparison_note: a sentence under the comparison table explaining its columns.
        prepare: ``prepare(config)`` before a comparison's first run: loads and checks the inputs
            shared by every run (images, weights, data) so bad input fails before any output.
    """

    name: str
    config_cls: type
    run: Callable
    target: dict
    headline: tuple
    supported: tuple
    excluded: dict = field(default_factory=dict)
    budget_key: str | None = None
    budget: tuple | None = None
    budget_images: tuple | None = None
    collapse: dict | list | None = None
    seeds_matter: Callable[[dict], str | None] = lambda settings: None
    title: str = ""
    comparison_metrics: tuple = ()
    curve_metrics: tuple = ("loss",)
    log_metrics: tuple = ("loss",)
    result_image: str | None = None
    shared_image: str | None = None
    shared_rows: tuple = ()
    panel_title: str = ""
    comparison_note: str = ""
    prepare: Callable | None = None

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
                "budget_key": self.budget_key, "excluded": dict(self.excluded), "result_image": self.result_image,
                **({"shared_image": self.shared_image, "shared_rows": list(self.shared_rows),
                    "panel_title": self.panel_title} if self.shared_image else {}),
                **({"budget": list(self.budget)} if self.budget else {}),
                **({"budget_image": self.budget_images[1]} if self.budget_images else {}),
                **({"collapse": self.collapse} if self.collapse else {})}
