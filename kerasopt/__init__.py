"""kerasopt: fair optimizer comparisons for image models in Keras 3 / TensorFlow.

Subpackages (imported on demand; importing ``kerasopt`` itself loads nothing heavy):

- `kerasopt.optimizers`: the registry (every Keras optimizer + Rprop, Muon, Schedule-Free and the
  full-batch L-BFGS / Hessian-free drivers).
- `kerasopt.records`: run records (config.json, history.csv, summary.json).
- `kerasopt.style`, `kerasopt.defects`, `kerasopt.faststyle`: the built-in tasks (`kerasopt.tasks`).
- `kerasopt.KerasTask`: your own Keras model and data as a task (`kerasopt.keras_task`).
- `kerasopt.study` / `kerasopt.report`: multi-seed studies and their reports.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("kerasopt")
except _metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["KerasTask", "__version__"]


def __getattr__(name):
    """``kerasopt.KerasTask`` (imports Keras on first use)."""
    if name == "KerasTask":
        from kerasopt.keras_task import KerasTask

        return KerasTask
    raise AttributeError(f"module 'kerasopt' has no attribute {name!r}")
