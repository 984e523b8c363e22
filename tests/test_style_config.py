"""StyleConfig: coercion of YAML-ish values, unknown keys, validation, the pixel-scale lr table."""

import json

import pytest

from kerasopt import optimizers
from kerasopt.style import PIXEL_LEARNING_RATES, TARGET, StyleConfig
from kerasopt.style.config import REFERENCE_SIZE


def test_from_dict_coerces_number_strings_and_round_trips():
    config = StyleConfig.from_dict({"optimizer": "adam", "hparams": {"learning_rate": "1e-3", "beta_1": "0.8"},
                                    "size": "64", "iterations": "1e1", "style_weight": "2e-2", "seed": 3})
    assert config.size == 64 and config.iterations == 10 and config.style_weight == 0.02
    assert config.hparams == {"learning_rate": 0.001, "beta_1": 0.8}
    plain = config.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert StyleConfig.from_dict(plain) == config


def test_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="unknown style setting.*colour"):
        StyleConfig.from_dict({"optimizer": "adam", "colour": "red"})


@pytest.mark.parametrize("values, match", [
    ({"size": 0}, "size"), ({"size": "12.5"}, "size"), ({"iterations": 0}, "iterations"),
    ({"iterations": None}, "budget"), ({"style_weight": -1}, "style_weight"), ({"init": "zeros"}, "init"),
    ({"network": "resnet"}, "network"), ({"optimizer": "newton"}, "Valid names"),
    ({"optimizer": "adam", "hparams": {"learning_rate": 0}}, "positive"),
    ({"optimizer": "adam", "hparams": {"momentum": 0.9}}, "no hyperparameter"),
    ({"optimizer": "lbfgs", "hparams": {"max_iterations": 5}}, "iterations/evaluations"),
    ({"seed": -1}, "seed"), ({"snapshot_every": -2}, "snapshot_every"), ({"content": ""}, "content"),
])
def test_invalid_values_are_value_errors_naming_the_setting(values, match):
    with pytest.raises(ValueError, match=match):
        StyleConfig.from_dict(values)


def test_evaluations_alone_is_a_budget():
    config = StyleConfig(iterations=None, evaluations=7)
    assert config.iterations is None and config.evaluations == 7


def test_every_first_order_optimizer_has_a_pixel_learning_rate():
    first_order = {n for n in optimizers.available() if not optimizers.is_full_batch_driver(n)}
    assert set(PIXEL_LEARNING_RATES) == first_order


def test_optimizer_hparams_use_the_table_unless_overridden():
    adam = StyleConfig(optimizer="adam").optimizer_hparams()
    assert adam == {**optimizers.spec("adam").defaults, "learning_rate": PIXEL_LEARNING_RATES["adam"]}
    assert StyleConfig(optimizer="adam", size=32).optimizer_hparams()["learning_rate"] == PIXEL_LEARNING_RATES["adam"]
    assert StyleConfig(optimizer="adam", hparams={"learning_rate": 2.0}).optimizer_hparams()["learning_rate"] == 2.0
    lbfgs = StyleConfig(optimizer="lbfgs", iterations=5, evaluations=9).optimizer_hparams()
    assert lbfgs == {"history_size": 10, "max_iterations": 5, "max_evaluations": 9, "bounds": (0.0, 255.0)}


def test_library_defaults_are_the_optimizer_as_keras_builds_it():
    assert StyleConfig(optimizer="adam", hparam_defaults="library").optimizer_hparams() == {}
    assert StyleConfig(optimizer="nesterov", hparam_defaults="library").optimizer_hparams() == \
        {"momentum": 0.9, "nesterov": True}
    assert StyleConfig(optimizer="adam", hparam_defaults="library",
                       hparams={"learning_rate": 3.0}).optimizer_hparams() == {"learning_rate": 3.0}
    with pytest.raises(ValueError, match="hparam_defaults"):
        StyleConfig(optimizer="adam", hparam_defaults="paper")


def test_coercion_follows_the_field_type():
    config = StyleConfig.from_dict({"optimizer": "adam", "size": "10", "style_weight": "10",
                                    "hparams": {"amsgrad": "true"}})
    assert config.size == 10 and type(config.size) is int
    assert config.style_weight == 10.0 and type(config.style_weight) is float
    assert config.hparams == {"amsgrad": True}
    with pytest.raises(ValueError, match="seed"):
        StyleConfig(optimizer="adam", seed=2**32)
    with pytest.raises(ValueError, match="tv_weight"):
        StyleConfig.from_dict({"tv_weight": "inf"})


def test_gradient_scaled_defaults_follow_the_pixel_count():
    # mean-normalised losses: pixel gradients scale as 1/pixels, so sgd's rate scales as size^2
    at_reference = StyleConfig(optimizer="sgd", size=REFERENCE_SIZE).optimizer_hparams()["learning_rate"]
    assert at_reference == PIXEL_LEARNING_RATES["sgd"]
    assert StyleConfig(optimizer="sgd", size=2 * REFERENCE_SIZE).optimizer_hparams()["learning_rate"] == \
        pytest.approx(4 * at_reference, rel=1e-3)


def test_target_is_the_minimised_total_loss():
    assert TARGET == {"metric": "loss", "mode": "min"}
