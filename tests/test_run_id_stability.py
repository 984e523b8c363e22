"""Run ids of the built-in tasks must never change (a running study resumes by them).

The expected values were computed with the code before the one-shape refactor
(issue 19); a change to a task name, a config field (name, default, order, type)
or the resolved dict breaks them.
"""

from kerasopt import tasks
from kerasopt.study.expand import run_id

DEFECTS = {"optimizer": "adam", "hparams": {"learning_rate": 0.001}, "seed": 1, "size": 128, "epochs": 6,
           "batch_size": 8, "data": "data/defects_synth", "synthetic": True}
# (the id hashes the settings with sorted keys; ``deterministic`` moved up when every task got it)
DEFECTS_KEYS = ["optimizer", "hparams", "seed", "hparam_defaults", "deterministic", "data", "synthetic", "synthetic_n",
                "synthetic_size", "synthetic_seed", "backbone", "encoder_weights", "size", "epochs", "batch_size",
                "dice_weight", "focal_weight", "augment", "split_seed", "val_fraction", "test_fraction", "precision",
                "jit", "strategy", "overlays", "bn_recalibration", "bn_batches"]
STYLE = {"optimizer": "lbfgs", "seed": 0, "size": 64, "evaluations": 50, "iterations": None}
STYLE_KEYS = ["optimizer", "hparams", "seed", "hparam_defaults", "content", "style", "size", "iterations",
              "evaluations", "init", "network", "weights", "content_weight", "style_weight", "tv_weight",
              "snapshot_every"]


def test_defects_run_id_is_unchanged():
    resolved = tasks.get("defects").resolve(DEFECTS)
    assert list(resolved) == DEFECTS_KEYS
    assert run_id("defects", resolved) == "118c29293e2f"


def test_style_run_id_is_unchanged():
    resolved = tasks.get("style").resolve(STYLE)
    assert list(resolved) == STYLE_KEYS
    assert run_id("style", resolved) == "dea37188c684"


def test_faststyle_run_id_is_unchanged():
    assert run_id("faststyle", tasks.get("faststyle").resolve({"optimizer": "adam", "seed": 2})) == "283436726684"
