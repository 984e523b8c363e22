"""kerasopt: fair optimizer comparisons for image models in Keras 3 / TensorFlow.

Subpackages (imported on demand; importing ``kerasopt`` itself loads nothing heavy):

- `kerasopt.optimizers`: the registry (every Keras optimizer + Rprop + L-BFGS).
- `kerasopt.records`: run records (config.json, history.csv, summary.json).
- `kerasopt.style`: Gatys style transfer, the full-batch workload.
- `kerasopt.defects`: U-Net defect segmentation, the mini-batch workload.
- `kerasopt.study` / `kerasopt.report`: multi-seed studies and their reports.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("kerasopt")
except _metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
