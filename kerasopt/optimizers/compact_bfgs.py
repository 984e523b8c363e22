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
        gram: (2m, 2m) W'W = w w' (from the m x m products of the pairs).
    """

    w: tf.Tensor
    middle: tf.Tensor
    middle_inverse: tf.Tensor
    theta: tf.Tensor
    used: tf.Tensor
    gram: tf.Tensor


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
    yy = tf.matmul(y, y, transpose_b=True)
    gram = tf.concat([tf.concat([yy, theta * tf.transpose(sy)], 1), tf.concat([theta * sy, theta * theta * ss], 1)], 0)
    return CompactMatrix(w, middle, middle_inverse, theta, used, gram)


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


FIRST_BREAKPOINTS = 4096
"""Breakpoints examined first (the smallest ones, by ``top_k``); the full sort runs only when the
Cauchy point lies beyond them."""


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
        >= eps * theta * d'd after the first breakpoint (L-BFGS-B 3.0). The smallest
        `FIRST_BREAKPOINTS` breakpoints are walked first; all of them only if the point lies beyond.
    """
    dtype = x.dtype
    n = x.shape[0]
    zero = tf.zeros_like(x)
    inf = tf.constant(float("inf"), dtype)
    at_low = x <= low
    at_high = x >= high
    fixed = (at_low & (g >= 0)) | (~at_low & at_high & (g <= 0))
    d = tf.where(fixed, zero, -g)  # Cauchy direction
    moving = tf.not_equal(d, 0)
    breakpoint = tf.where(d < 0, (x - low) / tf.where(d < 0, -d, 1),
                          tf.where(d > 0, (high - x) / tf.where(d > 0, d, 1), inf))
    breakpoint = tf.where(moving, breakpoint, inf)
    has_break = tf.math.is_finite(breakpoint)
    path = _Path(x, d, breakpoint, has_break, b)

    def walk_all():
        return path.walk(tf.argsort(breakpoint, stable=True))

    if n is not None and n > FIRST_BREAKPOINTS:
        _, first = tf.math.top_k(-breakpoint, k=FIRST_BREAKPOINTS, sorted=True)
        valid, j, t, passed = path.walk(first)
        j, t, passed = tf.cond(valid, lambda: (j, t, passed), lambda: walk_all()[1:])
    else:
        _, j, t, passed = walk_all()
    bound = tf.where(d > 0, tf.cast(high, dtype) * tf.ones_like(x), tf.cast(low, dtype) * tf.ones_like(x))
    point = tf.where(passed, bound, x + t * d)
    return CauchyPoint(point, ~fixed & ~passed, tf.linalg.matvec(b.w, point - x), j + 1)


class _Path:
    """The piecewise-quadratic model along the projected path, walked over a sorted list of breakpoints."""

    def __init__(self, x, d, breakpoint, has_break, b: CompactMatrix):
        self.x, self.d, self.breakpoint, self.has_break, self.b = x, d, breakpoint, has_break, b
        self.breaks = tf.reduce_sum(tf.cast(has_break, tf.int32))
        self.unbounded_moving = tf.reduce_any(tf.not_equal(d, 0) & ~has_break)
        self.dd_total = tf.reduce_sum(d * d)
        self.p_total = tf.linalg.matvec(b.w, d)  # W'd

    def walk(self, order):
        """(valid, j, t, passed) over the breakpoints ``order`` (indices, ascending breakpoints, length K).

        On segment k (after k breakpoints) with start t_k: ``D_k = d_k'd_k``, ``p_k = W'd_k``,
        ``c_k = W'(x(t_k) - x)``; slope ``f1 = -D_k + theta t_k D_k - c_k'M p_k`` and curvature
        ``f2 = theta D_k - p_k'M p_k`` (prefix sums over the passed variables). j is the segment of the
        first local minimizer, t its parameter, passed the (n,) mask of the first j breakpoints.
        valid is False when the minimizer lies beyond the K listed breakpoints and more exist.
        """
        b, dtype = self.b, self.d.dtype
        k_count = order.shape[0]
        inf = tf.constant(float("inf"), dtype)
        listed = tf.gather(self.has_break, order)
        t_sorted = tf.where(listed, tf.gather(self.breakpoint, order), tf.zeros([], dtype))
        d_sorted = tf.gather(self.d, order)
        wd_sorted = tf.gather(b.w, order, axis=1) * d_sorted  # (2m, K)

        def exclusive(values, axis):  # sums over the first k listed variables, k = 0..K
            zeros = tf.zeros_like(tf.gather(values, [0], axis=axis))
            return tf.concat([zeros, tf.cumsum(values, axis=axis)], axis)

        dd_moving = self.dd_total - exclusive(d_sorted * d_sorted, 0)  # (K+1,)
        p = self.p_total[:, None] - exclusive(wd_sorted, 1)  # (2m, K+1)
        t_start = tf.concat([tf.zeros([1], dtype), t_sorted], 0)
        c = exclusive(wd_sorted * t_sorted, 1) + t_start * p
        mp = tf.matmul(b.middle, p)
        f1 = -dd_moving + b.theta * t_start * dd_moving - tf.reduce_sum(c * mp, 0)
        f2 = b.theta * dd_moving - tf.reduce_sum(p * mp, 0)
        f2_floor = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype) * b.theta * self.dd_total
        f2 = tf.concat([f2[:1], tf.maximum(f2[1:], f2_floor)], 0)
        to_minimizer = -f1 / f2
        t_end = tf.concat([t_sorted, tf.fill([1], inf)], 0)
        limit = tf.minimum(self.breaks, k_count)
        segment = tf.range(k_count + 1)
        stops = (segment < limit) & (to_minimizer < t_end - t_start)
        found = tf.reduce_any(stops)
        j = tf.where(found, tf.cast(tf.argmax(tf.cast(stops, tf.int32)), tf.int32), limit)
        beyond = tf.where(self.unbounded_moving, tf.maximum(to_minimizer[j], 0), tf.zeros([], dtype))
        t = t_start[j] + tf.where(found, tf.maximum(to_minimizer[j], 0), beyond)
        passed = tf.scatter_nd(order[:, None], tf.range(k_count) < j, tf.shape(self.d))
        return found | (self.breaks <= k_count), j, t, passed


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
    # W'ZZ'W = W'W minus the rows of the variables that are not free (usually few: gathered).
    w_fixed = tf.gather(b.w, tf.where(~free)[:, 0], axis=1)
    inner = b.middle_inverse - (b.gram - tf.matmul(w_fixed, w_fixed, transpose_b=True)) / b.theta
    u = tf.linalg.solve(inner, tf.linalg.matvec(b.w, r)[:, None])[:, 0]
    du = tf.where(free, r / b.theta + tf.linalg.matvec(b.w, u, transpose_a=True) / (b.theta * b.theta), zero)
    projected = tf.clip_by_value(xc + du, low, high)
    hit = tf.reduce_any(free & ((projected <= low) | (projected >= high)))
    ascent = tf.reduce_sum((projected - x) * g) > 0

    def backtracked():
        """The largest alpha <= 1 with x^c + alpha du in the box; the limiting variable on its bound."""
        ratio = tf.where(free & (du < 0), tf.where(low - xc >= 0, zero, (low - xc) / tf.where(du < 0, du, 1)),
                         tf.where(free & (du > 0),
                                  tf.where(high - xc <= 0, zero, (high - xc) / tf.where(du > 0, du, 1)),
                                  tf.fill(tf.shape(x), tf.constant(float("inf"), dtype))))
        limiting = tf.argmin(ratio)
        alpha = tf.minimum(tf.reduce_min(ratio), 1.0)
        on_bound = tf.where(du[limiting] > 0, tf.cast(high, dtype), tf.cast(low, dtype))
        return tf.where((tf.range(tf.size(x), dtype=limiting.dtype) == limiting) & (alpha < 1), on_bound,
                        xc + alpha * du)

    trial = tf.cond(hit & ascent, backtracked, lambda: projected)
    skip = tf.equal(b.used, 0) | ~tf.reduce_any(free)
    return tf.where(skip, xc, trial)
