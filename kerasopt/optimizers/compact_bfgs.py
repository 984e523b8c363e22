"""The compact limited-memory BFGS matrix and the two L-BFGS-B steps that use it, in TensorFlow.

Compact representation (Byrd, Nocedal & Schnabel 1994, eq. 3.5), as L-BFGS-B stores it:

    B = theta I - W M W',   W = [Y, theta S]  (n x 2m),   M^{-1} = [[-D, L'], [L, theta S'S]],

with S, Y the correction pairs (oldest first), D = diag(s_i'y_i) and L the strictly lower
triangle of S'Y (L_ij = s_i'y_j for i > j). Here the pairs are the ROWS of ``s`` and ``y``
(shape (m, n), oldest first, right-aligned: unused rows are zero and come first), and W is kept
transposed, ``w`` = W' of shape (2m, n). Unused pairs get an identity block in M^{-1}, so M is
always invertible and the zero rows of ``w`` make them inert.

Two steps of L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995) with the quadratic model
``m(x + s) = g's + s'Bs / 2`` on the box ``[low, high]``:

- `generalized_cauchy_point` (section 4): the first local minimizer of m along the projected
  steepest-descent path ``P(x - t g)``. L-BFGS-B walks the breakpoints one by one with a heap;
  here the breakpoints are sorted once and the slope and curvature of every segment come from
  prefix sums (closed form of the same recurrences), so the whole path is a few vector ops.
- `subspace_minimization` (section 5.1, direct primal method, with the projection and
  backtracking of L-BFGS-B 3.0, Morales & Nocedal 2011): minimize m over the variables that are
  free at the Cauchy point, by Sherman-Morrison-Woodbury on the reduced matrix.

All tensors are float (float64 recommended); n is the number of variables, m the history size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


class CompactMatrix(NamedTuple):
    """B = theta I - w' M w of the stored pairs.

    Attributes:
        w: (2m, n) W' = [Y'; theta S'] (zero rows for unused pairs).
        middle: (2m, 2m) M.
        middle_inverse: (2m, 2m) M^{-1} (identity on unused pairs).
        theta: scalar, the scaling of B0 = theta I.
        used: int32 scalar, number of pairs stored (0: B = theta I).
    """

    w: tf.Tensor
    middle: tf.Tensor
    middle_inverse: tf.Tensor
    theta: tf.Tensor
    used: tf.Tensor


def compact_matrix(s: tf.Tensor, y: tf.Tensor, used: tf.Tensor, theta: tf.Tensor) -> CompactMatrix:
    """The `CompactMatrix` of the pairs ``s``, ``y`` ((m, n) each, oldest first, the last ``used`` rows valid)."""
    m = s.shape[0]
    valid = tf.range(m) >= m - used  # right-aligned
    sy = tf.matmul(s, y, transpose_b=True)  # (S'Y)_ij = s_i'y_j
    ss = tf.matmul(s, s, transpose_b=True)
    lower = tf.linalg.band_part(sy, -1, 0) - tf.linalg.band_part(sy, 0, 0)  # strictly lower: i > j
    d = tf.linalg.diag_part(sy)
    pad = tf.linalg.diag(tf.where(valid, tf.zeros_like(d), tf.ones_like(d)))
    top = tf.concat([-tf.linalg.diag(d) + pad, tf.transpose(lower)], 1)
    bottom = tf.concat([lower, theta * ss + pad], 1)
    middle_inverse = tf.concat([top, bottom], 0)
    middle = tf.linalg.inv(middle_inverse)
    w = tf.concat([y, theta * s], 0)
    return CompactMatrix(w, middle, middle_inverse, theta, used)


def quadratic_form(b: CompactMatrix, v: tf.Tensor) -> tf.Tensor:
    """v'Bv for one vector v (n,)."""
    wv = tf.linalg.matvec(b.w, v)
    return b.theta * tf.reduce_sum(v * v) - tf.reduce_sum(wv * tf.linalg.matvec(b.middle, wv))


class CauchyPoint(NamedTuple):
    """Result of `generalized_cauchy_point`.

    Attributes:
        point: (n,) x^c, inside the box; variables whose breakpoint was passed lie exactly on their bound.
        free: (n,) bool, the variables not at a bound at x^c (L-BFGS-B's free set Z).
        c: (2m,) W'(x^c - x).
        segments: int32, segments of the path explored (L-BFGS-B's ``nseg``).
    """

    point: tf.Tensor
    free: tf.Tensor
    c: tf.Tensor
    segments: tf.Tensor


def generalized_cauchy_point(x: tf.Tensor, g: tf.Tensor, low: float, high: float, b: CompactMatrix) -> CauchyPoint:
    """The generalized Cauchy point of ``m(x + s) = g's + s'Bs/2`` along ``P(x - t g)`` (Byrd et al. 1995, Alg. CP).

    Args:
        x: (n,) a point of the box ``[low, high]`` (scalars; -inf/inf for no bound).
        g: (n,) gradient at x.
        b: the `CompactMatrix` B.

    Returns:
        A `CauchyPoint`. As in L-BFGS-B: a variable at a bound whose gradient points out of the box
        (or is zero) is fixed; on segment j (after j breakpoints) the slope f1 and curvature f2 of
        m decide whether the minimizer ``t_j - f1/f2`` lies before the next breakpoint; f2 is kept
        >= eps * theta * d'd after the first breakpoint (L-BFGS-B 3.0).
    """
    dtype = x.dtype
    n = tf.size(x)
    zero = tf.zeros_like(x)
    inf = tf.constant(float("inf"), dtype)
    at_low = x <= low
    at_high = x >= high
    fixed = (at_low & (g >= 0)) | (~at_low & at_high & (g <= 0))
    d = tf.where(fixed, zero, -g)  # Cauchy direction
    moving = tf.not_equal(d, 0)
    breakpoint = tf.where(d < 0, (x - low) / tf.where(d < 0, -d, 1), tf.where(d > 0, (high - x) / tf.where(d > 0, d, 1), inf))
    breakpoint = tf.where(moving, breakpoint, inf)
    has_break = tf.math.is_finite(breakpoint)
    breaks = tf.reduce_sum(tf.cast(has_break, tf.int32))
    unbounded_moving = tf.reduce_any(moving & ~has_break)

    order = tf.argsort(breakpoint, stable=True)  # finite breakpoints first, ascending
    rank = tf.scatter_nd(order[:, None], tf.range(n), [n])
    t_sorted = tf.where(tf.gather(has_break, order), tf.gather(breakpoint, order), 0)
    d_sorted = tf.gather(d, order)
    wd_sorted = tf.gather(b.w * d, order, axis=1)  # (2m, n)

    def exclusive(values, axis):  # sums over the first k sorted variables, k = 0..n
        total = tf.cumsum(values, axis=axis)
        zeros = tf.zeros_like(tf.gather(values, [0], axis=axis))
        return tf.concat([zeros, total], axis)

    dd_passed = exclusive(d_sorted * d_sorted, 0)  # (n+1,)
    wd_passed = exclusive(wd_sorted, 1)  # (2m, n+1)
    wdt_passed = exclusive(wd_sorted * t_sorted, 1)
    dd_moving = dd_passed[-1] - dd_passed  # d'd over the variables still moving after k breakpoints
    p = wd_passed[:, -1:] - wd_passed  # W'd_k
    t_start = tf.concat([tf.zeros([1], dtype), t_sorted], 0)  # (n+1,) start of segment k
    c = wdt_passed + t_start * p  # W'(x(t_k) - x)
    mp = tf.matmul(b.middle, p)
    theta = b.theta
    f1 = -dd_moving + theta * t_start * dd_moving - tf.reduce_sum(c * mp, 0)
    f2 = theta * dd_moving - tf.reduce_sum(p * mp, 0)
    f2_floor = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype) * theta * dd_moving[0]
    f2 = tf.concat([f2[:1], tf.maximum(f2[1:], f2_floor)], 0)
    to_minimizer = -f1 / f2
    t_end = tf.concat([t_sorted, tf.fill([1], inf)], 0)
    segment = tf.range(n + 1)
    stops = (segment < breaks) & (to_minimizer < t_end - t_start)
    first = tf.cast(tf.argmax(tf.cast(stops, tf.int32)), tf.int32)
    j = tf.where(tf.reduce_any(stops), first, breaks)
    step = tf.where(j < breaks, tf.maximum(to_minimizer[j], 0),
                    tf.where(unbounded_moving, tf.maximum(to_minimizer[j], 0), tf.zeros([], dtype)))
    t = t_start[j] + step
    passed = rank < j
    bound = tf.where(d > 0, tf.cast(high, dtype) * tf.ones_like(x), tf.cast(low, dtype) * tf.ones_like(x))
    point = tf.where(passed, bound, x + t * d)
    return CauchyPoint(point, ~fixed & ~passed, tf.linalg.matvec(b.w, point - x), j + 1)


def subspace_minimization(x: tf.Tensor, g: tf.Tensor, cauchy: CauchyPoint, low: float, high: float,
                          b: CompactMatrix) -> tf.Tensor:
    """The L-BFGS-B trial point x-bar (n,): m minimized over the free variables from the Cauchy point.

    Direct primal method (Byrd et al. 1995, section 5.1): with Z the free variables,
    ``r = -Z'(g + B(x^c - x))`` and the reduced matrix ``B^ = theta I - Z'W M W'Z``, the step
    ``du = B^^{-1} r = r/theta + Z'W (M^{-1} - W'ZZ'W/theta)^{-1} W'Z r / theta^2``
    (Sherman-Morrison-Woodbury; a 2m x 2m solve). Then, as L-BFGS-B 3.0: ``x^c + du`` is
    projected onto the box; if the projection moved a variable onto a bound and
    ``(x-bar - x)'g > 0`` (not a descent direction), the step is instead cut back to the largest
    ``alpha <= 1`` that keeps ``x^c + alpha du`` in the box, the limiting variable set on its bound.
    With no stored pair (B = theta I) or no free variable, x-bar is the Cauchy point.
    """
    dtype = x.dtype
    free = cauchy.free
    xc = cauchy.point
    zero = tf.zeros_like(x)
    r = tf.where(free, -(g + b.theta * (xc - x) - tf.linalg.matvec(b.w, tf.linalg.matvec(b.middle, cauchy.c),
                                                                     transpose_a=True)), zero)
    wz = tf.where(free[None, :], b.w, tf.zeros_like(b.w))
    inner = b.middle_inverse - tf.matmul(wz, wz, transpose_b=True) / b.theta
    u = tf.linalg.solve(inner, tf.linalg.matvec(wz, r)[:, None])[:, 0]
    du = tf.where(free, r / b.theta + tf.linalg.matvec(wz, u, transpose_a=True) / (b.theta * b.theta), zero)
    projected = tf.clip_by_value(xc + du, low, high)
    hit = tf.reduce_any(free & ((projected <= low) | (projected >= high)))
    ascent = tf.reduce_sum((projected - x) * g) > 0
    # Backtracking: the largest alpha <= 1 with x^c + alpha du in the box.
    ratio = tf.where(free & (du < 0), tf.where(low - xc >= 0, zero, (low - xc) / tf.where(du < 0, du, 1)),
                     tf.where(free & (du > 0), tf.where(high - xc <= 0, zero, (high - xc) / tf.where(du > 0, du, 1)),
                              tf.fill(tf.shape(x), tf.constant(float("inf"), dtype))))
    limiting = tf.argmin(ratio)
    alpha = tf.minimum(tf.reduce_min(ratio), 1.0)
    backtracked = xc + alpha * du
    on_bound = tf.where(du[limiting] > 0, tf.cast(high, dtype), tf.cast(low, dtype))
    backtracked = tf.where((tf.range(tf.size(x), dtype=limiting.dtype) == limiting) & (alpha < 1), on_bound,
                           backtracked)
    trial = tf.where(hit & ascent, backtracked, projected)
    skip = tf.equal(b.used, 0) | ~tf.reduce_any(free)
    return tf.where(skip, xc, trial)
