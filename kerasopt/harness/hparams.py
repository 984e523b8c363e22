"""Each run's settings and final metrics on TensorBoard's HParams dashboard, so a study folder opens as one
sortable table of runs: ``tensorboard --logdir RECORDS`` (TensorBoard ships with TensorFlow, works offline)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from kerasopt.layout import ARTIFACTS

HPARAMS_DIR = Path(ARTIFACTS) / "tensorboard" / "hparams"  # inside the run directory


def flat_hparams(settings: dict, prefix: str = "") -> dict:
    """``settings`` as HParams values: nested mappings as ``outer.inner`` keys, booleans, numbers and strings
    kept, anything else (lists, None) as its text."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def final_scalars(summary: dict) -> dict[str, float]:
    """The finite numeric metrics of a run summary, plus its ``train_seconds`` and ``wall_seconds``."""
    values = {**summary.get("metrics", {}), "train_seconds": summary.get("train_seconds"),
              "wall_seconds": summary.get("wall_seconds")}
    return {key: float(value) for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def write_hparams(run_dir, settings: dict, summary: dict) -> Path | None:
    """Write the run's HParams summary (settings, status, final metrics at step 0) under `HPARAMS_DIR`.

    Returns the folder, or None when TensorBoard is not installed or writing failed (one line on stderr:
    the run record is already complete, and the dashboard is a view of it).
    """
    try:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp
    except ImportError:
        return None
    folder = Path(run_dir) / HPARAMS_DIR
    try:
        with tf.summary.create_file_writer(str(folder)).as_default():
            hp.hparams({**flat_hparams(settings), "status": summary.get("status", "")}, trial_id=Path(run_dir).name)
            for name, value in final_scalars(summary).items():
                tf.summary.scalar(name, value, step=0)
        return folder
    except Exception as exc:  # noqa: BLE001 (a view of a finished record must not fail the run)
        print(f"warning: HParams summary of {run_dir} not written: {exc}", file=sys.stderr)
        return None
