"""``run``: one fast-style training run, from settings to a run record, through the training harness
(`kerasopt.harness`; training: `kerasopt.faststyle.train`)."""

from __future__ import annotations

from kerasopt.faststyle.config import NAME, FastStyleConfig
from kerasopt.faststyle.train import Problem, prepare, train
from kerasopt.harness import Workload, execute


def _describe(config: FastStyleConfig, problem: Problem) -> dict:
    return {**problem.describe(), **config.schedule_record(config.steps)}


WORKLOAD = Workload(NAME, FastStyleConfig, prepare, _describe, train, resumable=True)


def run(config: FastStyleConfig | dict, run_dir, progress: bool = False) -> dict:
    """Train one transformation network and write its run record into ``run_dir``.

    Args:
        config: a `FastStyleConfig` (or a dict for `FastStyleConfig.from_dict`).
        run_dir: run directory (created).
        progress: print a line at every validation.

    Returns:
        The summary dict. ``metrics``: ``val_loss`` (final network on the held-out
        photos; the study metric, lower is better), ``val_content_loss``,
        ``val_style_loss``, ``val_tv_loss``, ``photo_style_loss`` (style loss of the
        unstylized held-out photos), ``style_ratio`` (val_style_loss /
        photo_style_loss), ``best_val_loss``, ``initial_val_loss``, ``loss`` (last
        training window), ``steps``, ``evaluations``, ``train_seconds``. Status
        ``diverged`` (val_loss None) when a training loss is not finite.

    Raises:
        ValueError / FileNotFoundError: bad settings or inputs, before anything is written.
    """
    return execute(WORKLOAD, config, run_dir, progress)
