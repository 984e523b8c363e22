"""Fast style transfer (Johnson, Alahi & Fei-Fei 2016): a feed-forward network trained on photos
with the perceptual (Gatys) loss of `kerasopt.style`, under each optimizer.

Public API (the same names in every task package):

- `FastStyleConfig`: every setting of one run (``from_dict``, ``to_dict``, ``validate``).
- `run(config, run_dir, progress=False) -> dict`: one training run, written as a run record
  (history.csv, summary.json, artifacts/model.keras, artifacts/grid.png).
- `compare(configs, out_dir, log=print, progress=True) -> {optimizer: run_dir}`: several
  optimizers from identical initial weights and batches, plus comparison.md, curves.png and comparison.png.
- `TASK` (`kerasopt.tasks.Task`); `TARGET`: the study metric, ``{"metric": "val_loss", "mode": "min"}``;
  `SUPPORTED_OPTIMIZERS` / `supported_optimizers()`: every mini-batch optimizer (no full-batch driver).

Importing this package changes no global state (only ``python -m kerasopt.faststyle`` quiets TensorFlow's
start-up log: `kerasopt.cli.quiet_if_entry_point`);
it imports TensorFlow and registers the network's custom layers, so
``keras.models.load_model("RUN/artifacts/model.keras")`` works after ``import kerasopt.faststyle``.
CLI: ``python -m kerasopt.faststyle train|stylize`` (see ``--help`` and docs/faststyle.md).
"""

from kerasopt.cli import quiet_if_entry_point

quiet_if_entry_point()  # ``python -m kerasopt.faststyle`` imports this package before its __main__: quiet TensorFlow first

from kerasopt import comparison  # noqa: E402
from kerasopt.faststyle import model  # noqa: E402, F401  (registers the custom layers of saved networks)
from kerasopt.faststyle.config import TARGET, FastStyleConfig  # noqa: E402
from kerasopt.faststyle.task import TASK  # noqa: E402
from kerasopt.faststyle.run import run  # noqa: E402

__all__ = ["FastStyleConfig", "SUPPORTED_OPTIMIZERS", "TARGET", "TASK", "compare", "run", "supported_optimizers"]

SUPPORTED_OPTIMIZERS = list(TASK.supported)
compare = comparison.for_task(TASK)


def supported_optimizers() -> list[str]:
    """`SUPPORTED_OPTIMIZERS` as a function (notebooks/fast_style.ipynb calls it)."""
    return list(SUPPORTED_OPTIMIZERS)
