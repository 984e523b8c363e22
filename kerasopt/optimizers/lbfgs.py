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

import time
from typing import Callable, Sequence

import numpy as np
import scipy.optimize
import tensorflow as tf

from kerasopt.optimizers.full_batch import (Callback, DriverResult, FlatProblem, FullBatchDriver, check_budget,
                                            stopping_tolerances)


class _Diverged(Exception):
    pass


class _BudgetReached(Exception):
    pass


class LBFGS(FullBatchDriver):
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

    name = "lbfgs_scipy"

    def __init__(
        self,
        max_iterations: int | None = None,
        max_evaluations: int | None = None,
        history_size: int = 10,
        bounds: tuple[float | None, float | None] | None = None,
        ftol: float | None = None,
        gtol: float | None = None,
    ):
        super().__init__(max_iterations, max_evaluations, bounds)
        self.history_size = check_budget(self.name, "history_size", history_size)
        self.ftol, self.gtol = stopping_tolerances(self.name, ftol, gtol, self.max_iterations, self.max_evaluations)

    def get_config(self) -> dict:
        return {**super().get_config(), "history_size": self.history_size, "ftol": self.ftol, "gtol": self.gtol}

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
    ) -> DriverResult:
        """Minimise ``loss_fn()`` over ``variables`` in place.

        Args:
            loss_fn: no-argument callable returning a scalar float tensor; it must
                read the current values of ``variables``.
            variables: the float variables to optimise (`tf.Variable` or `keras.Variable`, any shapes).
            callback: optional ``callback(iteration, evaluations, seconds, loss)``
                called after every accepted iteration; returning True stops early.

        Returns:
            A `DriverResult`. The variables hold the returned point.
        """
        problem = FlatProblem(loss_fn, variables, dtype=tf.float64)
        dtype = problem.variable_dtype  # scipy's float64 point arrives in the variables' dtype
        value_and_gradient = tf.function(lambda flat: problem.value_and_gradient(tf.cast(flat, tf.float64)))

        x0 = problem.read().numpy()
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
        problem.assign(tf.constant(np.asarray(final_x, np.float64)))
        return DriverResult(
            loss=final_loss, iterations=state["iterations"], evaluations=state["evaluations"],
            seconds=seconds, trace_seconds=trace_seconds, status=status, message=message,
        )
