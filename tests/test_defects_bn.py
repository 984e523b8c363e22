"""BatchNorm recalibration: exact averages, the lag it removes, and recalibrated checkpoints."""

import numpy as np
import pytest

from kerasopt.defects.bn import batchnorm_layers, recalibrate

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def test_recalibration_sets_exact_size_weighted_averages_of_batch_statistics():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 2))
    features = keras.layers.Conv2D(3, 1, use_bias=False)(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.99)(features))
    conv, bn = model.layers[1], batchnorm_layers(model)[0]
    rng = np.random.default_rng(0)
    batches = [rng.normal(k, 1 + k, (n, 4, 4, 2)).astype(np.float32) for k, n in ((0, 3), (1, 5), (2, 2))]
    recalibrate(model, [(b, None) for b in batches])
    outputs = [np.asarray(conv(b)).reshape(-1, 3) for b in batches]
    weights = np.array([len(b) for b in batches], float)
    mean = sum(w * o.mean(0) for w, o in zip(weights, outputs)) / weights.sum()
    variance = sum(w * o.var(0) for w, o in zip(weights, outputs)) / weights.sum()
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), variance, rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.99
    recalibrate(model, [(b, None) for b in batches], batches=1)  # only the first batch
    np.testing.assert_allclose(bn.moving_mean.numpy(), outputs[0].mean(0), rtol=1e-5, atol=1e-6)


def test_recalibration_lifts_the_dice_that_lagging_batchnorm_statistics_hide(tmp_path):
    """A U-Net trained 30 steps (training loss falling) predicts nothing in inference mode
    (moving statistics, momentum 0.99, still near their initial values); recalibrated, it segments."""
    from kerasopt.defects import DefectsConfig
    from kerasopt.defects.data import load_arrays, load_splits
    from kerasopt.defects.metrics import pixel_metrics
    from kerasopt.defects.synth import generate
    from kerasopt.defects.train import build_model
    from kerasopt.seeding import set_seed

    generate(tmp_path, n=12, size=32, seed=1, clean_fraction=0)
    splits = load_splits(tmp_path)
    images, masks = load_arrays(splits.train + splits.val + splits.test, 32)
    set_seed(0)
    model = build_model(DefectsConfig(optimizer="adam", backbone="resnet18", size=32,
                                      hparams={"learning_rate": 3e-3}))
    history = model.fit(images, masks, batch_size=4, epochs=10, shuffle=False, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0]
    lagging = pixel_metrics(model.predict(images, verbose=0), masks)["dice"]
    recalibrate(model, [(images[i:i + 4], None) for i in range(0, len(images), 4)])
    recalibrated = pixel_metrics(model.predict(images, verbose=0), masks)["dice"]
    assert lagging < 0.3 and recalibrated > lagging + 0.3, (lagging, recalibrated)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_callback_runs_before_each_validation_only_when_enabled(tmp_path, enabled):
    from kerasopt.defects import DefectsConfig, run
    from kerasopt.defects import bn as bn_module
    from kerasopt.defects.synth import generate

    calls = []
    original = bn_module.recalibrate
    bn_module.recalibrate = lambda model, data, batches=None: calls.append(batches) or original(model, data, batches)
    try:
        generate(tmp_path / "d", n=12, size=32, seed=0)
        summary = run(DefectsConfig(optimizer="adam", data=str(tmp_path / "d"), backbone="vgg16", size=32,
                                    epochs=2, batch_size=4, overlays=0, bn_recalibration=enabled, bn_batches=1),
                      tmp_path / "run")
    finally:
        bn_module.recalibrate = original
    assert summary["status"] == "completed", summary["error"]
    assert calls == ([1, 1] if enabled else [])
