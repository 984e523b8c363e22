"""Gatys style transfer: the pixels of an image are optimized so that its VGG
features match a content photo and the Gram matrices of a style image.

Public API (the same names in every task package):

- `StyleConfig`: every setting of one run (``from_dict``, ``to_dict``, ``validate``).
- `run(config, run_dir, progress=False) -> dict`: one optimizer run, writes a run record.
- `compare(configs, out_dir) -> {optimizer: run_dir}`: several optimizers from one start image,
  plus comparison.png, curves.png and comparison.md.
- `TASK` (`kerasopt.tasks.Task`); `TARGET`: the metric a study selects on, ``{"metric": "loss",
  "mode": "min"}``; `SUPPORTED_OPTIMIZERS`: every optimizer but muon.
- `prepare(config)`: load and check the images and weights of ``config`` (cached).
- `PIXEL_LEARNING_RATES`: per-optimizer default learning rates for pixels in [0, 255].

Importing this package changes no global state (only ``python -m kerasopt.style`` quiets TensorFlow's
start-up log: `kerasopt.cli.quiet_if_entry_point`);
it imports TensorFlow (the style task saves no Keras models). CLI: ``python -m kerasopt.style --optimizer lbfgs`` (see
``--help`` and docs/style.md).
"""

from kerasopt.cli import quiet_if_entry_point

quiet_if_entry_point()  # ``python -m kerasopt.style`` imports this package before its __main__: quiet TensorFlow first

from kerasopt import comparison  # noqa: E402
from kerasopt.style.config import PIXEL_LEARNING_RATES, TARGET, StyleConfig  # noqa: E402
from kerasopt.style.task import TASK  # noqa: E402
from kerasopt.style.run import run  # noqa: E402
from kerasopt.style.workload import prepare  # noqa: E402

__all__ = ["PIXEL_LEARNING_RATES", "StyleConfig", "SUPPORTED_OPTIMIZERS", "TARGET", "TASK", "compare", "prepare",
           "run"]

SUPPORTED_OPTIMIZERS = list(TASK.supported)
compare = comparison.for_task(TASK)
