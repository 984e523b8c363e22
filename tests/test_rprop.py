"""Rprop against a hand-computed step sequence, in a custom loop and in model.fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import Rprop, make

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


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


def test_min_step_zero_step_size_that_underflows_to_zero_stays_zero():
    # lr 1e-20, eta- 1e-30: the shrunk step 1e-50 underflows to exactly 0 in float32 (below the smallest
    # subnormal), so min_step=0 lets it reach 0. Hand-computed, g = +1, -1, +1, +1:
    # step 1: first step, delta 1e-20, w = -1e-20; step 2: flip -> delta 0, no move, memory cleared;
    # step 3: agreement 0 -> delta 0 * 1 = 0, no move; step 4: same sign -> 0 * 1.2 = 0, no move.
    # (Restarting a zero step at the learning rate would move w to -2e-20 at step 3 and -3.2e-20 at step 4.)
    w = tf.Variable([0.0])
    optimizer = Rprop(learning_rate=1e-20, eta_minus=1e-30, min_step=0.0)
    positions, steps = [], []
    for g in [1.0, -1.0, 1.0, 1.0]:
        optimizer.apply_gradients([(tf.constant([g]), w)])
        positions.append(float(w.numpy()[0]))
        steps.append(float(optimizer._step_sizes[0].numpy()[0]))
    np.testing.assert_allclose(steps, [1e-20, 0.0, 0.0, 0.0], rtol=1e-6, atol=0)
    np.testing.assert_allclose(positions, [-1e-20, -1e-20, -1e-20, -1e-20], rtol=1e-6, atol=0)


def test_first_step_uses_the_learning_rate_inside_a_compiled_step():
    w = tf.Variable([0.0, 0.0])
    optimizer = Rprop(learning_rate=0.25)

    @tf.function
    def step(g):
        optimizer.apply_gradients([(g, w)])

    step(tf.constant([1.0, -1.0]))
    step(tf.constant([1.0, 1.0]))  # first element keeps its sign: 0.25 * 1.2; second flips: no move
    np.testing.assert_allclose(w.numpy(), [-0.25 - 0.3, 0.25], atol=1e-6)
    np.testing.assert_allclose(optimizer._step_sizes[0].numpy(), [0.3, 0.125], atol=1e-7)


SAVED_MODEL_CHECK = """
import sys
import numpy as np
import keras
from kerasopt.optimizers import Rprop  # registers kerasopt>Rprop

expected = np.load(sys.argv[2])
model = keras.models.load_model(sys.argv[1], compile=True)
assert isinstance(model.optimizer, Rprop), type(model.optimizer)
assert int(model.optimizer.iterations) == 1, int(model.optimizer.iterations)
assert model.optimizer.eta_minus == 0.4 and model.optimizer.max_step == 7.0
state = [v.numpy() for v in model.optimizer.variables]
assert len(state) == int(expected["n_state"]), (len(state), expected["n_state"])
for i, value in enumerate(state):
    np.testing.assert_array_equal(value, expected[f"state_{i}"])
np.testing.assert_array_equal(model.predict(expected["x"], verbose=0), expected["prediction"])
print("OK")
"""


def test_keras_file_round_trip_in_a_fresh_process_with_optimizer_state(tmp_path):
    import os
    import subprocess
    import sys

    assert keras.saving.get_registered_name(Rprop) == "kerasopt>Rprop"
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=make("rprop", learning_rate=0.05, eta_minus=0.4, max_step=7.0), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    state = [v.numpy() for v in model.optimizer.variables]
    assert int(model.optimizer.iterations) == 1
    assert any(np.any(s != 0) for s in state[2:]), "slots should hold the first step"
    path = tmp_path / "rprop.keras"
    model.save(path)
    np.savez(tmp_path / "expected.npz", x=x, prediction=model.predict(x, verbose=0), n_state=len(state),
             **{f"state_{i}": s for i, s in enumerate(state)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", SAVED_MODEL_CHECK, str(path), str(tmp_path / "expected.npz")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
