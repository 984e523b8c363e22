"""Defect segmentation workload: a U-Net (segmentation_models) on air-filter images.

Public API:

- `DefectsConfig`: every setting of one run (``from_dict`` / ``to_dict``).
- `run(config, run_dir) -> dict`: one optimizer run, written as a run record.
- `TARGET`: the metric a study optimises (``val_dice``, maximised).
- `kerasopt.defects.synth.generate(out_dir, n, size, seed, ...)`: synthetic data.

Importing this package does not import TensorFlow; `run` does on first use.
"""

from kerasopt.defects.config import TARGET, DefectsConfig

__all__ = ["DefectsConfig", "TARGET", "run"]


def run(config, run_dir, progress=False):
    """Train and evaluate one optimizer run; see `kerasopt.defects.train.run`."""
    from kerasopt.defects.train import run as _run

    return _run(config, run_dir, progress=progress)
