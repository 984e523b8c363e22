"""The scipy L-BFGS-B driver (``lbfgs_scipy``): Rosenbrock, budgets, bounds, callback, divergence."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import LBFGS, make


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def test_rosenbrock_from_the_classic_start():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    result = make("lbfgs_scipy", max_iterations=200, history_size=10).minimize(lambda: rosenbrock(x), [x])
    assert result.loss < 1e-8
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-4)
    assert result.evaluations >= result.iterations > 0
    assert result.status == "completed"


def test_fixed_budget_uses_every_iteration_and_callback_sees_progress():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    seen = []
    result = LBFGS(max_iterations=7).minimize(
        lambda: rosenbrock(x), [x], callback=lambda it, ev, sec, loss: seen.append((it, ev, sec, loss)))
    assert result.iterations == 7
    assert [row[0] for row in seen] == list(range(1, 8))
    assert all(b[1] >= a[1] for a, b in zip(seen, seen[1:]))  # evaluations never decrease
    assert all(ev >= it for it, ev, _, _ in seen)
    assert seen[-1][3] == pytest.approx(result.loss)
    assert result.trace_seconds > 0 and result.seconds > 0


def test_callback_can_stop_early():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    result = LBFGS(max_iterations=50).minimize(lambda: rosenbrock(x), [x], callback=lambda it, *_: it >= 3)
    assert result.iterations == 3


def test_box_bounds_hold_and_several_float32_variables():
    a = tf.Variable(tf.fill((2, 3), 0.5))
    b = tf.Variable([0.5])
    target = tf.constant(3.0)
    result = LBFGS(max_iterations=20, bounds=(0.0, 1.0)).minimize(
        lambda: tf.reduce_sum(tf.square(a - target)) + tf.reduce_sum(tf.square(b + target)), [a, b])
    np.testing.assert_allclose(a.numpy(), 1.0)
    np.testing.assert_allclose(b.numpy(), 0.0)
    assert a.dtype == tf.float32 and result.loss == pytest.approx(6 * 4.0 + 9.0, rel=1e-6)


def test_non_finite_loss_is_reported_as_diverged_and_keeps_the_best_point():
    x = tf.Variable([2.0], dtype=tf.float64)

    def loss():  # finite at the start, NaN once x leaves [1, 3]
        value = tf.reduce_sum(tf.square(x - 10.0))
        return tf.where(tf.reduce_all(tf.abs(x - 2.0) <= 1.0), value, tf.constant(np.nan, tf.float64))

    result = LBFGS(max_iterations=10).minimize(loss, [x])
    assert result.status == "diverged"
    assert np.isfinite(result.loss) and np.isfinite(x.numpy()).all()


@pytest.mark.parametrize("kwargs", [{"max_iterations": 0}, {"history_size": 0}, {"bounds": (0.0,)}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Received"):
        LBFGS(**kwargs)


def test_keras_variables_are_supported():
    x = keras.Variable(np.array([-1.2, 1.0], "float32"))
    result = LBFGS(max_iterations=100).minimize(lambda: rosenbrock(x.value), [x])
    assert result.loss < 1e-4
    assert x.numpy().dtype == np.float32


@pytest.mark.parametrize("budget", list(range(1, 16)))
def test_evaluation_budget_is_never_exceeded_and_the_accepted_iterate_is_returned(budget):
    """scipy checks maxfun only between iterations; the driver stops inside a line search instead
    and returns the last accepted iterate, whose loss is the last one the callback saw."""
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    seen = []
    result = LBFGS(max_evaluations=budget).minimize(
        lambda: rosenbrock(x), [x], callback=lambda it, ev, s, loss: seen.append((it, ev, loss)))
    assert result.evaluations <= budget and all(ev <= budget for _, ev, _ in seen)
    expected = seen[-1][2] if seen else float(rosenbrock(tf.constant([-1.2, 1.0], tf.float64)))
    assert result.loss == pytest.approx(expected) == pytest.approx(float(rosenbrock(x)))
    assert result.iterations == len(seen)
