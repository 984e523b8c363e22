"""``run``: one defect-segmentation run, from settings to a run record (training: `kerasopt.defects.train`)."""

from __future__ import annotations

import time
from pathlib import Path

from kerasopt.defects.config import NAME, DefectsConfig
from kerasopt.defects.data import load_splits, steps_per_epoch
from kerasopt.defects.model import check_memory
from kerasopt.defects.resume import ResumableRecord, resume_point
from kerasopt.defects.train import prepare_data, train_and_evaluate
from kerasopt.seeding import fix_threads


def run(config: DefectsConfig | dict, run_dir: str | Path, progress: bool = False, callbacks=()) -> dict:
    """Train one optimizer on the defect data and write its run record into ``run_dir``.

    Args:
        config: a `DefectsConfig` (or a dict for `DefectsConfig.from_dict`).
        run_dir: run directory (created).
        progress: print one line per epoch.
        callbacks: extra Keras callbacks for ``fit`` (they run after validation's BN recalibration and
            the checkpoint; e.g. benchmarks that evaluate the test split every epoch).

    Returns:
        The summary dict (``status`` completed|diverged|failed, ``metrics`` with
        ``val_dice`` (best epoch), ``test_dice``, ``test_iou``, ``test_precision``,
        ``test_recall``, ``image_ap``, ``image_auroc`` and more).

    Raises:
        ValueError, FileNotFoundError: bad settings or data, before anything is written.
    """
    started = time.perf_counter()
    config = DefectsConfig.from_dict(config) if isinstance(config, dict) else config
    config.validate()
    fix_threads(config.threads)
    check_memory(config.size, config.batch_size)
    prepare_data(config)
    splits = load_splits(config.data, config.split_seed, config.val_fraction, config.test_fraction)
    check_memory(config.size, config.batch_size, images=sum(len(splits[n]) for n in ("train", "val", "test")))
    settings = {**config.to_dict(), "task": NAME,
                "resolved_hparams": config.resolved_hparams(),
                "data_layout": splits.layout, "split_sizes": {n: len(splits[n]) for n in ("train", "val", "test")},
                **config.schedule_record(config.epochs * steps_per_epoch(len(splits.train), config.batch_size))}
    resume = resume_point(run_dir, settings)
    if resume is not None and progress:
        print(f"  resuming {run_dir} after epoch {resume.epoch}", flush=True)
    with ResumableRecord(run_dir, settings, seed=config.seed, deterministic=config.deterministic,
                         resume=resume, started=started) as record:
        return train_and_evaluate(config, splits, record, progress, list(callbacks))
    return record.summary
