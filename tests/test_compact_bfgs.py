"""The compact L-BFGS matrix, the generalized Cauchy point and the subspace step, against hand-worked cases."""

import numpy as np
import pytest
import tensorflow as tf

from kerasopt.optimizers import compact_bfgs
from kerasopt.optimizers.compact_bfgs import (compact_matrix, from_products, generalized_cauchy_point,
                                              middle_inverse, middle_times, quadratic_form, subspace_minimization,
                                              w_columns, w_times)


def memory(pairs, history_size=3):
    """Right-aligned (m, n) S and Y holding ``pairs`` [(s, y), ...], oldest first, and theta of the newest."""
    n = len(pairs[0][0]) if pairs else 2
    s = np.zeros((history_size, n))
    y = np.zeros((history_size, n))
    for k, (s_k, y_k) in enumerate(pairs):
        s[history_size - len(pairs) + k], y[history_size - len(pairs) + k] = s_k, y_k
    theta = float(np.dot(pairs[-1][1], pairs[-1][1]) / np.dot(pairs[-1][0], pairs[-1][1])) if pairs else 1.0
    return compact_matrix(tf.constant(s), tf.constant(y), tf.constant(len(pairs)), tf.constant(theta, tf.float64))


def dense_w(b):
    """W' (2m, n) as a dense matrix."""
    return w_columns(b, tf.range(b.s[0].shape[1])).numpy()


def dense_middle(b):
    """M (2m, 2m), applied to the identity by the factorized block elimination."""
    return middle_times(b, tf.eye(2 * b.d.shape[0], dtype=tf.float64)).numpy()


def dense_compact(b):
    """theta I - W'MW (n, n): the matrix the compact form holds, from its dense parts."""
    w = dense_w(b)
    return float(b.theta) * np.eye(w.shape[1]) - w.T @ dense_middle(b) @ w


def quadratic_pairs(rng, n: int, count: int):
    """``count`` pairs (s, A s) of a random SPD quadratic A (n x n), as BFGS would see on it."""
    a = rng.normal(size=(n, n))
    a = a @ a.T + n * np.eye(n)
    return [(s, a @ s) for s in rng.normal(size=(count, n))]


def dense_bfgs(pairs, theta):
    """B from theta I by the BFGS updates of ``pairs`` (oldest first): the matrix the compact form stands for."""
    b = theta * np.eye(len(pairs[0][0]))
    for s, y in map(lambda p: (np.asarray(p[0], float), np.asarray(p[1], float)), pairs):
        bs = b @ s
        b = b - np.outer(bs, bs) / (s @ bs) + np.outer(y, y) / (y @ s)
    return b


def test_compact_matrix_is_the_bfgs_matrix():
    rng = np.random.default_rng(0)
    pairs = quadratic_pairs(rng, 5, 3)
    b = memory(pairs, history_size=4)
    expected = dense_bfgs(pairs, float(b.theta))
    dense = dense_compact(b)
    np.testing.assert_allclose(dense, expected, rtol=1e-9, atol=1e-9)
    v = rng.normal(size=5)
    assert float(quadratic_form(b, tf.constant(v))) == pytest.approx(v @ expected @ v, rel=1e-9)


def test_cauchy_point_with_b_identity_passes_one_breakpoint_and_stops_inside_the_next_segment():
    # x = (0.5, 0.5) in [0, 1]^2, g = (2, -0.25), B = I. Path x - t g: x1 hits 0 at t = 0.25, x2 hits 1 at
    # t = 2. Segment [0, 0.25]: m'(t) = -4.0625 + 4.0625 t < 0, go on. Segment [0.25, 2]: only x2 moves,
    # m'(t) = -0.0625 + 0.0625 t = 0 at t = 1. So x^c = (0, 0.75), x1 fixed at its bound.
    b = memory([])
    cauchy = generalized_cauchy_point(tf.constant([0.5, 0.5], tf.float64), tf.constant([2.0, -0.25], tf.float64),
                                      0.0, 1.0, b)
    np.testing.assert_allclose(cauchy.point.numpy(), [0.0, 0.75], rtol=1e-12)
    assert cauchy.point.numpy()[0] == 0.0  # exactly on the bound
    assert cauchy.free.numpy().tolist() == [False, True]
    assert int(cauchy.segments) == 2


def test_cauchy_point_and_subspace_step_with_a_coupled_limited_memory_matrix():
    # One pair s = (1, 1), y = (3, 1): theta = y'y / s'y = 2.5 and B = [[3.5, -0.5], [-0.5, 1.5]].
    # Same x, g and box. d = (-2, 0.25): d'Bd = 14.59375, so on [0, 0.25] the minimizer
    # t = 4.0625 / 14.59375 = 0.278 lies beyond the breakpoint 0.25. After it, s(t) = (-0.5, 0.25 t) and
    # m'(t) = -0.0625 + 0.25 (0.25 + 0.375 t) = 0.09375 t > 0 at t = 0.25: the GCP is that breakpoint,
    # x^c = (0, 0.5625). Subspace step over x2 with x1 = 0: g2 + B21 (-0.5) + B22 s2 = 0 gives s2 = 0,
    # so x-bar = (0, 0.5).
    b = memory([((1.0, 1.0), (3.0, 1.0))])
    assert float(b.theta) == pytest.approx(2.5)
    np.testing.assert_allclose(dense_compact(b),
                               [[3.5, -0.5], [-0.5, 1.5]], atol=1e-12)
    x = tf.constant([0.5, 0.5], tf.float64)
    g = tf.constant([2.0, -0.25], tf.float64)
    cauchy = generalized_cauchy_point(x, g, 0.0, 1.0, b)
    np.testing.assert_allclose(cauchy.point.numpy(), [0.0, 0.5625], rtol=1e-12)
    assert cauchy.free.numpy().tolist() == [False, True]
    np.testing.assert_allclose(cauchy.c.numpy(), dense_w(b) @ np.array([-0.5, 0.0625]), atol=1e-12)
    trial = subspace_minimization(x, g, cauchy, 0.0, 1.0, b)
    np.testing.assert_allclose(trial.numpy(), [0.0, 0.5], atol=1e-12)


def test_variables_at_a_bound_with_an_outward_gradient_stay_fixed():
    # x1 at its lower bound with g1 > 0 cannot move; x2 moves freely until the model's minimizer.
    cauchy = generalized_cauchy_point(tf.constant([0.0, 0.5], tf.float64), tf.constant([1.0, -0.1], tf.float64),
                                      0.0, 1.0, memory([]))
    np.testing.assert_allclose(cauchy.point.numpy(), [0.0, 0.6], rtol=1e-12)
    assert cauchy.free.numpy().tolist() == [False, True]


@pytest.mark.parametrize("stages", [(3,), (32,), (1000,), (3, 8), (3, 32)])
def test_cauchy_point_matches_a_sequential_breakpoint_walk_on_a_random_box_problem(monkeypatch, stages):
    # (3,): the point lies beyond the first breakpoints walked, so the full sort runs; (32,): found among
    # them; (3, 8): beyond both stages; (3, 32): found in the second stage.
    monkeypatch.setattr(compact_bfgs, "BREAKPOINT_STAGES", stages)
    rng = np.random.default_rng(3)
    n = 40
    a = rng.normal(size=(n, n))
    a = a @ a.T / n + np.eye(n)
    pairs = [(s, a @ s) for s in rng.normal(size=(4, n))]
    b = memory(pairs, history_size=5)
    dense = dense_bfgs(pairs, float(b.theta))
    x = rng.uniform(0.0, 1.0, n)
    x[:5] = 0.0  # some at the bound
    g = 3.0 * rng.normal(size=n)
    cauchy = generalized_cauchy_point(tf.constant(x), tf.constant(g), 0.0, 1.0, b)

    # Reference: walk the breakpoints in order with the dense B (Byrd et al. 1995, Alg. CP).
    fixed = ((x <= 0) & (g >= 0)) | ((x >= 1) & (g <= 0))
    d = np.where(fixed, 0.0, -g)
    t_break = np.where(d < 0, x / np.where(d < 0, -d, 1), np.where(d > 0, (1 - x) / np.where(d > 0, d, 1), np.inf))
    t_break[d == 0] = np.inf
    point, t_old = x.copy(), 0.0
    for i in np.argsort(t_break, kind="stable"):
        slope = g @ d + (point - x) @ dense @ d
        curvature = d @ dense @ d
        if not np.isfinite(t_break[i]) or -slope / curvature < t_break[i] - t_old:
            point = point + max(-slope / curvature, 0.0) * d
            break
        point = point + (t_break[i] - t_old) * d
        point[i] = 0.0 if d[i] < 0 else 1.0
        d[i], t_old = 0.0, t_break[i]
    np.testing.assert_allclose(cauchy.point.numpy(), point, atol=1e-10)
    np.testing.assert_allclose(cauchy.c.numpy(), dense_w(b) @ (point - x), atol=1e-9)  # from the walk
    assert 8 < int(cauchy.segments) - 1 < 32  # the walk passed some breakpoints, not all


def test_pairs_in_ring_buffer_order_give_the_same_matrix_as_oldest_first():
    """The driver's ring buffer: pairs in any storage order, told apart by their age."""
    rng = np.random.default_rng(4)
    pairs = quadratic_pairs(rng, 6, 3)
    reference = memory(pairs, history_size=4)
    slots = [2, 0, 3]  # oldest pair in slot 2, then 0, then 3; slot 1 unused
    s = np.zeros((4, 6))
    y = np.zeros((4, 6))
    age = np.full(4, -1, np.int32)
    for k, (slot, (s_k, y_k)) in enumerate(zip(slots, pairs)):
        s[slot], y[slot], age[slot] = s_k, y_k, 10 + k
    ring = from_products(tf.constant(s), tf.constant(y), tf.constant(age), tf.constant(s @ y.T),
                         tf.constant(s @ s.T), tf.constant(y @ y.T), reference.theta)
    assert int(ring.used) == 3
    dense = dense_bfgs(pairs, float(reference.theta))
    np.testing.assert_allclose(dense_compact(ring), dense, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dense_middle(ring), np.linalg.inv(middle_inverse(ring).numpy()), rtol=1e-9, atol=1e-9)
    v = rng.normal(size=6)
    np.testing.assert_allclose(w_times(ring, tf.constant(v)).numpy(), dense_w(ring) @ v, atol=1e-12)


def test_products_skip_blocks_without_a_pair_and_match_the_dense_ones_elsewhere():
    """A block with no stored pair is never read (NaN there stays out), the others give P v and P'u."""
    rng = np.random.default_rng(3)
    filled = rng.normal(size=(4, 7))
    blocks = (tf.constant(filled[:2]), tf.constant(filled[2:]), tf.constant(np.full((3, 7), np.nan)))
    valid = tf.constant([True, True, False, True, False, False, False])  # slot 2 unused, block 3 empty
    dense = np.vstack([filled, np.zeros((3, 7))])
    v, u = rng.normal(size=7), rng.normal(size=7)
    np.testing.assert_allclose(compact_bfgs.pairs_times(blocks, valid, tf.constant(v)).numpy(), dense @ v, atol=1e-12)
    both = rng.normal(size=(7, 2))
    np.testing.assert_allclose(compact_bfgs.pairs_times(blocks, valid, tf.constant(both)).numpy(), dense @ both,
                               atol=1e-12)
    np.testing.assert_allclose(compact_bfgs.pairs_transpose_times(blocks, valid, tf.constant(u)).numpy(),
                               dense.T @ u, atol=1e-12)
