"""The on-device L-BFGS: convergence, bounds, agreement with scipy, budgets, divergence, callback."""

import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from kerasopt.optimizers.full_batch import DriverResult
from kerasopt.optimizers.lbfgs import LBFGS
from kerasopt.optimizers import tf_lbfgs
from kerasopt.optimizers.tf_lbfgs import TFLBFGS

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def counted(loss_fn, counter):
    """``loss_fn`` that also counts its executions in ``counter`` (an int64 tf.Variable)."""
    def wrapped():
        counter.assign_add(1)
        return loss_fn()
    return wrapped


def test_rosenbrock_from_the_classic_start():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    result = TFLBFGS(max_iterations=200).minimize(lambda: rosenbrock(x), [x])
    assert isinstance(result, DriverResult)
    assert result.loss < 1e-6 and rosenbrock(x).numpy() == pytest.approx(result.loss)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-3)
    assert result.evaluations >= result.iterations > 10
    assert result.status == "completed"


def quadratic(a, b):
    a, b = tf.constant(a), tf.constant(b)
    return lambda x: 0.5 * tf.tensordot(x, tf.linalg.matvec(a, x), 1) - tf.tensordot(b, x, 1)


def spd_matrix(n, low, high, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.linspace(low, high, n)) @ q.T, rng.normal(size=n)


def test_box_constrained_quadratic_reaches_the_minimizer_on_the_bound_without_leaving_the_box():
    a, b = spd_matrix(8, 0.5, 5.0, seed=1)
    b = 4.0 * b  # the unconstrained minimizer lies far outside [0, 1]^8
    loss = quadratic(a, b)
    x = tf.Variable(np.full(8, 0.5))
    lowest, highest = tf.Variable(np.inf, dtype=tf.float64), tf.Variable(-np.inf, dtype=tf.float64)

    def watched():  # every point the optimizer evaluates
        lowest.assign(tf.minimum(lowest, tf.reduce_min(x)))
        highest.assign(tf.maximum(highest, tf.reduce_max(x)))
        return loss(x)

    result = TFLBFGS(max_iterations=100, bounds=(0.0, 1.0), gtol=1e-12, ftol=0.0).minimize(watched, [x])
    reference = scipy.optimize.minimize(lambda v: (0.5 * v @ a @ v - b @ v, a @ v - b), np.full(8, 0.5),
                                        jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * 8,
                                        options={"ftol": 0, "gtol": 1e-12, "maxiter": 1000})
    solution = reference.x
    assert np.sum((solution == 0.0) | (solution == 1.0)) >= 2  # the test is about active bounds
    np.testing.assert_allclose(x.numpy(), solution, atol=1e-5)
    assert lowest.numpy() >= 0.0 and highest.numpy() <= 1.0
    gradient = a @ x.numpy() - b  # KKT: zero on free components, pointing outward at bounds
    free = (x.numpy() > 0.0) & (x.numpy() < 1.0)
    assert np.all(np.abs(gradient[free]) < 1e-5)
    assert np.all(gradient[x.numpy() == 0.0] >= -1e-9) and np.all(gradient[x.numpy() == 1.0] <= 1e-9)
    assert result.status == "completed"


def test_first_iterations_match_scipy_on_an_unbounded_convex_quadratic():
    a, b = spd_matrix(6, 0.5, 3.0, seed=0)
    loss = quadratic(a, b)

    def trajectory(driver):
        x = tf.Variable(np.zeros(6))
        rows = []
        driver.minimize(lambda: loss(x), [x], callback=lambda it, ev, sec, value: rows.append((it, ev, value)))
        return rows

    ours = trajectory(TFLBFGS(max_iterations=3, history_size=3))
    scipys = trajectory(LBFGS(max_iterations=3, history_size=3))
    assert [row[:2] for row in ours] == [row[:2] for row in scipys]
    assert len(ours) == 3
    np.testing.assert_allclose([row[2] for row in ours], [row[2] for row in scipys], rtol=1e-6)


def test_evaluation_budget_is_never_exceeded():
    calls = tf.Variable(0, dtype=tf.int64)
    for budget in range(1, 16):
        x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
        calls.assign(0)
        seen = []
        result = TFLBFGS(max_evaluations=budget).minimize(
            counted(lambda: rosenbrock(x), calls), [x], callback=lambda it, ev, sec, loss: seen.append((ev, loss)))
        assert result.evaluations == calls.numpy() <= budget
        assert all(ev <= budget for ev, _ in seen)
        assert rosenbrock(x).numpy() == pytest.approx(result.loss)
        if seen:
            assert seen[-1][1] == pytest.approx(result.loss)
        assert result.evaluations >= budget - 1  # the budget is used (a last trial may be left)


def test_non_finite_loss_is_reported_as_diverged_and_keeps_the_best_point():
    x = tf.Variable([2.0], dtype=tf.float64)

    def loss():  # finite at the start, NaN once x leaves [1, 3]
        value = tf.reduce_sum(tf.square(x - 10.0))
        return tf.where(tf.reduce_all(tf.abs(x - 2.0) <= 1.0), value, tf.constant(np.nan, tf.float64))

    result = TFLBFGS(max_iterations=10).minimize(loss, [x])
    assert result.status == "diverged" and "non-finite" in result.message
    assert np.isfinite(result.loss) and result.loss < 64.0
    assert 1.0 <= x.numpy()[0] <= 3.0
    assert loss().numpy() == pytest.approx(result.loss)


def test_callback_can_stop_early_and_sees_growing_counts():
    x = tf.Variable([-1.2, 1.0], dtype=tf.float64)
    seen = []

    def callback(iteration, evaluations, seconds, loss):
        seen.append((iteration, evaluations, seconds, loss))
        return iteration >= 3

    result = TFLBFGS(max_iterations=50).minimize(lambda: rosenbrock(x), [x], callback=callback)
    assert result.iterations == 3 and result.message == "stopped by callback"
    assert [row[0] for row in seen] == [1, 2, 3]
    assert all(b[1] > a[1] and b[2] >= a[2] and b[3] < a[3] for a, b in zip(seen, seen[1:]))


def test_float32_keras_variables_and_several_variables():
    a = keras.Variable(np.full((2, 3), 0.5, "float32"))
    b = tf.Variable([0.5])
    result = TFLBFGS(max_iterations=20, bounds=(0.0, 1.0)).minimize(
        lambda: tf.reduce_sum(tf.square(a.value - 3.0)) + tf.reduce_sum(tf.square(b + 3.0)), [a, b])
    np.testing.assert_allclose(a.numpy(), 1.0)
    np.testing.assert_allclose(b.numpy(), 0.0)
    assert a.numpy().dtype == np.float32 and result.loss == pytest.approx(6 * 4.0 + 9.0, rel=1e-6)


def test_get_config_round_trips():
    driver = TFLBFGS(max_evaluations=30, history_size=5, bounds=(0.0, 255.0), jit_compile=True)
    assert TFLBFGS(**driver.get_config()).get_config() == driver.get_config()


@pytest.mark.parametrize("kwargs", [{"max_iterations": 0}, {"max_evaluations": 2.5}, {"history_size": 0},
                                    {"bounds": (0.0,)}, {"bounds": (1.0, 0.0)}, {"c1": 0.9, "c2": 0.1},
                                    {"gtol": -1.0}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Received"):
        TFLBFGS(**kwargs)


def test_negative_curvature_on_a_box_extrapolates_instead_of_creeping_at_step_one():
    # f = -eps/2 |x|^2 on [0, 255]^4 from x = 1: the gradient is tiny (-eps x) and every pair has
    # negative curvature, so the memory stays empty. The very first step is capped at 1 (as L-BFGS-B),
    # but later line searches must extrapolate to the bound. The 256 px style run from the content
    # photo stalled this way (loss 4930 vs scipy's 65.75 after 60 evaluations) while every empty-memory
    # iteration was capped at step 1: here x would creep to about 1.03 after 30 evaluations.
    eps = 1e-3
    x = tf.Variable(np.ones(4))
    result = TFLBFGS(max_evaluations=30, bounds=(0.0, 255.0)).minimize(lambda: -0.5 * eps * tf.reduce_sum(x * x),
                                                                       [x])
    np.testing.assert_allclose(x.numpy(), 255.0)
    assert result.loss == pytest.approx(-0.5 * eps * 4 * 255.0**2)
    assert result.evaluations <= 30


def chained_rosenbrock(x):
    return tf.reduce_sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def chained_rosenbrock_numpy(x):
    value = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    gradient = np.zeros_like(x)
    gradient[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    gradient[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return value, gradient


@pytest.mark.parametrize("block_rows", [32, 2], ids=["one block", "blocks of 2 pairs"])
def test_box_constrained_rosenbrock_follows_scipy_lbfgsb_iterate_by_iterate(block_rows, monkeypatch):
    # 6-D chained Rosenbrock on [-1.5, 0.7]^6 (the minimizer has variables on the upper bound), memory 5:
    # every iterate, loss and evaluation count of scipy's L-BFGS-B, until it is within rounding of the end.
    # In blocks of 2 pairs (2 + 2 + 1 rows) the compact matrix grows block by block, then wraps around.
    monkeypatch.setattr(tf_lbfgs, "BLOCK_ROWS", block_rows)
    start, box = np.array([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0]), (-1.5, 0.7)
    theirs, counted = [], [0]

    def fun(v):
        counted[0] += 1
        return chained_rosenbrock_numpy(v)

    scipy.optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=[box] * 6,
                            callback=lambda intermediate_result: theirs.append(
                                (intermediate_result.x.copy(), intermediate_result.fun, counted[0])),
                            options={"ftol": 0, "gtol": 0, "maxiter": 25, "maxcor": 5})
    x = tf.Variable(start)
    ours = []
    result = TFLBFGS(max_iterations=25, history_size=5, bounds=box).minimize(
        lambda: chained_rosenbrock(x), [x], callback=lambda it, ev, sec, loss: ours.append((x.numpy().copy(), loss, ev)))
    assert len(ours) == len(theirs) == 25 and result.iterations == 25
    assert [row[2] for row in ours] == [row[2] for row in theirs]  # evaluations, line searches included
    np.testing.assert_allclose([row[1] for row in ours], [row[1] for row in theirs], rtol=1e-5)
    np.testing.assert_allclose(np.array([row[0] for row in ours]), np.array([row[0] for row in theirs]), atol=1e-6)
    assert np.sum(ours[-1][0] == box[1]) >= 1  # the bound is active at the end


def test_evaluation_budget_is_never_exceeded_on_a_box():
    calls = tf.Variable(0, dtype=tf.int64)
    for budget in (1, 2, 3, 5, 8, 13):
        x = tf.Variable(np.array([-1.2, 1.0, -1.2, 1.0]))
        calls.assign(0)
        seen = []
        result = TFLBFGS(max_evaluations=budget, bounds=(-1.5, 0.7)).minimize(
            counted(lambda: chained_rosenbrock(x), calls), [x],
            callback=lambda it, ev, sec, loss: seen.append((ev, loss)))
        assert result.evaluations == calls.numpy() <= budget
        assert all(ev <= budget for ev, _ in seen)
        assert chained_rosenbrock(x).numpy() == pytest.approx(result.loss)
        assert np.all((x.numpy() >= -1.5) & (x.numpy() <= 0.7))
        assert result.evaluations >= budget - 1


def test_a_loss_with_python_control_flow_on_tensors_is_converted_by_autograph():
    x = tf.Variable([3.0, -2.0], dtype=tf.float64)

    def loss():
        total = tf.reduce_sum(tf.square(x - 1.0))
        if total > 100.0:  # a Python branch on a tensor: needs AutoGraph inside the compiled iteration
            total = total * 2.0
        return total

    result = TFLBFGS(max_iterations=20).minimize(loss, [x])
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-5)
    assert result.status == "completed"


def test_the_ring_buffer_memory_keeps_its_inner_products_exact_through_wraparound(monkeypatch):
    """Pairs stored one at a time past the capacity: products, gradient products and ages match a
    recomputation from the newest pairs, and the model equals the one built from them oldest first."""
    from kerasopt.optimizers.compact_bfgs import compact_matrix
    from tests.test_compact_bfgs import dense_compact

    monkeypatch.setattr(tf_lbfgs, "BLOCK_ROWS", 2)  # 3 pairs in two blocks (2 + 1 rows)
    rng = np.random.default_rng(7)
    n, m = 6, 3
    memory = tf_lbfgs.new_memory(n, m)
    a = rng.normal(size=(n, n))
    a = a @ a.T + n * np.eye(n)
    g = rng.normal(size=n)
    memory.g.assign(g)
    pairs = []
    for _ in range(5):
        s = rng.normal(size=n)
        y = a @ s
        g_new = g + y
        tf_lbfgs.remember(memory, tf.constant(s), tf.constant(y), tf.constant(g_new), tf.constant(-1.0, tf.float64))
        pairs.append((s, y))
        g = g_new
    assert int(memory.stored) == 5
    rows_s = np.concatenate([b.numpy() for b in memory.s])
    rows_y = np.concatenate([b.numpy() for b in memory.y])
    order = np.argsort(memory.age.numpy())
    np.testing.assert_allclose(rows_s[order], [p[0] for p in pairs[-3:]])
    np.testing.assert_allclose(memory.sy.numpy(), rows_s @ rows_y.T, atol=1e-10)
    np.testing.assert_allclose(memory.ss.numpy(), rows_s @ rows_s.T, atol=1e-10)
    np.testing.assert_allclose(memory.yy.numpy(), rows_y @ rows_y.T, atol=1e-9)
    np.testing.assert_allclose(memory.sg.numpy(), rows_s @ g, atol=1e-9)
    np.testing.assert_allclose(memory.yg.numpy(), rows_y @ g, atol=1e-9)
    newest = pairs[-1]
    assert float(memory.theta) == pytest.approx(newest[1] @ newest[1] / (newest[0] @ newest[1]))
    ring = tf_lbfgs.compact(memory)
    reference = compact_matrix(tf.constant(rows_s[order]), tf.constant(rows_y[order]), tf.constant(3), memory.theta)

    np.testing.assert_allclose(dense_compact(ring), dense_compact(reference), atol=1e-8)


def test_pairs_are_stored_in_the_variables_precision_unless_told():
    f64 = tf.Variable(np.array([3.0, -1.0]))
    f32 = tf.Variable(np.array([3.0, -1.0], "float32"))
    for variable, told, expected in [(f64, None, 0.0), (f32, None, 0.0), (f32, "float64", 0.0)]:
        TFLBFGS(max_iterations=5, pair_dtype=told).minimize(lambda v=variable: tf.reduce_sum(v ** 2), [variable])
        np.testing.assert_allclose(variable.numpy(), [0.0, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match="pair_dtype"):
        TFLBFGS(pair_dtype="float16")


def test_the_compact_matrix_is_compiled_for_power_of_two_block_counts_and_the_whole_memory():
    assert [tf_lbfgs.block_buckets(c) for c in (1, 2, 3, 5, 10)] == [[1], [1, 2], [1, 2, 3], [1, 2, 4, 5],
                                                                      [1, 2, 4, 8, 10]]
