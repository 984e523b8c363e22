"""The defect-segmentation task as a study sees it: `TASK`, declared from this package's constants."""

from kerasopt import optimizers
from kerasopt.defects.config import NAME, TARGET, DefectsConfig
from kerasopt.defects.run import run
from kerasopt.defects.train import INPUTS, PREDICTIONS, prepare_data
from kerasopt.task import Budget, Presentation, Task

HEADLINE = ("test_dice", "test_dice_at_best", "test_iou", "test_precision", "test_recall")

TASK = Task(
    NAME, DefectsConfig, run, dict(TARGET), HEADLINE, tuple(optimizers.mini_batch()), budget=Budget("epochs"),
    collapse={"kind": "fell_to", "metric": "val_dice", "at_most": 0.02, "after_at_least": 0.1},
    prepare=prepare_data,
    presentation=Presentation(
        title="Defect segmentation",
        comparison_metrics=(*HEADLINE, "val_dice", "image_ap", "image_auroc", "epochs", "steps", "train_seconds"),
        curve_metrics=("val_dice", "val_loss"), log_metrics=("val_loss",), result_image=PREDICTIONS,
        shared_image=INPUTS, shared_rows=("test images", "true masks"),
        panel_title="Predicted defect masks (p >= 0.5) of the same test images, best optimizer first",
        comparison_note="val_dice: validation Dice of the selected (best-validation) checkpoint, used only for "
                        "selection. test_*: test split at 0.5; test_dice_at_best: at the threshold best on "
                        "validation. image_ap / image_auroc: image-level, score = max probability. train_seconds "
                        "excludes validation and the first step's tracing (trace_seconds)."))
