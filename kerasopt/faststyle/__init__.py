"""Fast style transfer (Johnson, Alahi & Fei-Fei 2016): a feed-forward network trained on photos
with the perceptual (Gatys) loss of `kerasopt.style`, under each optimizer.

Public API (imported lazily, so ``import kerasopt.faststyle`` does not load TensorFlow):

- `FastStyleConfig`: every setting of one run (``from_dict``, ``to_dict``, ``validate``).
- `run(config, run_dir, progress=False) -> dict`: one training run, written as a run record
  (history.csv, summary.json, artifacts/model.keras, artifacts/grid.png).
- `compare(configs, out_dir, log=print, progress=True) -> {optimizer: run_dir}`: several
  optimizers from identical initial weights and batches, plus comparison.md and curves.png.
- `TARGET`: the study metric, ``{"metric": "val_loss", "mode": "min"}``.
- `supported_optimizers()` / `SUPPORTED_OPTIMIZERS`: every registry optimizer but ``lbfgs``.

CLI: ``python -m kerasopt.faststyle train|stylize`` (see ``--help`` and docs/faststyle.md).
"""

from kerasopt.faststyle.config import TARGET, FastStyleConfig, supported_optimizers

__all__ = ["FastStyleConfig", "SUPPORTED_OPTIMIZERS", "TARGET", "compare", "run", "supported_optimizers"]


def __getattr__(name):
    """``SUPPORTED_OPTIMIZERS``: every registry optimizer but lbfgs (loaded on first use)."""
    if name == "SUPPORTED_OPTIMIZERS":
        return supported_optimizers()
    raise AttributeError(f"module 'kerasopt.faststyle' has no attribute {name!r}")


def run(config, run_dir, progress=False):
    """Train one transformation network; see `kerasopt.faststyle.train.run`."""
    from kerasopt.faststyle.train import run as _run

    return _run(config, run_dir, progress=progress)


def compare(configs, out_dir, log=print, progress=True):
    """Train several optimizers and compare them; see `kerasopt.faststyle.train.compare`."""
    from kerasopt.faststyle.train import compare as _compare

    return _compare(configs, out_dir, log=log, progress=progress)
