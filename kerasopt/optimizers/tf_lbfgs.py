"""On-device L-BFGS-B for tf.Variables: the whole iteration runs inside one compiled tf.function.

`TFLBFGS` is the in-graph counterpart of the scipy driver `kerasopt.optimizers.lbfgs.LBFGS`
(same constructor budget arguments, same ``minimize`` contract, same `LBFGSResult`) and follows
scipy's L-BFGS-B (version 3.0 of Zhu, Byrd, Lu & Nocedal's code) step by step:

- **Model**: the compact limited-memory matrix ``B = theta I - W M W'`` of the last
  ``history_size`` pairs (Byrd, Nocedal & Schnabel 1994), ``theta = y'y / s'y`` of the newest
  pair (1 with no pair); a pair is stored only if ``s'y > eps * (-g's)``
  (`kerasopt.optimizers.compact_bfgs`).
- **Box** (``bounds=(low, high)``, scalars for every element): generalized Cauchy point along
  the projected steepest-descent path, then minimization of the model over the variables free
  there, projected onto the box (with L-BFGS-B 3.0's backtracking when the projection is not a
  descent direction) (Byrd, Lu, Nocedal & Zhu 1995). Without bounds this is L-BFGS.
- **Line search**: Moré-Thuente (MINPACK-2 ``dcsrch``, `kerasopt.optimizers.more_thuente`)
  along ``d = x-bar - x`` with ``ftol=c1=1e-3, gtol=c2=0.9, xtol=0.1``; its largest step keeps
  the iterate in the box (1 on the very first iteration of a bounded problem); the first trial
  is ``stp = 1`` (``1/||d||`` on the first iteration of a problem that is not boxed on both
  sides). More than ``max_line_search`` (20) trials, or a direction that is not a descent
  direction, restores the iterate and clears the memory (with an empty memory: the run ends).
- **Budget**: ``max_evaluations`` counts every loss-and-gradient evaluation (the one at the
  start and every line-search trial), as scipy does, and is never exceeded: the line search
  stops before an evaluation beyond it. If the interrupted line search has met sufficient
  decrease, its lowest such trial is accepted as the last iteration; otherwise the run ends at
  the last accepted iterate.
- **Precision**: the optimizer works in float64 (x, g, the pairs, as scipy does); the loss is
  evaluated at x cast to the variables' dtype and its gradient is cast back.
- **Host traffic**: each iteration (Cauchy point, subspace step, line search, memory update) is
  ONE call of a compiled tf.function; only scalars (loss, counts, a status code) come back to
  Python, for the callback and the stopping tests.

References:
    Byrd, R. H., Lu, P., Nocedal, J. & Zhu, C. (1995). A limited memory algorithm for
    bound constrained optimization. SIAM J. Sci. Comput. 16(5), 1190-1208.
    Byrd, R. H., Nocedal, J. & Schnabel, R. B. (1994). Representations of quasi-Newton matrices
    and their use in limited memory methods. Math. Programming 63, 129-156.
    Morales, J. L. & Nocedal, J. (2011). Remark on "Algorithm 778: L-BFGS-B". ACM TOMS 38(1).
    Moré, J. J. & Thuente, D. J. (1994). Line search algorithms with guaranteed sufficient
    decrease. ACM TOMS 20(3), 286-307.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerasopt.optimizers import more_thuente
from kerasopt.optimizers.compact_bfgs import (CauchyPoint, compact_matrix, generalized_cauchy_point,
                                              subspace_minimization)
from kerasopt.optimizers.lbfgs import Callback, LBFGSResult, check_bounds, check_budget, stopping_tolerances

# Status codes of one compiled iteration.
ACCEPTED, BUDGET_DECREASE, NO_DECREASE, NON_FINITE, RESTART, ABNORMAL, BUDGET = 0, 1, 2, 3, 4, 5, 6
_MESSAGES = {
    NO_DECREASE: "line search ended at a point no lower than the iterate",
    NON_FINITE: "non-finite loss or gradient",
    ABNORMAL: "abnormal termination in line search (no descent with an empty memory)",
}
XTOL = 0.1  # dcsrch's relative bracket tolerance in L-BFGS-B
BIG_STEP = 1e10  # L-BFGS-B's largest line-search step without bounds


class FlatProblem:
    """The variables of ``minimize`` seen as one flat vector.

    Args:
        loss_fn: no-argument callable returning a scalar tensor that reads ``variables``.
        variables: float `tf.Variable`s or `keras.Variable`s, any shapes.

    Attributes:
        dtype: working dtype (``dtype`` if given, else that of the first variable); the flat
            vector has shape (n,).
        size: n, the total number of elements.
    """

    def __init__(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence, dtype=None):
        self.loss_fn = loss_fn
        self.variables = list(variables)
        if not self.variables:
            raise ValueError("minimize needs at least one variable. Received: variables=[]")
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = int(sum(self.sizes))
        self.dtype = tf.as_dtype(dtype if dtype is not None else np.asarray(self.variables[0].numpy()).dtype)

    def read(self) -> tf.Tensor:
        """The current values as a flat (n,) tensor of `dtype`."""
        return tf.concat([tf.reshape(tf.cast(tf.convert_to_tensor(v), self.dtype), [-1]) for v in self.variables], 0)

    def assign(self, flat: tf.Tensor) -> None:
        """Write the flat (n,) vector into the variables."""
        for variable, part, shape in zip(self.variables, tf.split(flat, self.sizes), self.shapes):
            variable.assign(tf.reshape(tf.cast(part, variable.dtype), shape))

    def value_and_gradient(self, flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Loss (scalar) and flat gradient (n,) at ``flat``; the variables are left holding ``flat``."""
        self.assign(flat)
        with tf.GradientTape() as tape:
            loss = tf.cast(self.loss_fn(), self.dtype)
        gradients = tape.gradient(loss, self.variables)
        gradients = [tf.zeros_like(v) if g is None else g for v, g in zip(self.variables, gradients)]
        return loss, tf.concat([tf.reshape(tf.cast(g, self.dtype), [-1]) for g in gradients], 0)


def dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Inner product of two flat vectors (scalar)."""
    return tf.reduce_sum(a * b)




def _autographed(loss_fn: Callable[[], tf.Tensor]) -> Callable[[], tf.Tensor]:
    """``loss_fn`` converted by AutoGraph (Python control flow on tensors becomes tf.cond/while).

    The driver's own compiled functions are traced with ``autograph=False`` (its control flow is
    explicit; converting it took seconds of tracing), so only the user's loss is converted, as a
    plain ``tf.function`` would. A function AutoGraph cannot convert is used as it is.
    """
    try:
        return tf.autograph.to_graph(loss_fn)
    except Exception:  # e.g. a lambda AutoGraph cannot parse: trace it unconverted
        return loss_fn


class TFLBFGS:
    """L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995) compiled into one tf.function per iteration.

    Args:
        max_iterations: int > 0 or None, budget in accepted iterations.
        max_evaluations: int > 0 or None, budget in loss-and-gradient evaluations (the start
            and every line-search trial); never exceeded. With neither budget, 15000 each
            (scipy's defaults).
        history_size: int > 0, correction pairs kept (default 10, scipy's ``maxcor``).
        bounds: optional ``(low, high)`` scalars for every element (None: unbounded side).
        ftol: stop when ``(f_old - f_new) <= ftol * max(|f_old|, |f_new|, 1)``.
        gtol: stop when the projected gradient's largest component is ``<= gtol``.
            Both default to 0 with a budget (use the whole budget), else to scipy's
            ``2.2e-9`` and ``1e-5``.
        max_line_search: int > 0, most evaluations in one line search (default 20, scipy's ``maxls``).
        c1, c2: sufficient-decrease and curvature constants of the line search,
            ``0 < c1 < c2 < 1`` (default 1e-3, 0.9 as L-BFGS-B).
        jit_compile: compile the iteration with XLA.
    """

    def __init__(
        self,
        max_iterations: int | None = None,
        max_evaluations: int | None = None,
        history_size: int = 10,
        bounds: tuple[float | None, float | None] | None = None,
        ftol: float | None = None,
        gtol: float | None = None,
        max_line_search: int = 20,
        c1: float = 1e-3,
        c2: float = 0.9,
        jit_compile: bool = False,
    ):
        self.max_iterations = check_budget("lbfgs", "max_iterations", max_iterations)
        self.max_evaluations = check_budget("lbfgs", "max_evaluations", max_evaluations)
        self.history_size = check_budget("lbfgs", "history_size", history_size)
        self.max_line_search = check_budget("lbfgs", "max_line_search", max_line_search)
        self.bounds = None if bounds is None else tuple(bounds)
        self._box = check_bounds("lbfgs", bounds)
        if not 0.0 < c1 < c2 < 1.0:
            raise ValueError(f"lbfgs needs 0 < c1 < c2 < 1. Received: c1={c1}, c2={c2}")
        self.ftol, self.gtol = stopping_tolerances("lbfgs", ftol, gtol, self.max_iterations, self.max_evaluations)
        self.c1, self.c2 = float(c1), float(c2)
        self.jit_compile = bool(jit_compile)

    def get_config(self) -> dict:
        return {
            "max_iterations": self.max_iterations, "max_evaluations": self.max_evaluations,
            "history_size": self.history_size, "bounds": self.bounds, "ftol": self.ftol, "gtol": self.gtol,
            "max_line_search": self.max_line_search, "c1": self.c1, "c2": self.c2,
            "jit_compile": self.jit_compile,
        }

    def _limits(self) -> tuple[int, int]:
        iterations = self.max_iterations if self.max_iterations is not None else 15000
        evaluations = self.max_evaluations if self.max_evaluations is not None else 15000
        if self.max_evaluations is None and self.max_iterations is not None:
            evaluations = 2**62  # only the iteration budget binds
        if self.max_iterations is None and self.max_evaluations is not None:
            iterations = 2**62
        return iterations, evaluations

    def minimize(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence,
                 callback: Callback | None = None) -> LBFGSResult:
        """Minimise ``loss_fn()`` over ``variables`` in place.

        Args:
            loss_fn: no-argument callable returning a scalar float tensor that reads ``variables``.
            variables: float `tf.Variable`s / `keras.Variable`s, any shapes (the optimizer works
                in float64; the loss sees the variables' own dtype).
            callback: optional ``callback(iteration, evaluations, seconds, loss)`` after every
                accepted iteration; returning True stops.

        Returns:
            An `LBFGSResult`; the variables hold the last accepted iterate (the lowest loss
            accepted; on divergence the last finite iterate).
        """
        problem = FlatProblem(_autographed(loss_fn), variables, dtype=tf.float64)
        state = _State(problem.size, self.history_size)
        max_iterations, max_evaluations = self._limits()
        initialize, iterate = self._compile(problem, state, max_evaluations)

        trace_start = time.perf_counter()
        initialize = initialize.get_concrete_function()
        iterate = iterate.get_concrete_function()
        trace_seconds = time.perf_counter() - trace_start

        start = time.perf_counter()
        loss, projected_gradient = (float(v) for v in initialize())
        evaluations, iterations = 1, 0
        if not math.isfinite(loss):
            problem.assign(state.x)
            return LBFGSResult(loss, 0, 1, time.perf_counter() - start, trace_seconds, "diverged",
                               "non-finite loss or gradient at the start point")
        status, message = "completed", f"budget of {max_iterations} iterations used"
        if projected_gradient <= self.gtol:
            message = "projected gradient <= gtol"
        while iterations < max_iterations and projected_gradient > self.gtol:
            if evaluations >= max_evaluations:
                message = f"budget of {max_evaluations} evaluations used"
                break
            previous = loss
            code, new_loss, evaluations, projected_gradient = (x.numpy() for x in iterate())
            code, evaluations, projected_gradient = int(code), int(evaluations), float(projected_gradient)
            if code == RESTART:  # memory cleared, same iterate: compute a new direction
                continue
            if code in (NO_DECREASE, NON_FINITE, ABNORMAL, BUDGET):
                if code == NON_FINITE:
                    status = "diverged"
                    message = f"{_MESSAGES[code]} at evaluation {evaluations}"
                elif code == BUDGET or (code == NO_DECREASE and evaluations >= max_evaluations):
                    message = f"budget of {max_evaluations} evaluations used"
                else:
                    message = _MESSAGES[code]
                break
            loss = float(new_loss)
            iterations += 1
            if callback is not None and callback(iterations, evaluations, time.perf_counter() - start, loss):
                message = "stopped by callback"
                break
            if previous - loss <= self.ftol * max(abs(previous), abs(loss), 1.0):
                message = "relative reduction <= ftol"
                break
            if projected_gradient <= self.gtol:
                message = "projected gradient <= gtol"
        seconds = time.perf_counter() - start
        return LBFGSResult(loss=loss, iterations=iterations, evaluations=evaluations, seconds=seconds,
                           trace_seconds=trace_seconds, status=status, message=message)

    def _compile(self, problem: FlatProblem, state: "_State", max_evaluations: int):
        """The two compiled functions: ``initialize()`` and ``iterate()`` (see `minimize`)."""
        dtype = problem.dtype
        low, high = self._box if self._box is not None else (-math.inf, math.inf)
        bounded = self._box is not None and (math.isfinite(low) or math.isfinite(high))
        boxed = math.isfinite(low) and math.isfinite(high)
        c1, c2 = self.c1, self.c2
        budget = tf.constant(max_evaluations, tf.int64)
        max_line_search = self.max_line_search
        eps = tf.constant(np.finfo(np.float64).eps, dtype)
        history_size = self.history_size
        one = tf.ones([], dtype)
        evaluate = problem.value_and_gradient

        def project(x):
            return tf.clip_by_value(x, low, high) if bounded else x

        def projected_gradient_norm(x, g):
            return tf.reduce_max(tf.abs(project(x - g) - x))

        @tf.function(jit_compile=self.jit_compile, autograph=False)
        def initialize():
            x = project(problem.read())
            loss, gradient = evaluate(x)
            state.x.assign(x)
            state.f.assign(loss)
            state.g.assign(gradient)
            state.clear()
            state.iterations.assign(0)
            state.evaluations.assign(1)
            return loss, projected_gradient_norm(x, gradient)

        def model():
            """The `CompactMatrix` of the memory; a memory whose middle matrix is singular is cleared first."""
            b = compact_matrix(state.s, state.y, state.count, state.theta)
            healthy = tf.reduce_all(tf.math.is_finite(b.middle))

            def refreshed():
                state.clear()
                return compact_matrix(state.s, state.y, state.count, state.theta)

            return tf.cond(healthy, lambda: b, refreshed)

        def trial_point(x, g, b):
            """L-BFGS-B's x-bar: Cauchy point then subspace minimization (L-BFGS without bounds)."""
            if bounded:
                cauchy = generalized_cauchy_point(x, g, low, high, b)
            else:  # L-BFGS-B skips the Cauchy point of an unconstrained problem once it has pairs
                cauchy = tf.cond(
                    b.used > 0,
                    lambda: CauchyPoint(x, tf.ones_like(x, tf.bool), tf.zeros([2 * history_size], dtype),
                                        tf.constant(0)),
                    lambda: generalized_cauchy_point(x, g, low, high, b))
            return subspace_minimization(x, g, cauchy, low, high, b)

        def largest_step(x, d):
            """L-BFGS-B's ``stpmx``: 1 on the first iteration of a bounded problem, else the step to the box."""
            if not bounded:
                return tf.constant(BIG_STEP, dtype)
            to_low = tf.where(d < 0, (low - x) / tf.where(d < 0, d, one), tf.constant(BIG_STEP, dtype))
            to_high = tf.where(d > 0, (high - x) / tf.where(d > 0, d, one), tf.constant(BIG_STEP, dtype))
            step = tf.maximum(tf.minimum(tf.minimum(tf.reduce_min(to_low), tf.reduce_min(to_high)), BIG_STEP), 0.0)
            return tf.where(state.iterations == 0, one, step)

        def line_search(x0, f0, g0, d, slope0, xbar, stpmax):
            """Moré-Thuente trials along d; stops on convergence/warning, non-finite values, maxls or the budget."""
            stp = one if boxed else tf.where(state.iterations == 0, tf.minimum(1.0 / tf.norm(d), stpmax), one)
            search = more_thuente.start(stp, f0, slope0, c1, tf.zeros([], dtype), stpmax)
            nothing = (f0, x0, g0)

            def trial(stp, search, trials, evaluations, done, finite, last, best):
                x_t = tf.where(tf.equal(stp, 1.0), xbar, project(x0 + stp * d))
                f_t, g_t = evaluate(x_t)
                evaluations, trials = evaluations + 1, trials + 1
                finite = tf.math.is_finite(f_t) & tf.reduce_all(tf.math.is_finite(g_t))
                search, next_stp, converged, warned = more_thuente.advance(
                    search, stp, f_t, dot(g_t, d), c2, XTOL, tf.zeros([], dtype), stpmax)
                decrease = finite & (f_t <= f0 + c1 * stp * slope0) & (f_t < best[0])
                best = tuple(tf.where(decrease, new, old) for new, old in zip((f_t, x_t, g_t), best))
                return next_stp, search, trials, evaluations, converged | warned, finite, (f_t, x_t, g_t), best

            def searching(stp, search, trials, evaluations, done, finite, last, best):
                return ~done & finite & (trials < max_line_search) & (evaluations < budget)

            loop = (stp, search, tf.constant(0), state.evaluations.read_value(), tf.constant(False),
                    tf.constant(True), nothing, nothing)
            _, _, _, evaluations, done, finite, last, best = tf.while_loop(searching, trial, loop)
            return evaluations, done, finite, last, best

        def remember(s, y, slope):
            """Store the pair (s, y) if ``s'y > eps * (-g's)`` (L-BFGS-B's skip rule)."""
            curvature = dot(s, y)

            def push():
                state.s.assign(tf.concat([state.s[1:], s[None]], 0))
                state.y.assign(tf.concat([state.y[1:], y[None]], 0))
                state.count.assign(tf.minimum(state.count + 1, history_size))
                state.theta.assign(dot(y, y) / curvature)
                return tf.constant(True)

            return tf.cond(curvature > eps * -slope, push, lambda: tf.constant(False))

        def accept(x0, g0, point):
            f, x, g = point
            remember(x - x0, g - g0, dot(g0, x - x0))
            state.iterations.assign_add(1)
            state.x.assign(x)
            state.f.assign(f)
            state.g.assign(g)
            return tf.constant(0)

        def failed():
            """Line search failure: clear a non-empty memory and retry, else give up (L-BFGS-B)."""
            empty = tf.equal(state.count, 0)
            state.clear()
            return tf.where(empty, ABNORMAL, RESTART)

        @tf.function(jit_compile=self.jit_compile, autograph=False)
        def iterate():
            x0, f0, g0 = state.x.read_value(), state.f.read_value(), state.g.read_value()
            b = model()
            xbar = trial_point(x0, g0, b)
            d = xbar - x0
            slope = dot(g0, d)

            def search():
                evaluations, done, finite, last, best = line_search(x0, f0, g0, d, slope, xbar, largest_step(x0, d))
                state.evaluations.assign(evaluations)
                lower = last[0] <= f0  # scipy accepts an equal loss (then stops by ftol)
                interrupted = ~done & (evaluations >= budget)
                code = tf.where(~finite, NON_FINITE,
                                tf.where(done, tf.where(lower, ACCEPTED, NO_DECREASE),
                                         tf.where(interrupted, tf.where(best[0] < f0, BUDGET_DECREASE, BUDGET),
                                                  RESTART)))
                code = tf.cond(tf.equal(code, ACCEPTED), lambda: accept(x0, g0, last) + ACCEPTED, lambda: code)
                code = tf.cond(tf.equal(code, BUDGET_DECREASE), lambda: accept(x0, g0, best) + BUDGET_DECREASE,
                               lambda: code)
                return tf.cond(tf.equal(code, RESTART), failed, lambda: code)

            code = tf.cond(slope < 0, search, failed)
            x = state.x.read_value()
            problem.assign(x)
            return code, state.f.read_value(), state.evaluations.read_value(), projected_gradient_norm(x, state.g)

        return initialize, iterate


class _State:
    """tf.Variables of one `TFLBFGS.minimize` call: iterate, gradient, curvature memory, counts (float64).

    Attributes:
        x, g: (n,) current iterate and its gradient; f: its loss (scalar).
        s, y: (history_size, n) the pairs, oldest first, right-aligned (the last ``count`` rows).
        count: int32 pairs stored; theta: scalar, B0 = theta I (1 with an empty memory).
        iterations: int32 accepted iterations (the first one may not step beyond 1 on a box).
        evaluations: int64 evaluations so far.
    """

    def __init__(self, n: int, history_size: int):
        dtype = tf.float64
        self.x = tf.Variable(tf.zeros([n], dtype), trainable=False)
        self.g = tf.Variable(tf.zeros([n], dtype), trainable=False)
        self.f = tf.Variable(tf.zeros([], dtype), trainable=False)
        self.s = tf.Variable(tf.zeros([history_size, n], dtype), trainable=False)
        self.y = tf.Variable(tf.zeros([history_size, n], dtype), trainable=False)
        self.count = tf.Variable(0, trainable=False)
        self.theta = tf.Variable(tf.ones([], dtype), trainable=False)
        self.iterations = tf.Variable(0, trainable=False)
        self.evaluations = tf.Variable(tf.constant(0, tf.int64), trainable=False)

    def clear(self) -> None:
        """Empty the memory: no pairs, theta = 1 (L-BFGS-B's refresh)."""
        self.s.assign(tf.zeros_like(self.s))
        self.y.assign(tf.zeros_like(self.y))
        self.count.assign(0)
        self.theta.assign(tf.ones_like(self.theta))
