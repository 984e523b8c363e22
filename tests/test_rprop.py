"""Rprop against a hand-computed step sequence, in a custom loop and in model.fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import Rprop, make


def test_matches_hand_computed_steps_on_a_quadratic():
    # f(w) = w^2 / 2, gradient w; initial step 0.6, eta+ 1.2, eta- 0.5.
    # step 1: g=1, no history -> delta 0.6, w=0.4; step 2: same sign -> delta 0.72, w=-0.32;
    # step 3: sign flip -> delta 0.36, no move, memory cleared; step 4: delta 0.36, w=0.04;
    # step 5: flip -> delta 0.18, no move; step 6: w=-0.14; step 7: flip -> 0.09, no move; step 8: w=-0.05.
    expected = [0.4, -0.32, -0.32, 0.04, 0.04, -0.14, -0.14, -0.05]
    w = tf.Variable([1.0])
    optimizer = Rprop(learning_rate=0.6)
    seen = []
    for _ in expected:
        optimizer.apply_gradients([(tf.identity(w), w)])
        seen.append(float(w.numpy()[0]))
    np.testing.assert_allclose(seen, expected, atol=1e-6)


def test_step_bounds_clip_growth_and_shrink():
    w = tf.Variable([100.0, 1.0])
    optimizer = Rprop(learning_rate=1.0, max_step=1.5, min_step=0.3)
    for _ in range(4):  # constant positive gradient on both: 1.0, 1.2, 1.44, then clipped to 1.5
        optimizer.apply_gradients([(tf.constant([1.0, 1.0]), w)])
    np.testing.assert_allclose(w.numpy()[0], 100.0 - (1.0 + 1.2 + 1.44 + 1.5), atol=1e-5)
    v = tf.Variable([0.0])
    shrinking = Rprop(learning_rate=1.0, min_step=0.3)
    # g = +1: step 1 (v=-1); -1: flip, delta 0.5, no move; +1: v=-1.5; -1: flip, delta 0.25 -> floor 0.3;
    # +1: v=-1.8 (without the floor it would be -1.75).
    for g in [1.0, -1.0, 1.0, -1.0, 1.0]:
        shrinking.apply_gradients([(tf.constant([g]), v)])
    np.testing.assert_allclose(v.numpy(), [-1.8], atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"eta_plus": 1.0}, {"eta_minus": 1.5}, {"min_step": 2.0, "max_step": 1.0}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Received"):
        Rprop(**kwargs)


def test_trains_in_model_fit_full_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=make("rprop", learning_rate=0.05), loss="mse")
    history = model.fit(x, y, batch_size=64, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
