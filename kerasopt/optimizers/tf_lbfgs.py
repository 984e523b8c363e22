"""On-device L-BFGS for tf.Variables: the whole iteration runs inside one compiled tf.function.

`TFLBFGS` is the in-graph counterpart of the scipy driver `kerasopt.optimizers.lbfgs.LBFGS`
(same constructor budget arguments, same ``minimize`` contract, same `LBFGSResult`):

- **Direction**: the two-loop recursion (Nocedal & Wright 2006, Alg. 7.4; Liu & Nocedal
  1989) over the last ``history_size`` correction pairs (s, y), kept in a circular buffer
  of tf.Variables (``history_size`` x n each), initial matrix ``H0 = (s'y / y'y) I``.
  A pair is stored only if ``s'y > eps * y'y`` (curvature positive), so H stays positive
  definite.
- **Line search**: strong Wolfe conditions by bracketing and zoom with safeguarded cubic
  interpolation (Nocedal & Wright 2006, Alg. 3.5/3.6), constants ``c1=1e-3, c2=0.9`` as
  scipy's L-BFGS-B. The first trial step is 1, except on the first iteration (or after a
  memory reset) of an unbounded problem, where it is ``1/||d||_2`` (as L-BFGS-B). On a box,
  only the very first iteration caps the step at 1 (as L-BFGS-B's ``stpmx``); every later
  line search may extrapolate, also after a memory reset or a rejected pair, so a run whose
  pairs have non-positive curvature does not creep along at step 1.
- **Bounds** (``bounds=(low, high)``, scalars for every element): projected L-BFGS with an
  active set. A variable at a bound whose gradient pushes outward is *active*: its
  gradient component is zeroed before the two-loop and its direction component after.
  Trial points are projected onto the box, ``x(a) = clip(x + a d)``; the line search
  works on the projected path: sufficient decrease ``f(x(a)) <= f(x) + c1 g'(x(a) - x)``
  and the one-sided derivative ``phi'(a) = g(x(a))' d_free(a)`` (components clipped at
  ``a`` do not move). This is not L-BFGS-B's generalized Cauchy point (Byrd et al.
  1995): it is cheaper (no breakpoint sort) and identical to L-BFGS without bounds;
  iterates may differ from scipy's when bounds are active.
- **Budget**: ``max_evaluations`` counts every loss-and-gradient evaluation (the one at the
  start and every line-search trial), as scipy does, and is never exceeded: the line
  search stops before an evaluation beyond it. If the interrupted line search has met
  sufficient decrease, its lowest trial is accepted as the last iteration; otherwise
  the run ends at the last accepted iterate.
- **Host traffic**: each iteration (direction, line search, history update) is ONE call
  of a compiled tf.function with ``tf.while_loop``s; only scalars (loss, counts, a
  status code) come back to Python, for the callback and the stopping tests.

References:
    Liu, D. C. & Nocedal, J. (1989). On the limited memory BFGS method for large scale
    optimization. Mathematical Programming 45, 503-528.
    Nocedal, J. & Wright, S. J. (2006). Numerical Optimization, 2nd ed., Springer
    (Alg. 3.5/3.6 line search, Alg. 7.4 two-loop recursion).
    Byrd, R. H., Lu, P., Nocedal, J. & Zhu, C. (1995). A limited memory algorithm for
    bound constrained optimization. SIAM J. Sci. Comput. 16(5), 1190-1208.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerasopt.optimizers.lbfgs import Callback, LBFGSResult

# Status codes of one compiled iteration.
WOLFE, DECREASE, NO_DECREASE, NON_FINITE, STATIONARY = 0, 1, 2, 3, 4
_MESSAGES = {
    NO_DECREASE: "line search found no lower point",
    NON_FINITE: "non-finite loss or gradient",
    STATIONARY: "projected gradient is zero",
}


def check_budget(name: str, label: str, value) -> int | None:
    """``value`` as a positive int or None; ValueError "... Received: label=value" otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} needs {label} to be a positive integer. Received: {label}={value}")
    return int(value)


def check_bounds(name: str, bounds) -> tuple[float, float] | None:
    """``(low, high)`` with None replaced by -inf/inf, or None; ValueError on a bad pair."""
    if bounds is None:
        return None
    if len(bounds) != 2:
        raise ValueError(f"{name} bounds must be a (low, high) pair. Received: bounds={bounds}")
    low = -math.inf if bounds[0] is None else float(bounds[0])
    high = math.inf if bounds[1] is None else float(bounds[1])
    if not low < high:
        raise ValueError(f"{name} bounds need low < high. Received: bounds={bounds}")
    return low, high


class FlatProblem:
    """The variables of ``minimize`` seen as one flat vector.

    Args:
        loss_fn: no-argument callable returning a scalar tensor that reads ``variables``.
        variables: float `tf.Variable`s or `keras.Variable`s, any shapes.

    Attributes:
        dtype: working dtype (that of the first variable); the flat vector has shape (n,).
        size: n, the total number of elements.
    """

    def __init__(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence):
        self.loss_fn = loss_fn
        self.variables = list(variables)
        if not self.variables:
            raise ValueError("minimize needs at least one variable. Received: variables=[]")
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.size = int(sum(self.sizes))
        self.dtype = tf.as_dtype(np.asarray(self.variables[0].numpy()).dtype)

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


def cubic_minimizer(a0, f0, d0, a1, f1, d1, low, high):
    """Minimizer of the cubic through (a0, f0, slope d0) and (a1, f1, slope d1), clipped to [low, high].

    Nocedal & Wright (2006), eq. 3.59; the midpoint of [low, high] when the cubic has no minimizer.
    """
    d_1 = d0 + d1 - 3.0 * (f0 - f1) / (a0 - a1)
    radicand = d_1 * d_1 - d0 * d1
    d_2 = tf.sign(a1 - a0) * tf.sqrt(tf.maximum(radicand, 0.0))
    candidate = a1 - (a1 - a0) * (d1 + d_2 - d_1) / (d1 - d0 + 2.0 * d_2)
    usable = (radicand >= 0.0) & tf.math.is_finite(candidate)
    return tf.where(usable, tf.clip_by_value(tf.where(usable, candidate, low), low, high), 0.5 * (low + high))


def zoom_trial(lo_a, lo_f, lo_d, hi_a, hi_f, hi_d):
    """Next trial inside the bracket: the cubic minimizer kept 10% of the width away from its ends."""
    left, right = tf.minimum(lo_a, hi_a), tf.maximum(lo_a, hi_a)
    margin = 0.1 * (right - left)
    return cubic_minimizer(lo_a, lo_f, lo_d, hi_a, hi_f, hi_d, left + margin, right - margin)


def extrapolation_trial(prev_a, prev_f, prev_d, a, f, d):
    """Next trial beyond ``a`` while the bracket is not found: the cubic step clipped to [1.1a, 4a]."""
    return cubic_minimizer(prev_a, prev_f, prev_d, a, f, d, 1.1 * a, 4.0 * a)


class TFLBFGS:
    """Projected L-BFGS with a strong Wolfe line search, compiled into one tf.function per iteration.

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
        max_line_search: int > 0, most evaluations in one line search (default 20).
        c1, c2: Wolfe constants, ``0 < c1 < c2 < 1`` (default 1e-3, 0.9 as L-BFGS-B).
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
        self.max_iterations = check_budget("tf_lbfgs", "max_iterations", max_iterations)
        self.max_evaluations = check_budget("tf_lbfgs", "max_evaluations", max_evaluations)
        self.history_size = check_budget("tf_lbfgs", "history_size", history_size)
        self.max_line_search = check_budget("tf_lbfgs", "max_line_search", max_line_search)
        self.bounds = None if bounds is None else tuple(bounds)
        self._box = check_bounds("tf_lbfgs", bounds)
        if not 0.0 < c1 < c2 < 1.0:
            raise ValueError(f"tf_lbfgs needs 0 < c1 < c2 < 1. Received: c1={c1}, c2={c2}")
        for label, value in (("ftol", ftol), ("gtol", gtol)):
            if value is not None and not value >= 0:
                raise ValueError(f"tf_lbfgs needs {label} >= 0. Received: {label}={value}")
        fixed_budget = self.max_iterations is not None or self.max_evaluations is not None
        self.ftol = float(ftol) if ftol is not None else (0.0 if fixed_budget else 2.220446049250313e-09)
        self.gtol = float(gtol) if gtol is not None else (0.0 if fixed_budget else 1e-5)
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
            variables: float `tf.Variable`s / `keras.Variable`s, any shapes (computed in the
                first one's dtype).
            callback: optional ``callback(iteration, evaluations, seconds, loss)`` after every
                accepted iteration; returning True stops.

        Returns:
            An `LBFGSResult`; the variables hold the last accepted iterate (the lowest loss
            evaluated; on divergence the last finite iterate).
        """
        problem = FlatProblem(loss_fn, variables)
        state = _State(problem, self.history_size)
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
            code, loss, evaluations, projected_gradient = (x.numpy() for x in iterate())
            code, loss, evaluations, projected_gradient = int(code), float(loss), int(evaluations), float(
                projected_gradient)
            if code in (NON_FINITE, NO_DECREASE, STATIONARY):
                if code == NON_FINITE:
                    status = "diverged"
                message = _MESSAGES[code] + (f" at evaluation {evaluations}" if code == NON_FINITE else "")
                if code == NO_DECREASE and evaluations >= max_evaluations:
                    message = f"budget of {max_evaluations} evaluations used"
                break
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
        bounded = self._box is not None
        c1, c2 = tf.constant(self.c1, dtype), tf.constant(self.c2, dtype)
        budget = tf.constant(max_evaluations, tf.int64)
        max_line_search = self.max_line_search
        tiny = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
        history_size = self.history_size

        def project(x):
            return tf.clip_by_value(x, low, high) if bounded else x

        def projected_gradient_norm(x, g):
            return tf.reduce_max(tf.abs(project(x - g) - x))

        def active_set(x, g):
            if not bounded:
                return tf.zeros_like(x, tf.bool)
            return ((x <= low) & (g > 0)) | ((x >= high) & (g < 0))

        @tf.function(jit_compile=self.jit_compile)
        def initialize():
            x = project(problem.read())
            loss, gradient = problem.value_and_gradient(x)
            state.x.assign(x)
            state.f.assign(loss)
            state.g.assign(gradient)
            state.count.assign(0)
            state.head.assign(0)
            state.iterations.assign(0)
            state.evaluations.assign(1)
            return loss, projected_gradient_norm(x, gradient)

        def two_loop(q):
            """-H q by the two-loop recursion over the stored pairs (newest first)."""
            count, head = state.count, state.head

            def index(i):  # i-th newest pair
                return tf.math.floormod(head - 1 - i, history_size)

            def backward(i, q, alphas):
                j = index(i)
                alpha = state.rho[j] * dot(state.s[j], q)
                return i + 1, q - alpha * state.y[j], tf.tensor_scatter_nd_update(alphas, [[j]], [alpha])

            _, q, alphas = tf.while_loop(lambda i, q, a: i < count, backward,
                                         (tf.constant(0), q, tf.zeros([history_size], dtype)))
            newest = index(0)
            gamma = tf.where(count > 0, dot(state.s[newest], state.y[newest]) /
                             dot(state.y[newest], state.y[newest]), tf.ones([], dtype))
            r = gamma * q

            def forward(i, r):
                j = index(count - 1 - i)
                beta = state.rho[j] * dot(state.y[j], r)
                return i + 1, r + (alphas[j] - beta) * state.s[j]

            _, r = tf.while_loop(lambda i, r: i < count, forward, (tf.constant(0), r))
            return -r

        def direction(x, g):
            """Descent direction (n,) with active components zeroed, its slope g'd, first and largest step."""
            active = active_set(x, g)
            free_gradient = tf.where(active, tf.zeros_like(g), g)
            d = tf.where(active, tf.zeros_like(g), two_loop(free_gradient))
            slope = dot(g, d)
            reset = ~(slope < 0) | ~tf.math.is_finite(slope)
            state.count.assign(tf.where(reset, 0, state.count))
            d = tf.where(reset, -free_gradient, d)
            slope = tf.where(reset, -dot(free_gradient, free_gradient), slope)
            infinite = tf.constant(math.inf, dtype)
            if not bounded:
                step = tf.where(state.count == 0, 1.0 / tf.maximum(tf.norm(d), tiny), tf.ones([], dtype))
                max_step = infinite
            else:  # as L-BFGS-B: the very first step of a bounded problem is the steepest-descent step 1,
                # at most; later steps (also after a memory reset) may extrapolate beyond 1
                step = tf.ones([], dtype)
                max_step = tf.where(state.iterations == 0, tf.ones([], dtype), infinite)
            return d, slope, step, max_step

        def line_search(x0, f0, g0, d, slope0, step, max_step):
            """Bracketing + zoom (N&W Alg. 3.5/3.6) on the projected path; stops before the budget.

            A trial at ``max_step`` that is not too far and still descending is accepted (as
            Moré-Thuente's ``stp = stpmax`` exit in L-BFGS-B).
            """
            zero = tf.zeros([], dtype)
            target = -c2 * slope0  # |phi'(a)| <= c2 |phi'(0)|

            def trial(a, phase, prev, lo, hi, n, evaluations, wolfe, finite, best):
                x_t = project(x0 + a * d)
                f_t, g_t = problem.value_and_gradient(x_t)
                evaluations, n = evaluations + 1, n + 1
                finite = tf.math.is_finite(f_t) & tf.reduce_all(tf.math.is_finite(g_t))
                moving = tf.cast(tf.equal(x_t, x0 + a * d), dtype)
                d_t = dot(g_t, d * moving)
                armijo = f_t <= f0 + c1 * dot(g0, x_t - x0)
                point = (a, f_t, d_t)
                # Bracketing phase (Alg. 3.5).
                too_far = ~armijo | ((n > 1) & (f_t >= prev[1]))
                curvature = tf.abs(d_t) <= target
                uphill = d_t >= 0
                # Zoom phase (Alg. 3.6).
                zoom_high = ~armijo | (f_t >= lo[1])
                flip = d_t * (hi[0] - lo[0]) >= 0
                in_zoom = phase == 1
                capped = (a >= max_step) & ~uphill
                wolfe = finite & tf.where(in_zoom, ~zoom_high & curvature, ~too_far & (curvature | capped))
                new_lo = tuple(tf.where(in_zoom, tf.where(zoom_high, l, p), tf.where(too_far, pr, p))
                               for l, p, pr in zip(lo, point, prev))
                new_hi = tuple(
                    tf.where(in_zoom, tf.where(zoom_high, p, tf.where(flip, l, h)), tf.where(too_far, p, pr))
                    for l, h, p, pr in zip(lo, hi, point, prev))
                start_zoom = ~in_zoom & (too_far | uphill)
                phase = tf.where(in_zoom | start_zoom, 1, 0)
                a_next = tf.where(phase == 1, zoom_trial(*new_lo, *new_hi),
                                  tf.minimum(extrapolation_trial(*prev, *point), max_step))
                improved = finite & armijo & (f_t < best[0])
                best = (tf.where(improved, f_t, best[0]), tf.where(improved, x_t, best[1]),
                        tf.where(improved, g_t, best[2]))
                return a_next, phase, point, new_lo, new_hi, n, evaluations, wolfe, finite, best

            def searching(a, phase, prev, lo, hi, n, evaluations, wolfe, finite, best):
                width = tf.abs(hi[0] - lo[0]) * tf.reduce_max(tf.abs(d))
                collapsed = (phase == 1) & (width <= tiny * tf.maximum(tf.abs(lo[0]), tiny))
                return ~wolfe & finite & (n < max_line_search) & (evaluations < budget) & ~collapsed

            start_point = (zero, f0, slope0)
            loop_vars = (step, tf.constant(0), start_point, start_point, start_point, tf.constant(0),
                         state.evaluations.read_value(), tf.constant(False), tf.constant(True), (f0, x0, g0))
            result = tf.while_loop(searching, trial, loop_vars)
            _, _, _, _, _, _, evaluations, wolfe, finite, best = result
            return evaluations, wolfe, finite, best

        def remember(s, y):
            curvature = dot(s, y)
            keep = curvature > tiny * dot(y, y)
            head = state.head

            def push():
                state.s.scatter_nd_update([[head]], [s])  # a scatter, so that XLA compiles it
                state.y.scatter_nd_update([[head]], [y])
                state.rho.scatter_nd_update([[head]], [1.0 / curvature])
                state.head.assign(tf.math.floormod(head + 1, history_size))
                state.count.assign(tf.minimum(state.count + 1, history_size))
                return tf.constant(True)

            return tf.cond(keep, push, lambda: tf.constant(False))

        @tf.function(jit_compile=self.jit_compile)
        def iterate():
            x0, f0, g0 = state.x.read_value(), state.f.read_value(), state.g.read_value()
            d, slope, step, max_step = direction(x0, g0)
            stationary = ~(slope < 0)

            def search():
                evaluations, wolfe, finite, (f, x, g) = line_search(x0, f0, g0, d, slope, step, max_step)
                state.evaluations.assign(evaluations)
                decreased = finite & (f < f0)
                code = tf.where(~finite, NON_FINITE, tf.where(wolfe, WOLFE, tf.where(decreased, DECREASE,
                                                                                     NO_DECREASE)))

                def accept():
                    remember(x - x0, g - g0)
                    state.iterations.assign_add(1)
                    state.x.assign(x)
                    state.f.assign(f)
                    state.g.assign(g)
                    return tf.constant(0)

                tf.cond(decreased, accept, lambda: tf.constant(0))
                return code

            code = tf.cond(stationary, lambda: tf.constant(STATIONARY), search)
            x = state.x.read_value()
            problem.assign(x)
            return code, state.f.read_value(), state.evaluations.read_value(), projected_gradient_norm(x, state.g)

        return initialize, iterate


class _State:
    """tf.Variables of one `TFLBFGS.minimize` call: iterate, gradient, curvature memory, counts.

    Attributes:
        x, g: (n,) current iterate and its gradient; f: its loss (scalar).
        s, y: (history_size, n) circular buffers of the pairs; rho: (history_size,) 1 / s'y.
        head: int32 index where the next pair goes; count: int32 pairs stored.
        iterations: int32 accepted iterations (the first one may not step beyond 1 on a box).
        evaluations: int64 evaluations so far.
    """

    def __init__(self, problem: FlatProblem, history_size: int):
        dtype, n = problem.dtype, problem.size
        self.x = tf.Variable(tf.zeros([n], dtype), trainable=False)
        self.g = tf.Variable(tf.zeros([n], dtype), trainable=False)
        self.f = tf.Variable(tf.zeros([], dtype), trainable=False)
        self.s = tf.Variable(tf.zeros([history_size, n], dtype), trainable=False)
        self.y = tf.Variable(tf.zeros([history_size, n], dtype), trainable=False)
        self.rho = tf.Variable(tf.zeros([history_size], dtype), trainable=False)
        self.head = tf.Variable(0, trainable=False)
        self.count = tf.Variable(0, trainable=False)
        self.iterations = tf.Variable(0, trainable=False)
        self.evaluations = tf.Variable(tf.constant(0, tf.int64), trainable=False)
