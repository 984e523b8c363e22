"""``run``: one defect-segmentation run, from settings to a run record, through the training harness
(`kerasopt.harness`; training: `kerasopt.defects.train`)."""

from __future__ import annotations

from pathlib import Path

from kerasopt.defects.config import NAME, DefectsConfig
from kerasopt.defects.data import Splits, load_splits, steps_per_epoch
from kerasopt.defects.model import check_memory
from kerasopt.defects.train import prepare_data, train_and_evaluate
from kerasopt.harness import Workload, execute


def _prepare(config: DefectsConfig) -> Splits:
    """Memory, the data (generated when synthetic and missing) and its split: checked before any record."""
    check_memory(config.size, config.batch_size)
    prepare_data(config)
    splits = load_splits(config.data, config.split_seed, config.val_fraction, config.test_fraction)
    check_memory(config.size, config.batch_size, images=sum(len(splits[n]) for n in ("train", "val", "test")))
    return splits


def _describe(config: DefectsConfig, splits: Splits) -> dict:
    return {"data_layout": splits.layout, "split_sizes": {n: len(splits[n]) for n in ("train", "val", "test")},
            **config.schedule_record(config.epochs * steps_per_epoch(len(splits.train), config.batch_size))}


WORKLOAD = Workload(NAME, DefectsConfig, _prepare, _describe, train_and_evaluate, resumable=True, fresh_session=True)


def run(config: DefectsConfig | dict, run_dir: str | Path, progress: bool = False, callbacks=()) -> dict:
    """Train one optimizer on the defect data and write its run record into ``run_dir``.

    A run killed mid-training continues from its last completed epoch when started again with the same
    settings in the same ``run_dir``.

    Args:
        config: a `DefectsConfig` (or a dict for `DefectsConfig.from_dict`).
        run_dir: run directory (created).
        progress: print one line per epoch.
        callbacks: extra Keras callbacks for ``fit`` (they run after validation's BN recalibration and
            the best-weights selection; e.g. benchmarks that evaluate the test split every epoch).

    Returns:
        The summary dict (``status`` completed|diverged|failed, ``metrics`` with
        ``val_dice`` (best epoch), ``test_dice``, ``test_iou``, ``test_precision``,
        ``test_recall``, ``image_ap``, ``image_auroc`` and more).

    Raises:
        ValueError, FileNotFoundError: bad settings or data, before anything is written.
    """
    return execute(WORKLOAD, config, run_dir, progress, callbacks=list(callbacks))
