"""``run``: one fast-style training run, from settings to a run record (training: `kerasopt.faststyle.train`)."""

from __future__ import annotations

import time

from kerasopt.faststyle.config import NAME, FastStyleConfig
from kerasopt.faststyle.train import prepare, train
from kerasopt.records import RunRecord
from kerasopt.seeding import fix_threads


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
    started = time.perf_counter()
    config = FastStyleConfig.from_dict(config) if isinstance(config, dict) else config
    config.validate()
    fix_threads(config.threads)
    problem = prepare(config)
    settings = {**config.to_dict(), "task": NAME, "resolved_hparams": config.resolved_hparams(),
                **problem.describe(), **config.schedule_record(config.steps)}
    with RunRecord(run_dir, settings, seed=config.seed, started=started) as record:
        return train(config, problem, record, progress)
    return record.summary  # reached only when the record swallowed an exception (status failed)
