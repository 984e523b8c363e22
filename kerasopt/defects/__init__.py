"""Defect segmentation workload: a U-Net (segmentation_models) on air-filter images.

Public API (the same names in every task package):

- `DefectsConfig`: every setting of one run (``from_dict`` / ``to_dict``).
- `run(config, run_dir, progress=False) -> dict`: one optimizer run, written as a run record.
- `compare(configs, out_dir) -> {optimizer: run_dir}`: several optimizers, comparison.md + curves.png
  + comparison.png (the runs' ``test_predictions.png``).
- `TASK`: the task as a study sees it (`kerasopt.tasks.Task`); `TARGET`: the metric a study
  optimises (``val_dice``, maximised); `SUPPORTED_OPTIMIZERS`: every mini-batch optimizer.
- `kerasopt.defects.synth.generate(out_dir, n, size, seed, ...)`: synthetic data.

Importing this package changes no global state (only ``python -m kerasopt.defects`` quiets TensorFlow's
start-up log: `kerasopt.cli.quiet_if_entry_point`);
it imports TensorFlow and registers every Keras object a saved defect model uses (its loss, metric and kerasopt's
optimizers), so ``keras.models.load_model("RUN/artifacts/best.keras")`` works after ``import
kerasopt.defects``.
"""

from kerasopt.cli import quiet_if_entry_point

quiet_if_entry_point()  # ``python -m kerasopt.defects`` imports this package before its __main__: quiet TensorFlow first

from kerasopt import comparison  # noqa: E402
from kerasopt.defects import saving  # noqa: E402, F401  (registers the loss, metric and optimizers)
from kerasopt.defects.config import TARGET, DefectsConfig  # noqa: E402
from kerasopt.defects.task import TASK  # noqa: E402
from kerasopt.defects.run import run  # noqa: E402

__all__ = ["DefectsConfig", "SUPPORTED_OPTIMIZERS", "TARGET", "TASK", "compare", "run"]

SUPPORTED_OPTIMIZERS = list(TASK.supported)
compare = comparison.for_task(TASK)
