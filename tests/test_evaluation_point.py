"""The optimizer owns its evaluation point (`kerasopt.optimizers.evaluation`): every training loop
validates, selects, tests and saves there. Shown with Schedule-Free (x differs from y) on your own
model (`KerasTask`) and on fast style, each against the same run with the hooks switched off (y)."""

import inspect
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasopt
from kerasopt import records
from kerasopt.optimizers import evaluation
from kerasopt.optimizers.schedule_free import ScheduleFreeAdamW

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def _at_y(monkeypatch):
    """Switch Schedule-Free's hooks off: evaluate and save where it trains (the old behaviour)."""
    import contextlib

    monkeypatch.setattr(ScheduleFreeAdamW, "evaluation_point", lambda self, variables=None: contextlib.nullcontext())
    monkeypatch.setattr(ScheduleFreeAdamW, "finalize_variable_values", keras.optimizers.Optimizer.finalize_variable_values)


def _regression_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = np.sin(x @ np.array([1.0, -2.0, 0.5, 1.5], "float32"))[:, None]

    def build_model(seed):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])

    return kerasopt.KerasTask(build_model, train=(x[:64], y[:64]), validation=(x[64:80], y[64:80]),
                              test=(x[80:], y[80:]), loss="mse", metrics=["mae"], target="mae", mode="min",
                              epochs=3, batch_size=16, optimizers=["schedule_free_adamw", "adam"],
                              name="sf_regression")


def _train(task, run_dir, optimizer="schedule_free_adamw"):
    settings = task.resolve({"optimizer": optimizer, "seed": 0, "hparams": {"learning_rate": 0.05}})
    summary = task.run(settings, run_dir)
    assert summary["status"] == "completed", summary
    return summary["metrics"]


def test_a_keras_task_records_tests_and_saves_schedule_free_at_its_averaged_point(tmp_path, monkeypatch):
    task = _regression_task()
    at_x = _train(task, tmp_path / "x")
    history = records.read_history(tmp_path / "x")
    assert at_x["val_mae"] == pytest.approx(history[at_x["best_epoch"] - 1]["val_mae"], rel=1e-5)
    saved = keras.models.load_model(tmp_path / "x" / "artifacts" / "best.keras")
    x_test, y_test = task.split("test")
    assert saved.evaluate(x_test, y_test, verbose=0, return_dict=True)["mae"] == pytest.approx(at_x["test_mae"],
                                                                                              rel=1e-5)
    with monkeypatch.context() as patch:
        _at_y(patch)
        at_y = _train(task, tmp_path / "y")
    assert abs(at_x["test_mae"] - at_y["test_mae"]) > 1e-3, (at_x, at_y)
    assert abs(at_x["val_mae"] - at_y["val_mae"]) > 1e-3


def test_other_optimizers_are_evaluated_where_they_train(tmp_path, monkeypatch):
    task = _regression_task()
    plain = _train(task, tmp_path / "plain", "adam")
    with monkeypatch.context() as patch:
        _at_y(patch)
        unchanged = _train(task, tmp_path / "again", "adam")
    assert plain["test_mae"] == pytest.approx(unchanged["test_mae"], rel=1e-6)


def test_fast_style_validates_and_saves_schedule_free_at_its_averaged_point(tmp_path, monkeypatch):
    from kerasopt.faststyle import FastStyleConfig, run
    from kerasopt.faststyle.losses import PerceptualLoss
    from kerasopt.faststyle.train import prepare
    from tests.test_faststyle import TINY, write_photos

    photos = write_photos(tmp_path / "photos", 6)[0].parent
    config = FastStyleConfig(optimizer="schedule_free_adamw", hparams={"learning_rate": 0.01}, data=str(photos),
                             val_photos=2, **{**TINY, "steps": 6, "eval_every": 3})
    at_x = run(config, tmp_path / "x")["metrics"]
    problem = prepare(config)
    loss = PerceptualLoss(problem.extractor, problem.grams, config.content_weight, config.style_weight,
                          config.tv_weight)
    saved = keras.models.load_model(tmp_path / "x" / "artifacts" / "model.keras")
    total, _ = loss(saved(problem.val_photos, training=False), tf.constant(problem.val_photos))
    assert float(total) == pytest.approx(at_x["val_loss"], rel=1e-4)
    assert records.read_history(tmp_path / "x")[-1]["val_loss"] == pytest.approx(at_x["val_loss"], rel=1e-5)
    with monkeypatch.context() as patch:
        _at_y(patch)
        at_y = run(config, tmp_path / "y")["metrics"]
    assert abs(at_x["val_loss"] - at_y["val_loss"]) > 1e-3 * at_y["val_loss"], (at_x["val_loss"], at_y["val_loss"])


def test_hooks_fall_back_for_optimizers_without_them():
    variable = keras.Variable(np.array([-5.0, 3.0, 300.0], "float32"))
    sgd = keras.optimizers.SGD(0.1)
    sgd.build([variable])
    with evaluation.evaluation_point(sgd, [variable]):
        np.testing.assert_array_equal(variable.numpy(), [-5.0, 3.0, 300.0])
    evaluation.project(sgd, [variable], evaluation.box(0.0, 255.0))
    np.testing.assert_array_equal(variable.numpy(), [0.0, 3.0, 255.0])
    evaluation.finalize(sgd, [variable])
    np.testing.assert_array_equal(variable.numpy(), [0.0, 3.0, 255.0])


def test_finalize_is_idempotent_for_schedule_free():
    w = keras.Variable(np.array([1.0, -2.0, 3.0], "float32"))
    optimizer = ScheduleFreeAdamW(learning_rate=0.3)
    for g in ([1.0, 1.0, -1.0], [0.5, -1.0, 2.0], [1.0, 0.0, 1.0]):
        optimizer.apply_gradients([(tf.constant(g), w)])
    with evaluation.evaluation_point(optimizer, [w]):
        x = w.numpy().copy()
    evaluation.finalize(optimizer, [w])
    np.testing.assert_allclose(w.numpy(), x, atol=1e-6)
    evaluation.finalize(optimizer, [w])
    np.testing.assert_allclose(w.numpy(), x, atol=1e-6)


@pytest.mark.parametrize("module", ["kerasopt.style.loop", "kerasopt.defects.train", "kerasopt.faststyle.train",
                                    "kerasopt.keras_task"])
def test_no_training_loop_names_an_optimizer(module):
    import importlib

    source = inspect.getsource(importlib.import_module(module)).lower()
    for name in ("schedule_free", "schedulefree", "averaged_point", "average_into"):
        assert name not in source, (module, name)
