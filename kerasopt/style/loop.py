"""Optimization loops over the image: first-order (Keras optimizers, Rprop, ...) and the
full-batch drivers (``lbfgs``, ``lbfgs_scipy``, ``hessian_free``).

Both solve the same box-constrained problem, pixels in [0, 255]: a driver gets
the bounds (``lbfgs`` and ``lbfgs_scipy``: L-BFGS-B, on the device or through
scipy; ``hessian_free``: projected steps), first-order steps are followed by a projection onto the box
(`kerasopt.optimizers.evaluation.project`: a clip, or the optimizer's own
projection hook, which Schedule-Free uses to keep its three sequences consistent).
The final row and image are at the optimizer's evaluation point
(`kerasopt.optimizers.evaluation.finalize`: Schedule-Free's averaged point x). For an
optimizer with an evaluation point every earlier row is at that point too (one forward
pass per step, not counted as an evaluation, its seconds left out), and ``on_iterate``
sees it, so the loss and image read at a smaller budget are what a run stopped there
would report; other optimizers' rows report the loss where the gradient is taken.

History rows (one per iteration, plus row 0 for the start image) report the
loss AT the iterate reached after ``step`` iterations, with the evaluations
(loss-and-gradient computations) and seconds spent to reach it. Seconds exclude
tracing of the compiled step (reported as ``trace_seconds``) and are the training seconds of
`kerasopt.harness.TrainingClock` (each compiled step; rows, snapshots and evaluation points left out). First-order: the
loss of iterate k is the one computed by step k+1 (it needs it anyway); the last
iterate costs one extra forward pass, not counted as an evaluation. Drivers:
every evaluation counts (line searches; Hessian-vector products are reported apart).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from kerasopt.harness import TrainingClock
from kerasopt.optimizers import evaluation
from kerasopt.optimizers.full_batch import DriverResult as LoopResult
from kerasopt.style.losses import Objective

RowCallback = Callable[[dict], None]
IterateCallback = Callable[[int], None]
"""Called with k while the image variable holds iterate k (e.g. to save a snapshot)."""


def history_row(step: int, evaluations: int, seconds: float, total, parts) -> dict:
    """One history.csv row: step, evaluations, seconds, loss, content_loss, style_loss, tv_loss."""
    row = {"step": int(step), "evaluations": int(evaluations), "seconds": float(seconds), "loss": float(total)}
    row.update({name: float(value) for name, value in zip(Objective.COMPONENTS, np.asarray(parts))})
    return row


def step_budget(iterations: int | None, evaluations: int | None) -> int:
    """Number of first-order steps: each step is one evaluation, so the smaller budget."""
    return int(min(b for b in (iterations, evaluations) if b is not None))


def run_first_order(objective: Objective, image: tf.Variable, optimizer, steps: int,
                    on_row: RowCallback, on_iterate: IterateCallback | None = None) -> LoopResult:
    """Projected first-order descent: ``steps`` times gradient, ``apply_gradients``, clip to [0, 255].

    Args:
        objective: the `Objective`.
        image: float32 tf.Variable (1, H, W, 3) in [0, 255], updated in place.
        optimizer: a built-or-unbuilt `keras.optimizers.Optimizer`.
        steps: number of iterations (> 0).
        on_row: called with each history row (rows 0..steps, or fewer on divergence).
        on_iterate: optional `IterateCallback`, after each step.
    """
    optimizer.build([image])
    last_finite = tf.Variable(image, trainable=False)
    pixel_box = evaluation.box(0.0, 255.0)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total, parts = objective(image)
        gradient = tape.gradient(total, image)
        last_finite.assign(tf.where(tf.math.is_finite(total), image, last_finite))
        optimizer.apply_gradients([(gradient, image)])
        evaluation.project(optimizer, [image], pixel_box)
        return total, parts

    trace_start = time.perf_counter()
    compiled = step.get_concrete_function()
    at_point = (tf.function(lambda: objective(image)).get_concrete_function()
                if evaluation.has_evaluation_point(optimizer) else None)  # the loss where the optimizer is evaluated
    clock = TrainingClock()
    clock.traced(time.perf_counter() - trace_start)
    reached_seconds = 0.0  # training seconds at which the iterate was reached
    for k in range(1, steps + 1):
        with clock.step():  # loss of iterate k-1 where the gradient is taken, then the step to iterate k
            total, parts = compiled()
            finite = math.isfinite(float(total))
        if not finite:
            image.assign(last_finite)
            return LoopResult(math.nan, k - 1, k, clock.seconds, clock.trace_seconds,
                              "diverged", f"non-finite loss at iteration {k - 1}")
        if at_point is None or k == 1:  # (iterate 0 is its own evaluation point)
            on_row(history_row(k - 1, k - 1, reached_seconds, total, parts))
        reached_seconds = clock.seconds
        with evaluation.evaluation_point(optimizer, [image]):  # not training: outside the clock
            if at_point is not None and k < steps:  # (the last row follows `finalize` below)
                total, parts = at_point()
                if math.isfinite(float(total)):  # (a non-finite point shows in the next step's loss too)
                    on_row(history_row(k, k, reached_seconds, total, parts))
            if on_iterate is not None:
                on_iterate(k)
    trace_seconds = clock.trace_seconds
    evaluation.finalize(optimizer, [image], pixel_box)  # the optimizer's evaluation point, in the box
    total, parts = objective(image)  # the last iterate: one forward pass, not an evaluation
    if not math.isfinite(float(total)):
        image.assign(last_finite)
        return LoopResult(math.nan, steps, steps, reached_seconds, trace_seconds, "diverged",
                          f"non-finite loss at iteration {steps}")
    on_row(history_row(steps, steps, reached_seconds, total, parts))
    return LoopResult(float(total), steps, steps, reached_seconds, trace_seconds, "completed",
                      f"budget of {steps} iterations used")


def run_driver(objective: Objective, image: tf.Variable, driver, on_row: RowCallback,
               on_iterate: IterateCallback | None = None) -> LoopResult:
    """A full-batch driver with pixel bounds, one ``driver.minimize`` call that logs a row per accepted
    iteration: L-BFGS-B (``lbfgs`` on the device, ``lbfgs_scipy`` through one scipy call) or Hessian-free.

    Args:
        objective, image, on_row, on_iterate: as in `run_first_order`.
        driver: a driver with ``minimize(loss_fn, variables, callback)``, its budget and ``bounds=(0, 255)``.
    """
    parts_seen = tf.Variable(tf.zeros([len(Objective.COMPONENTS)]), trainable=False)
    total_seen = tf.Variable(0.0, trainable=False)

    def loss_fn():
        total, parts = objective(image)
        parts_seen.assign(parts)
        total_seen.assign(total)
        return total

    total, parts = objective(image)
    on_row(history_row(0, 0, 0.0, total, parts))
    if not math.isfinite(float(total)):
        return LoopResult(math.nan, 0, 0, 0.0, 0.0, "diverged", "non-finite loss at the start image")

    def callback(iteration, evaluations, seconds, loss):
        parts = parts_seen.numpy()
        if float(total_seen.numpy()) != float(loss):  # the last evaluation was a rejected trial (Hessian-free):
            parts = objective(image)[1].numpy()  # the accepted point's components, one uncounted forward pass
        on_row(history_row(iteration, evaluations, seconds, loss, parts))
        if on_iterate is not None:
            on_iterate(iteration)

    return driver.minimize(loss_fn, [image], callback=callback)
