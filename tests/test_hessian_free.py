"""Hessian-free: exact Hv products, Rosenbrock, budgets, bounds, a small style problem."""

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers.hessian_free import HessianFree, HFResult, _Compiled, storage_schedule
from kerasopt.optimizers.full_batch import DriverResult
from kerasopt.optimizers.full_batch import FlatProblem

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def test_hessian_vector_product_matches_central_differences_of_the_gradient():
    y = tf.Variable([0.3, -0.7, 1.1], dtype=tf.float64)
    z = tf.Variable([[0.4], [-0.2]], dtype=tf.float64)

    def loss():  # non-quadratic, couples both variables
        return tf.reduce_sum(tf.sin(y) * y ** 3) + tf.reduce_prod(y) + tf.exp(y[0] * z[0, 0]) + tf.reduce_sum(z ** 4)

    compiled = _Compiled(FlatProblem(loss, [y, z]), None, 10, False)
    x0 = tf.constant([0.3, -0.7, 1.1, 0.4, -0.2], tf.float64)
    for v in (np.array([0.5, -1.0, 2.0, 0.3, 1.0]), np.eye(5)[3]):
        v = tf.constant(v)
        eps = 1e-5
        plus = compiled.evaluate(x0 + eps * v)[1].numpy()
        minus = compiled.evaluate(x0 - eps * v)[1].numpy()
        np.testing.assert_allclose(compiled.hvp(x0, v).numpy(), (plus - minus) / (2 * eps), rtol=1e-7, atol=1e-8)


def test_rosenbrock_from_the_classic_start():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    seen = []
    result = HessianFree(max_iterations=100).minimize(
        lambda: rosenbrock(x), [x], callback=lambda it, ev, sec, loss: seen.append((it, ev, loss)))
    assert isinstance(result, HFResult) and isinstance(result, DriverResult)
    assert result.loss < 1e-10
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-5)
    assert result.hessian_vector_products > 0 and result.status == "completed"
    assert result.evaluations == int(np.ceil(result.gradient_evaluations + 3.0 * result.hessian_vector_products))
    assert all(b[1] > a[1] and b[2] < a[2] for a, b in zip(seen, seen[1:]))


def test_the_callback_sees_the_accepted_iterate_even_after_a_rejected_trial():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    mismatches, rows = [], []

    def callback(iteration, evaluations, seconds, loss):
        rows.append(iteration)
        mismatches.append(abs(float(rosenbrock(x)) - loss))

    # a small initial damping makes the first steps too long: trials are rejected and damping grows
    result = HessianFree(max_iterations=30, initial_damping=1e-6).minimize(lambda: rosenbrock(x), [x],
                                                                           callback=callback)
    assert result.gradient_evaluations > result.iterations  # some trial points were rejected
    assert rows and max(mismatches) == 0.0


@pytest.mark.parametrize("hvp_cost", [1.0, 2.5])
def test_evaluation_equivalent_budget_is_never_exceeded(hvp_cost):
    calls = tf.Variable(0, dtype=tf.int64)  # loss calls: one per evaluation and one per Hv product

    def loss():
        calls.assign_add(1)
        return rosenbrock(x)

    for budget in (1, 2, 3, 5, 8, 13, 21, 34):
        x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
        calls.assign(0)
        seen = []
        result = HessianFree(max_evaluations=budget, max_cg_iterations=5, hvp_cost=hvp_cost).minimize(
            loss, [x], callback=lambda it, ev, sec, value: seen.append(ev))
        spent = result.gradient_evaluations + hvp_cost * result.hessian_vector_products
        assert spent <= budget and result.evaluations <= budget
        assert calls.numpy() == result.gradient_evaluations + result.hessian_vector_products
        assert all(ev <= budget for ev in seen)
        assert rosenbrock(x).numpy() == pytest.approx(result.loss)


def test_box_is_respected_and_the_bound_solution_found():
    x = tf.Variable(np.full(4, 0.5))
    lowest, highest = tf.Variable(np.inf, dtype=tf.float64), tf.Variable(-np.inf, dtype=tf.float64)
    target = tf.constant([2.0, -1.0, 0.25, 0.75], tf.float64)

    def loss():
        lowest.assign(tf.minimum(lowest, tf.reduce_min(x)))
        highest.assign(tf.maximum(highest, tf.reduce_max(x)))
        return tf.reduce_sum((x - target) ** 2) + 0.1 * tf.reduce_sum(x ** 4)

    HessianFree(max_iterations=30, bounds=(0.0, 1.0)).minimize(loss, [x])
    assert lowest.numpy() >= 0.0 and highest.numpy() <= 1.0
    assert x.numpy()[0] == 1.0 and x.numpy()[1] == 0.0


def test_non_finite_loss_is_reported_as_diverged_and_keeps_the_best_point():
    x = tf.Variable([2.0], dtype=tf.float64)

    def loss():  # finite at the start, NaN once x leaves [1, 3]
        value = tf.reduce_sum(tf.square(x - 10.0))
        return tf.where(tf.reduce_all(tf.abs(x - 2.0) <= 1.0), value, tf.constant(np.nan, tf.float64))

    result = HessianFree(max_iterations=10).minimize(loss, [x])
    assert result.status == "diverged"
    assert np.isfinite(result.loss) and 1.0 <= x.numpy()[0] <= 3.0
    assert loss().numpy() == pytest.approx(result.loss)


def test_storage_schedule_is_geometric():
    assert storage_schedule(10) == [1, 2, 3, 4, 5, 7, 9]


def test_get_config_round_trips():
    driver = HessianFree(max_evaluations=30, bounds=(0.0, 255.0), max_cg_iterations=7, hvp_cost=2.5)
    assert HessianFree(**driver.get_config()).get_config() == driver.get_config()


@pytest.mark.parametrize("kwargs", [{"max_iterations": 0}, {"max_cg_iterations": 0}, {"initial_damping": 0.0},
                                    {"hvp_cost": -1.0}, {"cg_decay": 1.5}, {"bounds": (2.0, 1.0)}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Received"):
        HessianFree(**kwargs)


def test_small_style_problem_loss_falls_within_the_budget():
    from kerasopt.style.config import StyleConfig
    from kerasopt.style.losses import Objective
    from kerasopt.style.workload import initial_image, prepare

    config = StyleConfig(optimizer="adam", size=32, init="content")
    problem = prepare(config)
    objective = Objective(problem.extractor, problem.targets, config.content_weight, config.style_weight,
                          config.tv_weight)
    image = tf.Variable(initial_image(config, problem))
    start = float(objective(image)[0])
    result = HessianFree(max_evaluations=60, max_cg_iterations=10, initial_damping=0.1,
                         bounds=(0.0, 255.0)).minimize(lambda: objective(image)[0], [image])
    assert result.evaluations <= 60 and result.iterations >= 2
    assert result.loss < 0.25 * start  # measured: 6177 -> 610
    assert image.numpy().min() >= 0.0 and image.numpy().max() <= 255.0


def test_negative_curvature_along_the_gradient_at_the_start_raises_the_damping_instead_of_stopping():
    """f = x^4 - 2x^2 + y^2 from (0.1, 0.05): curvature along the gradient is negative (f_xx = -3.88), so
    ``H + lambda I`` with a small relative damping is not positive there and CG's first step gives no
    direction; the run used to stop at the start ("predicted reduction below rounding")."""
    x = tf.Variable([0.1, 0.05], dtype=tf.float64)
    compiled = _Compiled(FlatProblem(lambda: x[0] ** 4 - 2 * x[0] ** 2 + x[1] ** 2, [x]), None, 10, False)
    start, v = tf.constant([0.1, 0.05], tf.float64), tf.constant([0.396, -0.1], tf.float64)  # -g at the start
    assert float(tf.tensordot(v, compiled.hvp(start, v), 1)) < 0  # the premise: g'Hg < 0
    result = HessianFree(initial_damping=0.01, max_evaluations=200).minimize(
        lambda: x[0] ** 4 - 2 * x[0] ** 2 + x[1] ** 2, [x])
    assert result.iterations > 0 and result.loss < -1 + 1e-10
    np.testing.assert_allclose(np.abs(x.numpy()), [1.0, 0.0], atol=1e-5)
