"""The interface of the full-batch drivers (``lbfgs``, ``lbfgs_scipy``, ``hessian_free``) and what they share.

Keras optimizers take a gradient and step (``apply_gradients``); a full-batch
driver needs the loss at points of its own choosing (line searches, Hessian-vector
products), so it owns the loop: ``driver.minimize(loss_fn, variables, callback)``
minimises ``loss_fn()`` over ``variables`` in place and returns a `DriverResult`.
Every driver derives from `FullBatchDriver`, which validates the shared arguments:

- budget: ``max_iterations`` (accepted iterations) and ``max_evaluations``
  (loss-and-gradient evaluations, line-search trials included; never exceeded);
- ``bounds=(low, high)``: scalars for every element (the pixel box of style transfer);
- the callback ``callback(iteration, evaluations, seconds, loss)`` after each
  accepted iteration (returning True stops).

`FlatProblem` sees the variables as one flat float vector (value and gradient at
a point), the form every driver works in.

Adding a driver: subclass `FullBatchDriver`, call its ``__init__`` with the budget
and bounds, implement ``minimize`` (count every evaluation, never exceed the budget,
leave the variables at the last accepted iterate) and ``get_config``, and add a
``kind="driver"`` entry to the registry (docs/optimizers.md lists the steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

__all__ = ["Callback", "DriverResult", "FullBatchDriver", "FlatProblem", "dot", "check_budget", "check_bounds",
           "stopping_tolerances"]

Callback = Callable[[int, int, float, float], "bool | None"]
"""``callback(iteration, evaluations, seconds, loss)`` after each accepted iteration; True stops."""

SCIPY_DEFAULT_LIMIT = 15000
"""Iterations and evaluations when no budget is given (scipy's ``maxiter``/``maxfun`` defaults)."""


@dataclass
class DriverResult:
    """Outcome of one ``minimize`` call.

    Attributes:
        loss: final loss (float; the last accepted iterate's, or the last finite loss on divergence).
        iterations: accepted iterations.
        evaluations: loss-and-gradient evaluations (line searches included).
        seconds: wall seconds of the optimisation, excluding `trace_seconds`.
        trace_seconds: seconds spent tracing compiled functions (once per call).
        status: "completed" or "diverged" (a non-finite loss or gradient was met).
        message: why the run stopped.
    """

    loss: float
    iterations: int
    evaluations: int
    seconds: float
    trace_seconds: float
    status: str
    message: str


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


class FullBatchDriver:
    """Base of the full-batch drivers: the validated budget and bounds, and the ``minimize`` contract.

    Args:
        max_iterations: int > 0 or None, budget in accepted iterations.
        max_evaluations: int > 0 or None, budget in evaluations (never exceeded).
        bounds: optional ``(low, high)`` scalars for every element (None: unbounded side).

    Attributes:
        name: the registry name (in error messages).
        box: ``bounds`` with -inf/inf for None sides, or None.
    """

    name = "driver"

    def __init__(self, max_iterations: int | None = None, max_evaluations: int | None = None,
                 bounds: tuple[float | None, float | None] | None = None):
        self.max_iterations = check_budget(self.name, "max_iterations", max_iterations)
        self.max_evaluations = check_budget(self.name, "max_evaluations", max_evaluations)
        self.bounds = None if bounds is None else tuple(bounds)
        self.box = check_bounds(self.name, bounds)

    def limits(self) -> tuple[int, int]:
        """(iterations, evaluations) to run: the budgets given; without any, scipy's 15000 each;
        with only one, the other unlimited."""
        if self.max_iterations is None and self.max_evaluations is None:
            return SCIPY_DEFAULT_LIMIT, SCIPY_DEFAULT_LIMIT
        return (self.max_iterations if self.max_iterations is not None else 2**62,
                self.max_evaluations if self.max_evaluations is not None else 2**62)

    def minimize(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence,
                 callback: Callback | None = None) -> DriverResult:
        """Minimise ``loss_fn()`` over ``variables`` in place (see the module docstring)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"max_iterations": self.max_iterations, "max_evaluations": self.max_evaluations,
                "bounds": self.bounds}


class FlatProblem:
    """The variables of ``minimize`` seen as one flat vector.

    Args:
        loss_fn: no-argument callable returning a scalar tensor that reads ``variables``.
        variables: float `tf.Variable`s or `keras.Variable`s, any shapes.
        dtype: working dtype of the flat vector (default: that of the first variable).

    Attributes:
        dtype: working dtype; the flat vector has shape (n,).
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
        self.variable_dtype = tf.as_dtype(np.asarray(self.variables[0].numpy()).dtype)
        self.dtype = tf.as_dtype(dtype) if dtype is not None else self.variable_dtype

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
