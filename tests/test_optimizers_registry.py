"""The registry: names, defaults, errors, and one contract over every optimizer."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import optimizers
from kerasopt.optimizers import LBFGS, TFLBFGS, Rprop

REQUIRED = {"sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "amsgrad", "adamax", "nadam",
            "adamw", "lion", "lamb", "ftrl", "adafactor", "muon", "rprop", "lbfgs"}
WRAPPERS = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"}
FIRST_ORDER = [n for n in optimizers.available() if not optimizers.is_full_batch_driver(n)]


def test_available_names_cover_the_paper_and_keras():
    assert REQUIRED <= set(optimizers.available())


def test_every_keras_optimizer_class_is_in_the_registry():
    """Fails when a future Keras ships an optimizer the registry does not name."""
    shipped = {name for name, obj in vars(keras.optimizers).items()
               if inspect.isclass(obj) and issubclass(obj, keras.optimizers.Optimizer) and name not in WRAPPERS}
    covered = {entry.cls.__name__ for entry in optimizers.REGISTRY.values()}
    assert shipped, "no Keras optimizer classes found"
    assert shipped - covered == set()


def test_paper_variants_are_configured():
    assert optimizers.make("momentum").momentum == 0.9
    nesterov = optimizers.make("nesterov")
    assert nesterov.nesterov and nesterov.momentum == 0.9
    assert optimizers.make("amsgrad").amsgrad
    assert isinstance(optimizers.make("rprop"), Rprop)
    assert isinstance(optimizers.make("lbfgs"), TFLBFGS)  # L-BFGS-B on the device
    assert isinstance(optimizers.make("lbfgs_scipy"), LBFGS)


def test_make_overrides_defaults():
    adam = optimizers.make("adam", learning_rate=0.05, beta_1=0.8)
    assert float(adam.learning_rate) == pytest.approx(0.05)
    assert adam.beta_1 == 0.8


def test_yaml_string_learning_rate_is_coerced():
    assert float(optimizers.make("sgd", learning_rate="1e-3").learning_rate) == pytest.approx(1e-3)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'.*adam.*lbfgs"):
        optimizers.make("adamm")


def test_unknown_hyperparameter_is_rejected():
    with pytest.raises(ValueError, match="no hyperparameter 'betaa'"):
        optimizers.make("adam", betaa=0.9)


@pytest.mark.parametrize("rate", [0, -1e-3, "fast"])
def test_bad_learning_rate_is_rejected(rate):
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.make("sgd", learning_rate=rate)


def test_defaults_table_names_a_source_for_every_default():
    rows = optimizers.defaults_table()
    assert {row["optimizer"] for row in rows} == set(optimizers.available())
    sources = {optimizers.KERAS, optimizers.PAPER_ERA, optimizers.OURS}
    assert all(row["source"] in sources or row["source"].startswith(("scipy", "AdamW's")) for row in rows)
    adadelta = {r["hyperparameter"]: r for r in rows if r["optimizer"] == "adadelta"}
    assert adadelta["learning_rate"]["value"] == 1.0 and adadelta["learning_rate"]["source"] == optimizers.PAPER_ERA


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_every_first_order_optimizer_lowers_a_convex_loss(name):
    target = tf.constant(np.linspace(-1.0, 1.0, 12).reshape(3, 4), tf.float32)
    weights = keras.Variable(np.zeros((3, 4), "float32"))  # keras.Variable: Muon reads .path
    optimizer = optimizers.make(name)

    def loss():
        return tf.reduce_mean(tf.square(weights - target))

    before = float(loss())
    for _ in range(5):
        with tf.GradientTape() as tape:
            value = loss()
        optimizer.apply_gradients([(tape.gradient(value, weights), weights)])
    assert float(loss()) < before


@pytest.mark.parametrize("name", ["sgd", "adam", "rprop"])
def test_config_round_trip(name):
    optimizer = optimizers.make(name)
    clone = type(optimizer).from_config(optimizer.get_config())
    assert clone.get_config() == optimizer.get_config()
