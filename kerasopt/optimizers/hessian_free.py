"""Hessian-free optimization (truncated Newton with CG) for full-batch problems on tf.Variables.

`HessianFree` follows Martens (2010), with exact Hessian-vector products instead of the
Gauss-Newton matrix:

- **Curvature**: ``H v`` by forward-over-reverse differentiation (a
  `tf.autodiff.ForwardAccumulator` around a `tf.GradientTape`), exact for the loss. H may
  be indefinite (the Gatys loss is not convex): CG stops at the first direction of
  non-positive damped curvature, and the damping makes that rare. When it happens at CG's
  first step (no direction at all), lambda is raised to twice the curvature magnitude along
  the gradient, and CG reruns.
- **Damping**: Levenberg-Marquardt, CG solves ``(H + lambda I) p = -g``; lambda is adapted
  by the reduction ratio ``rho = (f(x + p) - f(x)) / (q(p) - q(0))`` of the undamped
  quadratic model q: ``rho < 1/4: lambda *= 3/2``, ``rho > 3/4: lambda *= 2/3``.
- **CG** (Nocedal & Wright 2006, Alg. 5.2; no preconditioner) warm-started from the
  previous final CG iterate times ``cg_decay`` (0.95); stopped by Martens' relative-progress
  test (``i > k = max(10, 0.1 i)`` and ``(phi_i - phi_{i-k}) / phi_i < k * 5e-4``), by
  ``max_cg_iterations``, by a relative residual below 1e-10, or by the budget. All of CG runs in one compiled tf.function.
- **CG-iterate backtracking**: iterates at CG steps ``ceil(1.3^j)`` and the last one are
  kept; starting from the last, earlier ones are evaluated while the loss keeps falling,
  and the best is taken (Martens 2010, sec. 4.6).
- **Line search**: Armijo backtracking on the chosen step (``c = 1e-2``, factor 0.8).
- **Bounds**: a variable at a bound whose gradient pushes outward is held (its rows and
  columns are masked out of the CG system); every trial point is projected onto the box.
- **Budget**: a loss-and-gradient evaluation costs 1, a Hessian-vector product costs
  ``hvp_cost`` evaluations (default 3.0; measured by benchmarks/style_bench.py, see
  docs/performance.md). ``max_evaluations`` bounds these *evaluation-equivalents* and is
  never exceeded: CG stops while one trial evaluation still fits, and no trial is
  evaluated beyond the budget. Every trial (backtracking and line search) is a full
  loss-and-gradient evaluation, so an accepted point's gradient is already known.

References:
    Martens, J. (2010). Deep learning via Hessian-free optimization. ICML.
    Nocedal, J. & Wright, S. J. (2006). Numerical Optimization, 2nd ed., Springer
    (Alg. 5.2 CG; sec. 7.1 truncated Newton; sec. 3.1 Armijo backtracking).
    Pearlmutter, B. A. (1994). Fast exact multiplication by the Hessian. Neural Computation 6(1).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerasopt.optimizers.full_batch import Callback, DriverResult, FlatProblem, FullBatchDriver, check_budget, dot

ARMIJO_C = 1e-2
ARMIJO_FACTOR = 0.8
MAX_ARMIJO_STEPS = 20
PROGRESS_EPSILON = 5e-4
RESIDUAL_TOLERANCE = 1e-10
SCHEDULE_BASE = 1.3


@dataclass
class HFResult(DriverResult):
    """`DriverResult` of a `HessianFree.minimize` call, plus its cost split.

    Attributes:
        evaluations: evaluation-equivalents, ``ceil(gradient_evaluations + hvp_cost * hessian_vector_products)``.
        gradient_evaluations: loss-and-gradient evaluations (start, CG backtracking, line search).
        hessian_vector_products: Hessian-vector products of all CG runs.
        damping: the final Levenberg-Marquardt lambda.
    """

    gradient_evaluations: int = 0
    hessian_vector_products: int = 0
    damping: float = 0.0


def storage_schedule(max_cg_iterations: int) -> list[int]:
    """CG steps whose iterates are kept for backtracking: distinct ``ceil(1.3^j)`` up to the maximum."""
    steps, j = [], 0
    while True:
        step = math.ceil(SCHEDULE_BASE ** j)
        if step > max_cg_iterations:
            return steps
        if not steps or step != steps[-1]:
            steps.append(step)
        j += 1


class HessianFree(FullBatchDriver):
    """Martens-style Hessian-free (truncated Newton-CG) minimiser for `tf.Variable` lists.

    Args:
        max_iterations: int > 0 or None, budget in accepted iterations (outer steps).
        max_evaluations: int > 0 or None, budget in evaluation-equivalents (a
            loss-and-gradient evaluation = 1, a Hessian-vector product = ``hvp_cost``);
            never exceeded. With neither budget, 1000 iterations.
        bounds: optional ``(low, high)`` scalars for every element.
        max_cg_iterations: int > 0, CG steps per outer iteration (default 50).
        initial_damping: lambda > 0 at the start, relative to the curvature along the gradient:
            ``lambda_0 = initial_damping * |g'Hg| / g'g`` at the start point (one Hv product,
            counted), so it does not depend on the scale of the loss or the variables (default 1.0).
        hvp_cost: Hessian-vector product cost in evaluations, > 0 (default 3.0: measured 2.4-3.2 at 128 px).
        cg_decay: warm-start factor in [0, 1] for the previous CG solution (default 0.95).
        gtol: stop when the projected gradient's largest component is ``<= gtol``; default 0
            with a budget (use it all), else 1e-5.
        jit_compile: compile the evaluation and CG functions with XLA.
    """

    name = "hessian_free"

    def __init__(
        self,
        max_iterations: int | None = None,
        max_evaluations: int | None = None,
        bounds: tuple[float | None, float | None] | None = None,
        max_cg_iterations: int = 50,
        initial_damping: float = 1.0,
        hvp_cost: float = 3.0,
        cg_decay: float = 0.95,
        gtol: float | None = None,
        jit_compile: bool = False,
    ):
        super().__init__(max_iterations, max_evaluations, bounds)
        self.max_cg_iterations = check_budget(self.name, "max_cg_iterations", max_cg_iterations)
        for label, value in (("initial_damping", initial_damping), ("hvp_cost", hvp_cost)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"hessian_free needs a finite {label} > 0. Received: {label}={value}")
        if not (isinstance(cg_decay, (int, float)) and 0.0 <= cg_decay <= 1.0):
            raise ValueError(f"hessian_free needs cg_decay in [0, 1]. Received: cg_decay={cg_decay}")
        self.initial_damping = float(initial_damping)
        self.hvp_cost = float(hvp_cost)
        self.cg_decay = float(cg_decay)
        if gtol is not None and not gtol >= 0:
            raise ValueError(f"hessian_free needs gtol >= 0. Received: gtol={gtol}")
        fixed_budget = self.max_iterations is not None or self.max_evaluations is not None
        self.gtol = float(gtol) if gtol is not None else (0.0 if fixed_budget else 1e-5)
        self.jit_compile = bool(jit_compile)

    def get_config(self) -> dict:
        return {
            "max_iterations": self.max_iterations, "max_evaluations": self.max_evaluations,
            "bounds": self.bounds, "max_cg_iterations": self.max_cg_iterations,
            "initial_damping": self.initial_damping, "hvp_cost": self.hvp_cost, "cg_decay": self.cg_decay,
            "gtol": self.gtol, "jit_compile": self.jit_compile,
        }

    def minimize(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence,
                 callback: Callback | None = None) -> HFResult:
        """Minimise ``loss_fn()`` over ``variables`` (`tf.Variable`s) in place.

        Args:
            loss_fn: no-argument callable returning a scalar float tensor that reads ``variables``.
            variables: float `tf.Variable`s, any shapes (computed in the first one's dtype).
            callback: optional ``callback(iteration, evaluations, seconds, loss)`` after every
                accepted iteration, with the variables holding that iterate (evaluations:
                evaluation-equivalents); returning True stops.

        Returns:
            An `HFResult`; the variables hold the last accepted iterate (the lowest loss
            evaluated; on divergence the last finite one).
        """
        problem = FlatProblem(loss_fn, variables)
        functions = _Compiled(problem, self.box, self.max_cg_iterations, self.jit_compile)
        trace_start = time.perf_counter()
        functions.trace()
        trace_seconds = time.perf_counter() - trace_start
        run = _Run(self, problem, functions, callback)
        return run.execute(trace_seconds)


class _Compiled:
    """The compiled pieces: ``evaluate(x) -> (f, g)`` and ``cg(...)`` (one tf.while_loop)."""

    def __init__(self, problem: FlatProblem, box, max_cg_iterations: int, jit_compile: bool):
        self.problem = problem
        self.dtype = problem.dtype
        self.low, self.high = box if box is not None else (-math.inf, math.inf)
        self.bounded = box is not None
        self.schedule = storage_schedule(max_cg_iterations)
        self.max_cg_iterations = max_cg_iterations
        self.evaluate = tf.function(problem.value_and_gradient, jit_compile=jit_compile)
        self.hvp = tf.function(self._hvp, jit_compile=jit_compile)
        self.cg = tf.function(self._cg, jit_compile=jit_compile)

    def trace(self) -> None:
        n, dtype = self.problem.size, self.dtype
        vector, scalar = tf.TensorSpec([n], dtype), tf.TensorSpec([], dtype)
        self.evaluate = self.evaluate.get_concrete_function(vector)
        self.cg = self.cg.get_concrete_function(vector, vector, vector, scalar, tf.TensorSpec([], tf.int32))

    def project(self, x):
        return tf.clip_by_value(x, self.low, self.high) if self.bounded else x

    def free_mask(self, x, g):
        """1 for variables CG may move, 0 for those held at a bound (gradient pushing outward)."""
        if not self.bounded:
            return tf.ones_like(x)
        held = ((x <= self.low) & (g > 0)) | ((x >= self.high) & (g < 0))
        return 1.0 - tf.cast(held, x.dtype)

    def _hvp(self, x, v):
        """Hessian of the loss at ``x`` (n,) times ``v`` (n,), forward-over-reverse."""
        problem = self.problem
        problem.assign(x)
        tangents = [tf.reshape(tf.cast(part, var.dtype), shape)
                    for var, part, shape in zip(problem.variables, tf.split(v, problem.sizes), problem.shapes)]
        with tf.autodiff.ForwardAccumulator(problem.variables, tangents) as accumulator:
            with tf.GradientTape() as tape:
                loss = tf.cast(problem.loss_fn(), self.dtype)
            gradients = tape.gradient(loss, problem.variables)
        products = [accumulator.jvp(g, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                    if g is not None else tf.zeros_like(var) for g, var in zip(gradients, problem.variables)]
        return tf.concat([tf.reshape(tf.cast(h, self.dtype), [-1]) for h in products], 0)

    def _cg(self, x, g, p0, damping, max_steps):
        """CG on ``M (H + damping I) M p = -M g`` (M: `free_mask`) from ``p0``, at most ``max_steps`` Hv products.

        Returns:
            kept (K, n) iterates at `schedule` steps plus the last, kept_model (K,) undamped
            model values ``g'p + p'Hp/2``, kept_count (int32), last iterate (n,), Hv products (int32).
        """
        mask = self.free_mask(x, g)
        b = -mask * g
        dtype, n, slots = self.dtype, self.problem.size, len(self.schedule) + 1
        schedule = tf.constant(self.schedule, tf.int32)

        def apply(v):
            return mask * self._hvp(x, mask * v) + damping * mask * v

        p0 = mask * p0
        warm = tf.reduce_any(p0 != 0) & (max_steps > 0)
        r0 = tf.cond(warm, lambda: b - apply(p0), lambda: b)
        products0 = tf.where(warm, 1, 0)
        phi0 = -0.5 * dot(p0, b + r0)
        # Martens: drop a warm start whose model value is worse than p = 0.
        bad = phi0 > 0
        p0, r0 = tf.where(bad, tf.zeros_like(p0), p0), tf.where(bad, b, r0)
        phi0 = tf.where(bad, tf.zeros_like(phi0), phi0)
        phis = tf.tensor_scatter_nd_update(tf.zeros([self.max_cg_iterations + 1], dtype), [[0]], [phi0])

        def body(i, p, r, d, rr, phis, kept, kept_model, kept_count, products, stop):
            ad = apply(d)
            curvature = dot(d, ad)
            negative = ~(curvature > 0)
            alpha = tf.where(negative, tf.zeros([], dtype), rr / tf.where(negative, tf.ones([], dtype), curvature))
            p_new = p + alpha * d
            r_new = r - alpha * ad
            rr_new = dot(r_new, r_new)
            d_new = r_new + (rr_new / rr) * d
            phi = -0.5 * dot(p_new, b + r_new)
            phis = tf.tensor_scatter_nd_update(phis, [[i + 1]], [phi])
            step = i + 1
            k = tf.maximum(10, tf.cast(tf.math.ceil(0.1 * tf.cast(step, dtype)), tf.int32))
            stalled = (step > k) & (phi < 0) & (
                (phi - tf.gather(phis, tf.maximum(step - k, 0))) / phi < tf.cast(k, dtype) * PROGRESS_EPSILON)
            undamped = phi - 0.5 * damping * dot(p_new, p_new)
            store = ~negative & tf.reduce_any(tf.equal(schedule, step))
            kept = tf.where(store, tf.tensor_scatter_nd_update(kept, [[kept_count]], [p_new]), kept)
            kept_model = tf.where(store, tf.tensor_scatter_nd_update(kept_model, [[kept_count]], [undamped]),
                                  kept_model)
            kept_count = tf.where(store, kept_count + 1, kept_count)
            p_new = tf.where(negative, p, p_new)
            r_new, d_new = tf.where(negative, r, r_new), tf.where(negative, d, d_new)
            rr_new = tf.where(negative, rr, rr_new)
            stop = negative | stalled | ~(rr_new > RESIDUAL_TOLERANCE ** 2 * bb)
            return step, p_new, r_new, d_new, rr_new, phis, kept, kept_model, kept_count, products + 1, stop

        def running(i, p, r, d, rr, phis, kept, kept_model, kept_count, products, stop):
            return ~stop & (products < max_steps) & (i < self.max_cg_iterations)

        rr0, bb = dot(r0, r0), dot(b, b)
        loop_vars = (tf.constant(0), p0, r0, r0, rr0, phis, tf.zeros([slots, n], dtype), tf.zeros([slots], dtype),
                     tf.constant(0), products0, ~(rr0 > RESIDUAL_TOLERANCE ** 2 * bb))
        _, p, r, _, _, _, kept, kept_model, kept_count, products, _ = tf.while_loop(running, body, loop_vars)
        # The last iterate is always a candidate (unless it is the last one stored already).
        last_model = -0.5 * dot(p, b + r) - 0.5 * damping * dot(p, p)
        already = (kept_count > 0) & tf.reduce_all(tf.equal(tf.gather(kept, tf.maximum(kept_count - 1, 0)), p))
        add = ~already
        kept = tf.where(add, tf.tensor_scatter_nd_update(kept, [[kept_count]], [p]), kept)
        kept_model = tf.where(add, tf.tensor_scatter_nd_update(kept_model, [[kept_count]], [last_model]), kept_model)
        kept_count = tf.where(add, kept_count + 1, kept_count)
        return kept, kept_model, kept_count, p, products


class _Run:
    """State and outer loop of one `HessianFree.minimize` call."""

    def __init__(self, options: HessianFree, problem: FlatProblem, functions: _Compiled, callback):
        self.options, self.problem, self.functions, self.callback = options, problem, functions, callback
        self.budget = math.inf if options.max_evaluations is None else float(options.max_evaluations)
        self.max_iterations = options.max_iterations
        if self.max_iterations is None:
            self.max_iterations = 1000 if options.max_evaluations is None else 2**62
        self.gradient_evaluations = 0
        self.products = 0
        self.damping = options.initial_damping
        self.stalled = False  # the last rejected step predicted a reduction below rounding

    def spent(self) -> float:
        return self.gradient_evaluations + self.options.hvp_cost * self.products

    def equivalents(self) -> int:
        return int(math.ceil(self.spent() - 1e-9))

    def can_evaluate(self) -> bool:
        return self.spent() + 1 <= self.budget + 1e-9

    def evaluate(self, x):
        self.gradient_evaluations += 1
        f, g = self.functions.evaluate(x)
        f = float(f)
        return f, g, math.isfinite(f) and bool(tf.reduce_all(tf.math.is_finite(g)))

    def execute(self, trace_seconds: float) -> HFResult:
        functions, options = self.functions, self.options
        start = time.perf_counter()
        x = functions.project(self.problem.read())
        f, g, finite = self.evaluate(x)
        iterations, status, message = 0, "completed", f"budget of {self.max_iterations} iterations used"
        if not finite:
            status, message = "diverged", "non-finite loss or gradient at the start point"
        p_previous = tf.zeros_like(x)
        if finite and self.budget - self.spent() >= options.hvp_cost + 1:
            self.damping = options.initial_damping * self.rayleigh_quotient(x, g)
        while finite and iterations < self.max_iterations:
            if float(tf.reduce_max(tf.abs(functions.project(x - g) - x))) <= options.gtol:
                message = "projected gradient <= gtol"
                break
            if not self.can_evaluate():
                message = f"budget of {options.max_evaluations} evaluation-equivalents used"
                break
            affordable = (self.budget - self.spent() - 1 + 1e-9) / options.hvp_cost  # one trial must still fit
            steps = options.max_cg_iterations if math.isinf(affordable) else min(
                options.max_cg_iterations, max(0, math.floor(affordable)))
            kept, models, count, p_last, products = functions.cg(
                x, g, options.cg_decay * p_previous, tf.constant(self.damping, functions.dtype), tf.constant(steps))
            self.products += int(products)
            p_previous = p_last
            if int(products) > 0 and int(count) == 1 and not bool(tf.reduce_any(kept[0] != 0)):
                if not self.damp_past_negative_curvature(x, g):
                    message = f"budget of {options.max_evaluations} evaluation-equivalents used"
                    break
                if self.damping > 1e12:
                    message = "no decrease found: damping exploded"
                    break
                continue
            outcome = self.step(x, f, g, kept, models.numpy(), int(count))
            if outcome is None:
                status, message = "diverged", f"non-finite loss or gradient at evaluation {self.gradient_evaluations}"
                break
            accepted, x, f, g = outcome
            if not accepted:
                if not self.can_evaluate():
                    message = f"budget of {options.max_evaluations} evaluation-equivalents used"
                    break
                if self.damping > 1e12 or self.stalled:
                    message = "no decrease found" + (": damping exploded" if self.damping > 1e12 else
                                                     ": predicted reduction below rounding")
                    break
                continue
            iterations += 1
            if self.callback is not None:  # the variables hold the accepted point, not the last trial
                self.problem.assign(x)
            if self.callback is not None and self.callback(iterations, self.equivalents(),
                                                           time.perf_counter() - start, f):
                message = "stopped by callback"
                break
        self.problem.assign(x)
        return HFResult(loss=f, iterations=iterations, evaluations=self.equivalents(),
                        seconds=time.perf_counter() - start, trace_seconds=trace_seconds, status=status,
                        message=message, gradient_evaluations=self.gradient_evaluations,
                        hessian_vector_products=self.products, damping=self.damping)

    def rayleigh_quotient(self, x, g) -> float:
        """``|g'Hg| / g'g`` at ``x`` (one Hv product); 1 when it is zero or not finite."""
        self.products += 1
        gg = float(dot(g, g))
        value = abs(float(dot(g, self.functions.hvp(x, g)))) / gg if gg > 0 else 0.0
        return value if math.isfinite(value) and value > 0 else 1.0

    def damp_past_negative_curvature(self, x, g) -> bool:
        """CG gave no direction: its first step met non-positive curvature of ``H + lambda I`` along the free
        gradient ``Mg`` (H indefinite there, e.g. a style loss at the content photo). Raise lambda to at least
        twice ``|g'MHMg| / g'Mg`` (one Hv product), which makes that curvature positive, so the next CG
        step moves. False when the product does not fit the budget (lambda is then left as it is)."""
        if self.budget - self.spent() < self.options.hvp_cost + 1:
            return False
        free = self.functions.free_mask(x, g) * g
        self.damping = max(1.5 * self.damping, 2.0 * self.rayleigh_quotient(x, free))
        return True

    def step(self, x, f, g, kept, models, count):
        """Backtrack over CG iterates, adapt the damping, Armijo line search.

        Returns:
            ``(accepted, x, f, g)`` (unchanged x, f, g when rejected), or None on a non-finite value.
        """
        functions = self.functions
        best = None  # (f, index, x, g)
        for index in range(count - 1, -1, -1):
            if not self.can_evaluate():
                break
            trial = functions.project(x + kept[index])
            f_t, g_t, finite = self.evaluate(trial)
            if not finite:
                return None
            if best is not None and not f_t < best[0]:
                break
            best = (f_t, index, trial, g_t)
        if best is None:
            return False, x, f, g
        f_t, index, trial, g_t = best
        model = float(models[index])
        self.stalled = not -model > 4 * np.finfo(functions.dtype.as_numpy_dtype).eps * max(abs(f), 1.0)
        rho = (f_t - f) / model if model < 0 else -math.inf
        if rho < 0.25:
            self.damping *= 1.5
        elif rho > 0.75:
            self.damping *= 2.0 / 3.0
        direction = kept[index]
        alpha = 1.0
        for _ in range(MAX_ARMIJO_STEPS):
            if f_t <= f + ARMIJO_C * float(dot(g, trial - x)) and f_t < f:
                return True, trial, f_t, g_t
            alpha *= ARMIJO_FACTOR
            if not self.can_evaluate():
                break
            trial = functions.project(x + alpha * direction)
            f_t, g_t, finite = self.evaluate(trial)
            if not finite:
                return None
        return False, x, f, g
