"""The Moré-Thuente line search (MINPACK-2 ``dcsrch``/``dcstep``) as TensorFlow scalar ops.

This is the line search of L-BFGS-B (Zhu, Byrd, Lu & Nocedal 1997; Moré & Thuente 1994), written
as a state machine so that it runs inside a ``tf.while_loop``: `start` returns the state for a
step ``stp`` from ``phi(0) = f0, phi'(0) = g0 < 0``; after each evaluation of ``phi(stp)`` and
``phi'(stp)``, `advance` returns the next state, the next trial step, and whether the search
has converged (sufficient decrease ``phi(stp) <= f0 + ftol stp g0`` and curvature
``|phi'(stp)| <= gtol |g0|``) or stopped with a warning (``stp = stpmax`` still descending,
rounding errors, bracket narrower than ``xtol``). The branches follow scipy's Python port
(`scipy.optimize._dcsrch`) of the Fortran line for line; both branches of every ``if`` are
computed and one is selected with ``tf.where`` (the other may be NaN; it is discarded).

All values are scalar tensors of one float dtype (float64 recommended).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

XTRAPL, XTRAPU, P5, P66 = 1.1, 4.0, 0.5, 0.66


class SearchState(NamedTuple):
    """dcsrch's saved state (``isave``/``dsave``): interval [stx, sty] with values and slopes, stage, bounds."""

    brackt: tf.Tensor
    stage: tf.Tensor
    finit: tf.Tensor
    ginit: tf.Tensor
    gtest: tf.Tensor
    width: tf.Tensor
    width1: tf.Tensor
    stx: tf.Tensor
    fx: tf.Tensor
    gx: tf.Tensor
    sty: tf.Tensor
    fy: tf.Tensor
    gy: tf.Tensor
    stmin: tf.Tensor
    stmax: tf.Tensor


def start(stp, f0, g0, ftol: float, stpmin, stpmax) -> SearchState:
    """dcsrch's ``task = 'START'``: the state before the first trial ``stp`` (needs g0 < 0, stpmin <= stp <= stpmax)."""
    zero = tf.zeros_like(f0)
    width = stpmax - stpmin
    return SearchState(tf.constant(False), tf.constant(1), f0, g0, ftol * g0, width, width / P5,
                       zero, f0, g0, zero, f0, g0, zero, stp + XTRAPU * stp)


def _cubic_parts(f_a, f_b, d_a, d_b, st_a, st_b):
    """theta, s of the cubic through (st_a, f_a, d_a) and (st_b, f_b, d_b)."""
    theta = 3.0 * (f_a - f_b) / (st_b - st_a) + d_a + d_b
    s = tf.maximum(tf.maximum(tf.abs(theta), tf.abs(d_a)), tf.abs(d_b))
    return theta, s


def dcstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """One safeguarded step of Moré & Thuente (MINPACK-2 ``dcstep``).

    Returns:
        (stx, fx, dx, sty, fy, dy, stp, brackt): the updated interval and the new trial step.
    """
    sgnd = tf.sign(dp) * tf.sign(dx)
    theta, s = _cubic_parts(fx, fp, dx, dp, stx, stp)

    # Case 1: higher function value; the minimum is bracketed.
    gamma1 = s * tf.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
    gamma1 = tf.where(stp < stx, -gamma1, gamma1)
    r1 = ((gamma1 - dx) + theta) / (((gamma1 - dx) + gamma1) + dp)
    stpc1 = stx + r1 * (stp - stx)
    stpq1 = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
    stpf1 = tf.where(tf.abs(stpc1 - stx) <= tf.abs(stpq1 - stx), stpc1, stpc1 + (stpq1 - stpc1) / 2.0)

    # Case 2: lower value, derivatives of opposite sign; bracketed.
    gamma2 = s * tf.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
    gamma2 = tf.where(stp > stx, -gamma2, gamma2)
    r2 = ((gamma2 - dp) + theta) / (((gamma2 - dp) + gamma2) + dx)
    stpc2 = stp + r2 * (stx - stp)
    stpq2 = stp + (dp / (dp - dx)) * (stx - stp)
    stpf2 = tf.where(tf.abs(stpc2 - stp) > tf.abs(stpq2 - stp), stpc2, stpq2)

    # Case 3: lower value, same sign, the derivative decreases in magnitude.
    gamma3 = s * tf.sqrt(tf.maximum(tf.zeros_like(s), (theta / s) ** 2 - (dx / s) * (dp / s)))
    gamma3 = tf.where(stp > stx, -gamma3, gamma3)
    r3 = ((gamma3 - dp) + theta) / ((gamma3 + (dx - dp)) + gamma3)
    stpc3 = tf.where((r3 < 0) & tf.not_equal(gamma3, 0), stp + r3 * (stx - stp),
                     tf.where(stp > stx, stpmax, stpmin))
    stpq3 = stp + (dp / (dp - dx)) * (stx - stp)
    inside = tf.where(tf.abs(stpc3 - stp) < tf.abs(stpq3 - stp), stpc3, stpq3)
    inside = tf.where(stp > stx, tf.minimum(stp + P66 * (sty - stp), inside),
                      tf.maximum(stp + P66 * (sty - stp), inside))
    outside = tf.clip_by_value(tf.where(tf.abs(stpc3 - stp) > tf.abs(stpq3 - stp), stpc3, stpq3), stpmin, stpmax)
    stpf3 = tf.where(brackt, inside, outside)

    # Case 4: lower value, same sign, the derivative does not decrease in magnitude.
    theta4, s4 = _cubic_parts(fp, fy, dp, dy, stp, sty)
    gamma4 = s4 * tf.sqrt((theta4 / s4) ** 2 - (dy / s4) * (dp / s4))
    gamma4 = tf.where(stp > sty, -gamma4, gamma4)
    r4 = ((gamma4 - dp) + theta4) / (((gamma4 - dp) + gamma4) + dy)
    stpf4 = tf.where(brackt, stp + r4 * (sty - stp), tf.where(stp > stx, stpmax, stpmin))

    case1 = fp > fx
    case2 = ~case1 & (sgnd < 0)
    case3 = ~case1 & ~case2 & (tf.abs(dp) < tf.abs(dx))
    stpf = tf.where(case1, stpf1, tf.where(case2, stpf2, tf.where(case3, stpf3, stpf4)))
    brackt = brackt | case1 | case2

    # Update the interval that contains a minimizer.
    move_y = case1 | (~case1 & (sgnd < 0))
    new_sty = tf.where(case1, stp, tf.where(move_y, stx, sty))
    new_fy = tf.where(case1, fp, tf.where(move_y, fx, fy))
    new_dy = tf.where(case1, dp, tf.where(move_y, dx, dy))
    new_stx = tf.where(case1, stx, stp)
    new_fx = tf.where(case1, fx, fp)
    new_dx = tf.where(case1, dx, dp)
    return new_stx, new_fx, new_dx, new_sty, new_fy, new_dy, stpf, brackt


def advance(state: SearchState, stp, f, g, gtol: float, xtol: float, stpmin, stpmax):
    """dcsrch after an evaluation ``f = phi(stp), g = phi'(stp)``.

    Returns:
        (state, next_stp, converged, warned): when ``converged | warned`` the search is over and
        ``next_stp == stp`` (the point just evaluated is the result, as in L-BFGS-B); otherwise
        ``next_stp`` is the next trial, in ``[stpmin, stpmax]``.
    """
    st = state
    ftest = st.finit + stp * st.gtest
    stage = tf.where((st.stage == 1) & (f <= ftest) & (g >= 0), 2, st.stage)
    warned = ((st.brackt & ((stp <= st.stmin) | (stp >= st.stmax)))
              | (st.brackt & (st.stmax - st.stmin <= xtol * st.stmax))
              | (tf.equal(stp, stpmax) & (f <= ftest) & (g <= st.gtest))
              | (tf.equal(stp, stpmin) & ((f > ftest) | (g >= st.gtest))))
    converged = (f <= ftest) & (tf.abs(g) <= gtol * -st.ginit)

    # In the first stage, a step with a lower value that fails sufficient decrease uses the
    # modified function psi(a) = phi(a) - phi(0) - ftol a phi'(0).
    modified = (stage == 1) & (f <= st.fx) & (f > ftest)
    shift = tf.where(modified, st.gtest, tf.zeros_like(st.gtest))
    stx, fx, gx, sty, fy, gy, new_stp, brackt = dcstep(
        st.stx, st.fx - st.stx * shift, st.gx - shift, st.sty, st.fy - st.sty * shift, st.gy - shift,
        stp, f - stp * shift, g - shift, st.brackt, st.stmin, st.stmax)
    fx, fy, gx, gy = fx + stx * shift, fy + sty * shift, gx + shift, gy + shift

    bisect = brackt & (tf.abs(sty - stx) >= P66 * st.width1)
    new_stp = tf.where(bisect, stx + P5 * (sty - stx), new_stp)
    width1 = tf.where(brackt, st.width, st.width1)
    width = tf.where(brackt, tf.abs(sty - stx), st.width)
    stmin = tf.where(brackt, tf.minimum(stx, sty), new_stp + XTRAPL * (new_stp - stx))
    stmax = tf.where(brackt, tf.maximum(stx, sty), new_stp + XTRAPU * (new_stp - stx))
    new_stp = tf.clip_by_value(new_stp, stpmin, stpmax)
    stuck = (brackt & ((new_stp <= stmin) | (new_stp >= stmax))) | (brackt & (stmax - stmin <= xtol * stmax))
    new_stp = tf.where(stuck, stx, new_stp)

    done = converged | warned
    updated = SearchState(brackt, stage, st.finit, st.ginit, st.gtest, width, width1, stx, fx, gx, sty, fy, gy,
                          stmin, stmax)
    state = SearchState(*(tf.where(done, old, new) for old, new in zip(st, updated)))
    return state, tf.where(done, stp, new_stp), converged, warned
