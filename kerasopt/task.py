"""The task interface: what a study needs to know about a workload (`Task`), split into what the task
is (its settings, run, target, optimizers, `Budget` and collapse rule) and how it is shown
(`Presentation`: headings, table columns, curves and images of comparisons and reports).

This module imports nothing of kerasopt: the table of tasks (`kerasopt.tasks`) and your own model
(`kerasopt.keras_task`) both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Budget:
    """How a run's training length is set, and how a study with several budgets reads it.

    Attributes:
        setting: the setting that sets a run's length (``"evaluations"``, ``"steps"``, ``"epochs"``).
        column: the history column counting it: a study with several ``budgets`` runs every run to the
            largest and reads each smaller budget there (None: a run cannot be read at a smaller budget).
        required: a study must set ``setting`` and nothing else (full-batch tasks: loss-and-gradient
            evaluations, so L-BFGS's line search cannot buy extra gradients).
        snapshot_setting: the setting a study with budgets sets to its smaller budgets, so each run keeps
            its result image at each of them (None: no such images).
        snapshot_file: that image's artifact name, with ``{budget}`` (``"at_{budget}_evaluations.png"``).
    """

    setting: str
    column: str | None = None
    required: bool = False
    snapshot_setting: str | None = None
    snapshot_file: str | None = None


@dataclass(frozen=True)
class Presentation:
    """How a task's runs are shown in comparisons and reports (never what decides a result).

    Attributes:
        title: the task in headings (``"Style transfer"``).
        comparison_metrics: summary metrics in a comparison table (after the optimizer and status).
        curve_metrics: history columns drawn in a comparison's curves.
        log_metrics: the curve metrics drawn on a log scale.
        result_image: the artifact every run writes that comparisons and reports show (None: none).
        shared_image: an artifact every run writes identically (defects: the test images above their
            true masks), shown once above the runs' ``result_image`` strips; None: the result images are
            shown side by side, one per optimizer and arm.
        shared_rows: the labels of the ``shared_image``'s equal horizontal bands, top first.
        panel_title: the title of that panel.
        comparison_note: a sentence under the comparison table explaining its columns.
    """

    title: str = ""
    comparison_metrics: tuple = ()
    curve_metrics: tuple = ("loss",)
    log_metrics: tuple = ("loss",)
    result_image: str | None = None
    shared_image: str | None = None
    shared_rows: tuple = ()
    panel_title: str = ""
    comparison_note: str = ""


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
        budget: how a run's length is set and read (`Budget`); None: a study cannot use ``budgets``.
        collapse: the rule (or list of rules, any of which) that makes a completed run ``collapsed``
            (`kerasopt.records.collapse_reason`): never selected, never averaged, counted as a failure;
            None: no rule.
        seeds_matter: settings -> None, or why several seeds give the same run
            (e.g. style from the content image is deterministic).
        prepare: ``prepare(config)`` before a comparison's first run: loads and checks the inputs
            shared by every run (images, weights, data) so bad input fails before any output.
        presentation: how comparisons and reports show the runs (`Presentation`).
    """

    name: str
    config_cls: type
    run: Callable
    target: dict
    headline: tuple
    supported: tuple
    excluded: dict = field(default_factory=dict)
    budget: Budget | None = None
    collapse: dict | list | None = None
    seeds_matter: Callable[[dict], str | None] = lambda settings: None
    prepare: Callable | None = None
    presentation: Presentation = Presentation()

    def resolve(self, settings: dict) -> dict:
        """Settings -> the resolved, fully validated settings (ValueError on bad ones)."""
        return self.config_cls.from_dict(settings).to_dict()

    def task_hparams(self, settings: dict) -> dict:
        """kerasopt's default hyperparameters of ``settings["optimizer"]`` for these settings."""
        return self.config_cls.from_dict(settings).task_hparams()

    def preflight(self, settings: dict) -> None:
        """Checks a study makes once before it writes anything (user tasks: model and data); ValueError."""

    def describe(self) -> dict:
        """What ``study.json`` records about the task (its keys are a record format: unchanged since the
        first publication, so published studies keep their files)."""
        shown, budget = self.presentation, self.budget
        return {"name": self.name, "target": dict(self.target), "headline": list(self.headline),
                "budget_key": budget.setting if budget and budget.required else None,
                "excluded": dict(self.excluded), "result_image": shown.result_image,
                **({"shared_image": shown.shared_image, "shared_rows": list(shown.shared_rows),
                    "panel_title": shown.panel_title} if shown.shared_image else {}),
                **({"budget": [budget.setting, budget.column]} if budget and budget.column else {}),
                **({"budget_image": budget.snapshot_file} if budget and budget.snapshot_file else {}),
                **({"collapse": self.collapse} if self.collapse else {})}
