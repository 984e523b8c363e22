"""The fast-style-transfer task as a study sees it: `TASK`, declared from this package's constants."""

from kerasopt import optimizers
from kerasopt.faststyle.config import NAME, TARGET, FastStyleConfig
from kerasopt.faststyle.run import run
from kerasopt.faststyle.train import GRID_FILE, prepare
from kerasopt.task import Budget, Presentation, Task

METRIC = TARGET["metric"]

TASK = Task(
    NAME, FastStyleConfig, run, dict(TARGET), (METRIC,), tuple(optimizers.mini_batch()),
    budget=Budget("steps", "step"),
    collapse=[{"kind": "ended_above_start", "metric": METRIC},
              {"kind": "stuck", "metric": "loss", "share": 0.5, "rtol": 1e-4}],
    prepare=prepare,
    presentation=Presentation(
        title="Fast style transfer",
        comparison_metrics=(METRIC, "val_content_loss", "val_style_loss", "style_ratio", "loss", "steps",
                            "train_seconds"),
        curve_metrics=("loss", METRIC), log_metrics=("loss", METRIC), result_image=GRID_FILE,
        comparison_note="val_loss: perceptual loss on held-out validation photos (never trained on)."))
