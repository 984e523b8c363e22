"""The compact limited-memory BFGS matrix and the two L-BFGS-B steps that use it, in TensorFlow.

Compact representation (Byrd, Nocedal & Schnabel 1994, eq. 3.5), as L-BFGS-B stores it:

    B = theta I - W M W',   W = [Y, theta S]  (n x 2m),   M^{-1} = [[-D, L'], [L, theta S'S]],

with S, Y the correction pairs (oldest first), D = diag(s_i'y_i) and L the strictly lower
triangle of S'Y (L_ij = s_i'y_j for i > j). Here the pairs are the ROWS of ``s`` and ``y``
(shape (m, n)) in storage order: the driver keeps them in a ring buffer, one row written per
stored pair, with their inner products S'Y, S'S, Y'Y updated one row and column at a time, so
`from_products` builds the small matrices without a pass over n (O(m^3)); W is never formed
(`w_times`, `w_transpose_times`, `w_columns`), and M is applied by block elimination with an
LU factorization of the m x m Schur complement ``theta S'S + L D^{-1} L'`` (`middle_times`),
never inverted. Unused slots get an identity block in M^{-1} and zero rows, which make them inert.

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
The pairs ``s``, ``y`` may be stored in a lower precision than the rest (the driver keeps them in
the variables' dtype): products with them are computed in their dtype and returned in the
working dtype of ``theta``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


class CompactMatrix(NamedTuple):
    """B = theta I - W M W' of the stored pairs, W' = [Y; theta S] kept implicit (never formed).

    The pairs are the rows of ``s`` and ``y`` in STORAGE order (a ring buffer: ``age`` says which
    is older); every small matrix below is in that order too, and the strictly lower triangle L
    of S'Y is taken by age, so W M W' (invariant under a common permutation) is that of the
    pairs oldest first. Unused slots have zero rows and an identity block in M^{-1}.

    Attributes:
        s, y: `Blocks` of the (m, n) pairs' rows in storage order (their dtype may be lower than the others').
        theta: scalar, the scaling of B0 = theta I.
        used: int32 scalar, number of pairs stored (0: B = theta I).
        valid: (m,) bool, the slots holding a pair.
        lower: (m, m) L: ``s_i'y_j`` where pair i is newer than pair j, else 0.
        d: (m,) ``s_i'y_i`` of the stored pairs, -1 on unused slots (so -D is the identity there).
        schur_lu, schur_perm: the LU factorization of the Schur complement
            ``theta S'S + L D^{-1} L'`` (identity on unused slots), which solves with M.
        gram: (2m, 2m) W'W.
    """

    s: tf.Tensor
    y: tf.Tensor
    theta: tf.Tensor
    used: tf.Tensor
    valid: tf.Tensor
    lower: tf.Tensor
    d: tf.Tensor
    schur_lu: tf.Tensor
    schur_perm: tf.Tensor
    gram: tf.Tensor


def from_products(s: tf.Tensor, y: tf.Tensor, age: tf.Tensor, sy: tf.Tensor, ss: tf.Tensor, yy: tf.Tensor,
                  theta: tf.Tensor) -> CompactMatrix:
    """The `CompactMatrix` of pairs in storage order from their inner products (O(m^3), no pass over n).

    Args:
        s, y: (m, n) pairs (zero rows on unused slots), a tensor or `Blocks`.
        age: (m,) int32 insertion number of each slot's pair, -1 for an unused slot.
        sy, ss, yy: (m, m) ``S Y'`` (``sy[i, j] = s_i'y_j``), ``S S'``, ``Y Y'`` in storage order.
        theta: scalar.
    """
    s, y = as_blocks(s), as_blocks(y)
    valid = age >= 0
    both = valid[:, None] & valid[None, :]
    lower = tf.where(both & (age[:, None] > age[None, :]), sy, tf.zeros_like(sy))
    d = tf.where(valid, tf.linalg.diag_part(sy), -tf.ones_like(theta))
    pad = tf.linalg.diag(tf.where(valid, tf.zeros_like(d), tf.ones_like(d)))
    schur = theta * ss + pad + tf.matmul(lower / d[None, :], lower, transpose_b=True)
    schur_lu, schur_perm = tf.linalg.lu(schur)
    gram = tf.concat([tf.concat([yy, theta * tf.transpose(sy)], 1),
                      tf.concat([theta * sy, theta * theta * ss], 1)], 0)
    used = tf.reduce_sum(tf.cast(valid, tf.int32))
    return CompactMatrix(s, y, theta, used, valid, lower, d, schur_lu, schur_perm, gram)


def compact_matrix(s: tf.Tensor, y: tf.Tensor, used: tf.Tensor, theta: tf.Tensor) -> CompactMatrix:
    """The `CompactMatrix` of the pairs ``s``, ``y`` ((m, n) each, oldest first, the last ``used`` rows
    valid), computing their inner products (O(m^2 n); the driver updates them incrementally instead)."""
    m = s.shape[0]
    slots = tf.range(m)
    age = tf.where(slots >= m - used, slots, -tf.ones_like(slots))
    return from_products(s, y, age, tf.matmul(s, y, transpose_b=True), tf.matmul(s, s, transpose_b=True),
                         tf.matmul(y, y, transpose_b=True), theta)


Blocks = tuple
"""The (m, n) matrix of one kind of pair (S or Y) as a tuple of row blocks ``(c_i, n)`` stacked in
order (the driver writes one small block per stored pair instead of the whole matrix)."""


def as_blocks(pairs) -> Blocks:
    """``pairs`` as `Blocks`: a tensor (m, n) becomes one block."""
    return tuple(pairs) if isinstance(pairs, (tuple, list)) else (pairs,)


def _block_starts(blocks: Blocks) -> list[int]:
    starts, start = [], 0
    for block in blocks:
        starts.append(start)
        start += block.shape[0]
    return starts


def _holding_pairs(valid: tf.Tensor, start: int, rows: int) -> tf.Tensor:
    """Whether rows ``start .. start+rows`` of the pairs hold a stored pair (scalar bool)."""
    return tf.reduce_any(valid[start:start + rows])


def pairs_times(blocks: Blocks, valid: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """``P v`` of the pairs matrix P in `Blocks` (m, n): (m,) for v (n,), (m, k) for v (n, k), computed in the
    pairs' dtype and returned in ``v``'s. Blocks without a stored pair (``valid`` (m,) bool) are skipped
    (their rows are zero), so a partly filled memory costs a pass over its pairs only, as scipy's."""
    dtype, vector = blocks[0].dtype, v.shape.rank == 1
    matrix = tf.cast(v[:, None] if vector else v, dtype)

    def block_product(block, start):
        empty = tf.zeros([block.shape[0], matrix.shape[1]], dtype)
        return tf.cond(_holding_pairs(valid, start, block.shape[0]), lambda: tf.matmul(block, matrix), lambda: empty)

    product = tf.concat([block_product(block, start) for block, start in zip(blocks, _block_starts(blocks))], 0)
    return tf.cast(product[:, 0] if vector else product, v.dtype)


def pairs_transpose_times(blocks: Blocks, valid: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """``P' u`` (n,) for u (m,), skipping blocks without a stored pair; returned in ``u``'s dtype."""
    dtype = blocks[0].dtype
    parts = tf.split(tf.cast(u, dtype), [block.shape[0] for block in blocks])

    def block_product(block, part, start):
        return tf.cond(_holding_pairs(valid, start, block.shape[0]),
                       lambda: tf.linalg.matvec(block, part, transpose_a=True),
                       lambda: tf.zeros([block.shape[1]], dtype))

    return tf.cast(tf.add_n([block_product(block, part, start)
                             for block, part, start in zip(blocks, parts, _block_starts(blocks))]), u.dtype)


def _pairs_columns(blocks: Blocks, index: tf.Tensor) -> tf.Tensor:
    """The columns ``index`` (k,) of the pairs matrix, (m, k), in the pairs' dtype."""
    return tf.concat([tf.gather(block, index, axis=1) for block in blocks], 0)


def w_times(b: CompactMatrix, v: tf.Tensor) -> tf.Tensor:
    """W'v (2m,) of one vector v (n,): one pass over the pairs."""
    return tf.concat([pairs_times(b.y, b.valid, v), b.theta * pairs_times(b.s, b.valid, v)], 0)


def w_transpose_times(b: CompactMatrix, u: tf.Tensor) -> tf.Tensor:
    """W u (n,) of one vector u (2m,): one pass over the pairs."""
    m = b.d.shape[0]
    return pairs_transpose_times(b.y, b.valid, u[:m]) + b.theta * pairs_transpose_times(b.s, b.valid, u[m:])


def w_columns(b: CompactMatrix, index: tf.Tensor) -> tf.Tensor:
    """The columns ``index`` (k,) of W' as a (2m, k) matrix (the rows of W of those variables)."""
    columns = tf.cast(tf.concat([_pairs_columns(b.y, index), _pairs_columns(b.s, index)], 0), b.theta.dtype)
    m = b.d.shape[0]
    return tf.concat([columns[:m], b.theta * columns[m:]], 0)


def middle_times(b: CompactMatrix, v: tf.Tensor) -> tf.Tensor:
    """M v for v of shape (2m,) or (2m, k), by block elimination on M^{-1} = [[-D, L'], [L, theta S'S]]:
    ``(theta S'S + L D^{-1} L') v2' = v2 + L D^{-1} v1`` (the factorized Schur complement), then
    ``v1' = D^{-1} (L' v2' - v1)``."""
    vector = v.shape.rank == 1
    v = v[:, None] if vector else v
    m = b.d.shape[0]
    v1, v2 = v[:m], v[m:]
    x2 = tf.linalg.lu_solve(b.schur_lu, b.schur_perm, v2 + tf.matmul(b.lower, v1 / b.d[:, None]))
    x1 = (tf.matmul(b.lower, x2, transpose_a=True) - v1) / b.d[:, None]
    result = tf.concat([x1, x2], 0)
    return result[:, 0] if vector else result


def middle_inverse(b: CompactMatrix) -> tf.Tensor:
    """M^{-1} = [[-D, L'], [L, theta S'S]] (2m, 2m), with identity blocks on unused slots."""
    m = b.d.shape[0]
    pad = tf.where(b.valid, tf.zeros_like(b.d), tf.ones_like(b.d))
    theta_ss = b.gram[m:, m:] / (b.theta * b.theta)
    top = tf.concat([-tf.linalg.diag(b.d), tf.transpose(b.lower)], 1)
    bottom = tf.concat([b.lower, b.theta * theta_ss + tf.linalg.diag(pad)], 1)
    return tf.concat([top, bottom], 0)


def quadratic_form(b: CompactMatrix, v: tf.Tensor) -> tf.Tensor:
    """v'Bv for one vector v (n,)."""
    wv = w_times(b, v)
    return b.theta * tf.reduce_sum(v * v) - tf.reduce_sum(wv * middle_times(b, wv))


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


BREAKPOINT_STAGES = (32, 512, 8192)
"""Breakpoints examined first (the smallest ones, by ``top_k``), stage by stage; all of them only when
the Cauchy point lies beyond the last stage. Measured on the style problem (128 px from noise,
history 10): median 11 segments, 90th percentile 40, so the first stage almost always decides."""


def generalized_cauchy_point(x: tf.Tensor, g: tf.Tensor, low: float, high: float, b: CompactMatrix,
                             wg: tf.Tensor | None = None) -> CauchyPoint:
    """The generalized Cauchy point of ``m(x + s) = g's + s'Bs/2`` along ``P(x - t g)`` (Byrd et al. 1995, Alg. CP).

    Args:
        x: (n,) a point of the box ``[low, high]`` (scalars; -inf/inf for no bound).
        g: (n,) gradient at x.
        b: the `CompactMatrix` B.
        wg: (2m,) W'g if known (the driver keeps it), else computed (one pass over the pairs).

    Returns:
        A `CauchyPoint`. As in L-BFGS-B: a variable at a bound whose gradient points out of the box
        (or is zero) is fixed; on segment j (after j breakpoints) the slope f1 and curvature f2 of
        m decide whether the minimizer ``t_j - f1/f2`` lies before the next breakpoint; f2 is kept
        >= eps * theta * d'd after the first breakpoint (L-BFGS-B 3.0). The smallest breakpoints
        are walked in `BREAKPOINT_STAGES`; all of them only if the point lies beyond.
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
    wg = w_times(b, g) if wg is None else wg
    fixed_index = tf.where(fixed)[:, 0]
    wd = -wg + tf.linalg.matvec(w_columns(b, fixed_index), tf.gather(g, fixed_index))  # W'd, d = -g off the fixed
    path = _Path(x, d, breakpoint, has_break, b, wd)

    def walk(stages):
        if not stages or n is None or n <= stages[0]:
            return path.walk(tf.argsort(breakpoint, stable=True))[1:]
        _, first = tf.math.top_k(-breakpoint, k=stages[0], sorted=True)
        valid, *found = path.walk(first)
        return tf.cond(valid, lambda: tuple(found), lambda: walk(stages[1:]))

    j, t, passed, c = walk(BREAKPOINT_STAGES)
    bound = tf.where(d > 0, tf.cast(high, dtype) * tf.ones_like(x), tf.cast(low, dtype) * tf.ones_like(x))
    point = tf.where(passed, bound, x + t * d)
    return CauchyPoint(point, ~fixed & ~passed, c, j + 1)


class _Path:
    """The piecewise-quadratic model along the projected path, walked over a sorted list of breakpoints."""

    def __init__(self, x, d, breakpoint, has_break, b: CompactMatrix, wd):
        self.x, self.d, self.breakpoint, self.has_break, self.b = x, d, breakpoint, has_break, b
        self.breaks = tf.reduce_sum(tf.cast(has_break, tf.int32))
        self.unbounded_moving = tf.reduce_any(tf.not_equal(d, 0) & ~has_break)
        self.dd_total = tf.reduce_sum(d * d)
        self.p_total = wd  # W'd

    def walk(self, order):
        """(valid, j, t, passed, c) over the breakpoints ``order`` (indices, ascending breakpoints, length K).

        On segment k (after k breakpoints) with start t_k: ``D_k = d_k'd_k``, ``p_k = W'd_k``,
        ``c_k = W'(x(t_k) - x)``; slope ``f1 = -D_k + theta t_k D_k - c_k'M p_k`` and curvature
        ``f2 = theta D_k - p_k'M p_k`` (prefix sums over the passed variables). j is the segment of the
        first local minimizer, t its parameter, passed the (n,) mask of the first j breakpoints and
        c = W'(x^c - x) = c_j + (t - t_j) p_j. valid is False when the minimizer lies beyond the K
        listed breakpoints and more exist.
        """
        b, dtype = self.b, self.d.dtype
        k_count = order.shape[0]
        inf = tf.constant(float("inf"), dtype)
        listed = tf.gather(self.has_break, order)
        t_sorted = tf.where(listed, tf.gather(self.breakpoint, order), tf.zeros([], dtype))
        d_sorted = tf.gather(self.d, order)
        wd_sorted = w_columns(b, order) * d_sorted  # (2m, K)

        def exclusive(values, axis):  # sums over the first k listed variables, k = 0..K
            zeros = tf.zeros_like(tf.gather(values, [0], axis=axis))
            return tf.concat([zeros, tf.cumsum(values, axis=axis)], axis)

        dd_moving = self.dd_total - exclusive(d_sorted * d_sorted, 0)  # (K+1,)
        p = self.p_total[:, None] - exclusive(wd_sorted, 1)  # (2m, K+1)
        t_start = tf.concat([tf.zeros([1], dtype), t_sorted], 0)
        c = exclusive(wd_sorted * t_sorted, 1) + t_start * p
        mp = middle_times(b, p)
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
        return found | (self.breaks <= k_count), j, t, passed, c[:, j] + (t - t_start[j]) * p[:, j]


def subspace_minimization(x: tf.Tensor, g: tf.Tensor, cauchy: CauchyPoint, low: float, high: float,
                          b: CompactMatrix, wg: tf.Tensor | None = None) -> tf.Tensor:
    """The L-BFGS-B trial point x-bar (n,): m minimized over the free variables from the Cauchy point.

    Direct primal method (Byrd et al. 1995, section 5.1): with Z the free variables,
    ``r = -Z'(g + B(x^c - x))`` and the reduced matrix ``B^ = theta I - Z'W M W'Z``, the step
    ``du = B^^{-1} r = r/theta + Z'W (M^{-1} - W'ZZ'W/theta)^{-1} W'Z r / theta^2``
    (Sherman-Morrison-Woodbury; a 2m x 2m solve). With ``a = -(g + theta (x^c - x))`` and
    ``c = W'(x^c - x)``: ``r = Z'(a + W M c)``, ``W'Zr = W'Za + W'ZZ'W M c`` and
    ``W'Za = -W'g - theta c - W_N' a_N`` over the few variables N that are not free, so the
    step costs ONE pass over the pairs (``du = Z'(a/theta + W (Mc/theta + u/theta^2))``) given
    ``wg`` = W'g. Then, as L-BFGS-B 3.0: ``x^c + du`` is projected onto the box; if the projection
    moved a variable onto a bound and ``(x-bar - x)'g > 0`` (not a descent direction), the step is
    instead cut back to the largest ``alpha <= 1`` that keeps ``x^c + alpha du`` in the box, the
    limiting variable set on its bound. With no stored pair (B = theta I) or no free variable,
    x-bar is the Cauchy point.
    """
    dtype = x.dtype
    free = cauchy.free
    xc = cauchy.point
    zero = tf.zeros_like(x)
    wg = w_times(b, g) if wg is None else wg
    a = -(g + b.theta * (xc - x))
    not_free = tf.where(~free)[:, 0]
    w_not_free = w_columns(b, not_free)  # usually few variables
    pairs_not_free = tf.cast(w_not_free, b.s[0].dtype)  # their products in the pairs' precision
    gram_free = b.gram - tf.cast(tf.matmul(pairs_not_free, pairs_not_free, transpose_b=True), dtype)  # W'ZZ'W
    mc = middle_times(b, cauchy.c)
    wr = -wg - b.theta * cauchy.c - tf.linalg.matvec(w_not_free, tf.gather(a, not_free)) \
        + tf.linalg.matvec(gram_free, mc)
    inner = middle_inverse(b) - gram_free / b.theta
    u = tf.linalg.solve(inner, wr[:, None])[:, 0]
    du = tf.where(free, a / b.theta + w_transpose_times(b, mc / b.theta + u / (b.theta * b.theta)), zero)
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
