"""Full-batch L-BFGS for tf.Variables, driven by scipy's L-BFGS-B.

Keras has no quasi-Newton optimizer: L-BFGS needs the loss value at trial
points of its line search, which the ``apply_gradients`` interface cannot give.
`LBFGS.minimize` therefore runs ONE ``scipy.optimize.minimize(method="L-BFGS-B",
jac=True)`` call around a compiled value-and-gradient function, so the curvature
memory (``history_size`` correction pairs) lives for the whole budget.

Accounting: an *evaluation* is one loss-and-gradient computation (line-search
trials included); an *iteration* is one accepted L-BFGS step. Hence
evaluations >= iterations. scipy checks its own ``maxfun`` only between
iterations, so a line search could overshoot it; this driver instead refuses
the evaluation that would exceed ``max_evaluations`` and returns the last
ACCEPTED iterate, so a run never uses, or is scored at, more than its budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.optimize
import tensorflow as tf

Callback = Callable[[int, int, float, float], "bool | None"]


@dataclass
class LBFGSResult:
    """Outcome of one `LBFGS.minimize` call.

    Attributes:
        loss: final loss (float; the best point scipy returned, or the last finite
            loss when the run diverged).
        iterations: accepted L-BFGS iterations.
        evaluations: loss-and-gradient evaluations, line search included.
        seconds: wall seconds of the optimisation, excluding `trace_seconds`.
        trace_seconds: seconds spent tracing the tf.function (once per call).
        status: "completed" or "diverged" (a non-finite loss or gradient was met).
        message: scipy's termination message, or why the run stopped.
    """

    loss: float
    iterations: int
    evaluations: int
    seconds: float
    trace_seconds: float
    status: str
    message: str


class _Diverged(Exception):
    pass


class _BudgetReached(Exception):
    pass



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


def stopping_tolerances(name: str, ftol, gtol, max_iterations, max_evaluations) -> tuple[float, float]:
    """``(ftol, gtol)``: given values (>= 0), else 0 with a budget (use all of it) or scipy's defaults."""
    for label, value in (("ftol", ftol), ("gtol", gtol)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} needs {label} >= 0. Received: {label}={value}")
    fixed_budget = max_iterations is not None or max_evaluations is not None
    return (float(ftol) if ftol is not None else (0.0 if fixed_budget else 2.220446049250313e-09),
            float(gtol) if gtol is not None else (0.0 if fixed_budget else 1e-5))


class LBFGS:
    """L-BFGS-B minimiser with a fixed budget for `tf.Variable` lists.

    Args:
        max_iterations: int > 0 or None, budget in accepted iterations.
        max_evaluations: int > 0 or None, budget in loss-and-gradient evaluations.
            With neither budget given, scipy's defaults apply (15000 each).
        history_size: int > 0, number of correction pairs kept (scipy ``maxcor``;
            default 10, scipy's default).
        bounds: optional ``(low, high)`` scalars applied to every element of
            every variable (e.g. pixel range); ``None`` for no bound on a side.
        ftol, gtol: scipy's relative-reduction and projected-gradient tolerances.
            When a budget is given and these are left ``None`` they are 0, so the
            run uses its whole budget (otherwise scipy may stop at iteration 0,
            e.g. when started at the content image).
    """

    def __init__(
        self,
        max_iterations: int | None = None,
        max_evaluations: int | None = None,
        history_size: int = 10,
        bounds: tuple[float | None, float | None] | None = None,
        ftol: float | None = None,
        gtol: float | None = None,
    ):
        self.max_iterations = check_budget("lbfgs_scipy", "max_iterations", max_iterations)
        self.max_evaluations = check_budget("lbfgs_scipy", "max_evaluations", max_evaluations)
        self.history_size = check_budget("lbfgs_scipy", "history_size", history_size)
        check_bounds("lbfgs_scipy", bounds)
        self.bounds = None if bounds is None else tuple(bounds)
        self.ftol, self.gtol = stopping_tolerances("lbfgs_scipy", ftol, gtol, self.max_iterations, self.max_evaluations)

    def get_config(self) -> dict:
        return {
            "max_iterations": self.max_iterations,
            "max_evaluations": self.max_evaluations,
            "history_size": self.history_size,
            "bounds": self.bounds,
            "ftol": self.ftol,
            "gtol": self.gtol,
        }

    def _scipy_options(self) -> dict:
        options = {"maxcor": self.history_size, "ftol": self.ftol, "gtol": self.gtol}
        if self.max_iterations is not None:
            options["maxiter"] = self.max_iterations
        if self.max_evaluations is not None:
            options["maxfun"] = self.max_evaluations
        return options

    def _scipy_bounds(self, size: int):
        if self.bounds is None:
            return None
        low, high = (-np.inf if self.bounds[0] is None else self.bounds[0],
                     np.inf if self.bounds[1] is None else self.bounds[1])
        return scipy.optimize.Bounds(np.full(size, low), np.full(size, high))

    def minimize(
        self,
        loss_fn: Callable[[], tf.Tensor],
        variables: Sequence[tf.Variable],
        callback: Callback | None = None,
    ) -> LBFGSResult:
        """Minimise ``loss_fn()`` over ``variables`` in place.

        Args:
            loss_fn: no-argument callable returning a scalar float tensor; it must
                read the current values of ``variables``.
            variables: the float variables to optimise (`tf.Variable` or `keras.Variable`, any shapes).
            callback: optional ``callback(iteration, evaluations, seconds, loss)``
                called after every accepted iteration; returning True stops early.

        Returns:
            An `LBFGSResult`. The variables hold the returned point.
        """
        variables = list(variables)
        shapes = [tuple(v.shape) for v in variables]
        sizes = [int(np.prod(s)) for s in shapes]
        dtype = tf.as_dtype(np.asarray(variables[0].numpy()).dtype)  # tf.Variable or keras.Variable

        @tf.function
        def value_and_gradient(flat):
            for variable, part, shape in zip(variables, tf.split(flat, sizes), shapes):
                variable.assign(tf.reshape(tf.cast(part, variable.dtype), shape))
            with tf.GradientTape() as tape:
                loss = tf.cast(loss_fn(), tf.float64)
            gradients = tape.gradient(loss, variables)
            gradients = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, gradients)]
            return loss, tf.concat([tf.reshape(tf.cast(g, tf.float64), [-1]) for g in gradients], 0)

        x0 = np.concatenate([v.numpy().astype(np.float64).ravel() for v in variables])
        trace_start = time.perf_counter()
        concrete = value_and_gradient.get_concrete_function(tf.TensorSpec([x0.size], dtype))
        trace_seconds = time.perf_counter() - trace_start

        state = {"evaluations": 0, "iterations": 0, "last_finite": (np.inf, x0), "accepted": None,
                 "start_loss": np.inf}
        start = time.perf_counter()

        def fun(x):
            if self.max_evaluations is not None and state["evaluations"] >= self.max_evaluations:
                raise _BudgetReached
            loss, grad = concrete(tf.constant(x, dtype=dtype))
            state["evaluations"] += 1
            loss, grad = float(loss), grad.numpy()
            if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
                raise _Diverged(f"non-finite loss or gradient at evaluation {state['evaluations']}")
            if state["evaluations"] == 1:
                state["start_loss"] = loss
            if loss < state["last_finite"][0]:
                state["last_finite"] = (loss, x.copy())
            return loss, grad

        def on_iteration(intermediate_result):
            state["iterations"] += 1
            state["accepted"] = (float(intermediate_result.fun), np.array(intermediate_result.x))
            if callback is not None and callback(
                state["iterations"], state["evaluations"], time.perf_counter() - start, float(intermediate_result.fun)
            ):
                raise StopIteration

        status, message = "completed", ""
        try:
            result = scipy.optimize.minimize(
                fun, x0, jac=True, method="L-BFGS-B", bounds=self._scipy_bounds(x0.size),
                callback=on_iteration, options=self._scipy_options(),
            )
            final_x, final_loss, message = result.x, float(result.fun), str(result.message)
            if state["last_finite"][0] < final_loss:  # scipy may return the last line-search trial
                final_loss, final_x = state["last_finite"]
        except _BudgetReached:
            message = f"evaluation budget of {self.max_evaluations} reached inside a line search"
            final_loss, final_x = state["accepted"] or (state["start_loss"], x0)
        except _Diverged as exc:
            status, message = "diverged", str(exc)
            final_loss, final_x = state["last_finite"]
        seconds = time.perf_counter() - start
        self._assign(variables, final_x, sizes, shapes)
        return LBFGSResult(
            loss=final_loss, iterations=state["iterations"], evaluations=state["evaluations"],
            seconds=seconds, trace_seconds=trace_seconds, status=status, message=message,
        )

    @staticmethod
    def _assign(variables, flat, sizes, shapes):
        """Write the flat float64 vector ``flat`` back into ``variables``."""
        offsets = np.cumsum([0] + sizes)
        for variable, lo, hi, shape in zip(variables, offsets[:-1], offsets[1:], shapes):
            variable.assign(flat[lo:hi].reshape(shape).astype(np.asarray(variable.numpy()).dtype))

