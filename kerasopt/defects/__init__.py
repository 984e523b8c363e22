"""Defect segmentation workload: a U-Net (segmentation_models) on air-filter images.

Public API:

- `DefectsConfig`: every setting of one run (``from_dict`` / ``to_dict``).
- `run(config, run_dir) -> dict`: one optimizer run, written as a run record.
- `compare(configs, out_dir) -> {optimizer: run_dir}`: several optimizers, comparison.md + curves.png.
- `SUPPORTED_OPTIMIZERS`: registry names this task trains (all but lbfgs).
- `TARGET`: the metric a study optimises (``val_dice``, maximised).
- `kerasopt.defects.synth.generate(out_dir, n, size, seed, ...)`: synthetic data.

Importing this package does not import TensorFlow; `run` does on first use.
"""

from kerasopt.defects.config import TARGET, DefectsConfig

__all__ = ["DefectsConfig", "SUPPORTED_OPTIMIZERS", "TARGET", "compare", "run"]


def __getattr__(name):
    """``SUPPORTED_OPTIMIZERS``: every registry optimizer but lbfgs (loaded on first use)."""
    if name == "SUPPORTED_OPTIMIZERS":
        from kerasopt.defects.config import supported_optimizers

        return supported_optimizers()
    raise AttributeError(f"module 'kerasopt.defects' has no attribute {name!r}")


def run(config, run_dir, progress=False):
    """Train and evaluate one optimizer run; see `kerasopt.defects.train.run`."""
    from kerasopt.defects.train import run as _run

    return _run(config, run_dir, progress=progress)


def compare(configs, out_dir, log=print, progress=True):
    """Train several optimizers and compare them; see `kerasopt.defects.train.compare`."""
    from kerasopt.defects.train import compare as _compare

    return _compare(configs, out_dir, log=log, progress=progress)
