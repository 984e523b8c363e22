"""Learning-rate schedules and decoupled weight decay in the protocol (kerasopt.schedules, TaskConfig)."""

import math

import keras
import numpy as np
import pytest

from kerasopt import schedules
from kerasopt.config import TaskConfig
from kerasopt.defects.config import DefectsConfig
from kerasopt.faststyle.config import FastStyleConfig
from kerasopt.study.expand import run_id


def rate_at(schedule, step):
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_warmup_then_cosine_reaches_its_floor_at_the_end_of_the_budget():
    lr = schedules.learning_rate(0.01, "cosine", total_steps=100, warmup_fraction=0.1)
    assert rate_at(lr, 0) == 0.0  # linear warmup from 0 ...
    assert rate_at(lr, 5) == pytest.approx(0.005)
    assert rate_at(lr, 10) == pytest.approx(0.01)  # ... to the peak at 10 steps
    assert rate_at(lr, 55) == pytest.approx(0.005, rel=1e-5)  # half-way through the decay: half the peak
    assert rate_at(lr, 100) == pytest.approx(0.0, abs=1e-12)  # the floor at the run's last step
    assert rate_at(lr, 150) == pytest.approx(0.0, abs=1e-12)
    decaying = [rate_at(lr, s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decaying, decaying[1:]))


def test_constant_is_the_float_itself_and_warmup_keeps_the_peak_after_it():
    assert schedules.learning_rate(0.003, "constant", 50) == 0.003
    lr = schedules.learning_rate(0.003, "constant", 100, warmup_fraction=0.2)
    assert rate_at(lr, 10) == pytest.approx(0.0015)
    assert [rate_at(lr, s) for s in (20, 60, 100, 10**6)] == pytest.approx([0.003] * 4)


def test_schedule_free_keeps_its_warmup_and_gets_no_decay():
    assert schedules.effective("cosine", "schedule_free_adamw") == "constant"
    assert schedules.effective("cosine", "adamw") == "cosine"
    config = DefectsConfig(optimizer="schedule_free_adamw", schedule="cosine", warmup_fraction=0.1, size=32)
    assert config.schedule_record(200)["learning_rate_schedule"] == {"schedule": "constant", "warmup_steps": 20,
                                                                     "total_steps": 200}


@pytest.mark.parametrize("settings, message", [
    ({"schedule": "step"}, "schedule must be one of constant, cosine"),
    ({"warmup_fraction": 0.7}, "warmup_fraction must be in [0, 0.5]"),
    ({"threads": 0}, "threads must be at least 1"),
])
def test_bad_schedule_settings_are_one_line_errors(settings, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DefectsConfig(optimizer="adam", size=32, **settings)


def test_new_settings_stay_out_of_the_run_id_at_their_old_behaviour():
    old = DefectsConfig(optimizer="adam", size=32).to_dict()
    assert not set(DefectsConfig.LATER_SETTINGS) & set(old)
    assert set(TaskConfig.LATER_SETTINGS) - set(DefectsConfig.LATER_SETTINGS) == {"deterministic"}  # a defect setting
    assert "deterministic" not in FastStyleConfig(optimizer="adam").to_dict()  # from the start; new for the others
    same = DefectsConfig(optimizer="adam", size=32, schedule="constant", warmup_fraction=0.0,
                         decay_norm_and_bias=True, threads=None).to_dict()
    assert run_id("defects", same) == run_id("defects", old)
    new = DefectsConfig(optimizer="adam", size=32, schedule="cosine", threads=1).to_dict()
    assert new["schedule"] == "cosine" and new["threads"] == 1 and run_id("defects", new) != run_id("defects", old)
    assert DefectsConfig.from_dict(new).to_dict() == new


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    return model


def test_weight_decay_spares_biases_and_batchnorm_unless_told_otherwise():
    """With a zero gradient AdamW only decays: each variable shrinks by lr * weight_decay per step."""
    for decay_all in (False, True):
        model = small_model()
        config = DefectsConfig(optimizer="adamw", size=32, hparams={"learning_rate": 0.1, "weight_decay": 0.5},
                               decay_norm_and_bias=decay_all)
        optimizer = config.build_optimizer(10, model.trainable_variables)
        for variable in model.trainable_variables:  # nonzero biases and offsets, so decay would show
            variable.assign(np.ones(variable.shape, "float32"))
        optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
        for variable in model.trainable_variables:
            value = float(np.asarray(variable).ravel()[0])
            expected = 0.95 if (len(variable.shape) > 1 or decay_all) else 1.0
            assert value == pytest.approx(expected, rel=1e-5), (variable.path, decay_all)


def test_a_saved_model_with_a_schedule_reloads_with_it(tmp_path):
    model = small_model()
    config = DefectsConfig(optimizer="nadamw", size=32, schedule="cosine", warmup_fraction=0.1)
    model.compile(optimizer=config.build_optimizer(40, model.trainable_variables), loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.get_config() == model.optimizer._learning_rate.get_config()
    assert int(loaded.optimizer.iterations) == 2
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))


class _StopAfter(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # a kill after the second epoch was backed up


def test_a_resumed_run_continues_the_schedule_where_it_stopped(tmp_path):
    """BackupAndRestore (the defects resume) restores the step count, and the schedule is a function of it:
    a run killed after 2 of 4 epochs ends at the same weights and rate as one that ran through."""
    x, y = np.linspace(0, 1, 24, dtype="float32").reshape(8, 3), np.ones((8, 1), "float32")
    config = DefectsConfig(optimizer="adamw", size=32, schedule="cosine", warmup_fraction=0.25,
                           hparams={"learning_rate": 0.05})

    def fit(callbacks):
        model = small_model()
        model.compile(optimizer=config.build_optimizer(8, model.trainable_variables), loss="mse")
        model.fit(x, y, epochs=4, batch_size=4, verbose=0, shuffle=False, callbacks=callbacks)
        return model

    through = fit([])
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        fit([backup, _StopAfter()])
    resumed = fit([keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert int(resumed.optimizer.iterations) == int(through.optimizer.iterations) == 8
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    for a, b in zip(through.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_style_transfer_refuses_a_schedule():
    from kerasopt.style.config import StyleConfig

    with pytest.raises(ValueError, match="schedule and warmup_fraction apply to mini-batch training"):
        StyleConfig(optimizer="adam", schedule="cosine")
    assert math.isclose(StyleConfig(optimizer="adam").warmup_fraction, 0.0)
