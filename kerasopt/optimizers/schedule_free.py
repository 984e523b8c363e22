"""Schedule-Free AdamW: evaluate and save at the averaged point x, keep iterates in a box.

Schedule-Free (Defazio et al. 2024) keeps three sequences: z (the base AdamW-like
steps), x (the running average of the z's, the point to evaluate and to ship)
and y (where gradients are taken):

    z_t = z_{t-1} - lr_t * g(y_{t-1}) / (sqrt(v_t / (1 - beta_2^t)) + eps)
    x_t = (1 - c_t) x_{t-1} + c_t z_t,          c_t = 1 / t
    y_t = (1 - beta_1) z_t + beta_1 x_t

Keras' `keras.optimizers.ScheduleFreeAdamW` stores y in the model variables and z
in its ``momentum`` slot; x is not stored but follows from them:

    x = (y - (1 - beta_1) z) / beta_1

(keras/src/optimizers/schedule_free_adamw.py recovers ``x_old`` this way in
``update_step``). Keras 3.15 offers no way to evaluate or save at x, so a model
trained with Keras' class is evaluated, checkpointed and saved at y. This module adds:

* `averaged_point(optimizer, variables)`: a context manager that assigns x into
  the variables and restores y exactly on exit (a no-op for other optimizers);
* `average_into(optimizer, variables, project=None)`: makes x permanent at the
  end of training (for saving; the optimizer state is made consistent, y = z = x);
* `project_iterates(optimizer, variables, project)`: after each step, keeps y, x
  and z inside a convex set (the pixel box [0, 255] of style transfer);
* `ScheduleFreeAdamW`: Keras' optimizer with two fixes (below), registered for
  serialization as ``kerasopt>ScheduleFreeAdamW``, that owns its evaluation
  point through the hooks of `kerasopt.optimizers.evaluation`:
  ``evaluation_point`` (`averaged_point`), ``finalize_variable_values`` (Keras'
  end-of-``fit`` hook: `average_into`, so ``model.fit`` ends at x) and
  ``project_iterates``. Training loops call those hooks, never this module.

Two fixes. (1) Keras 3.15 starts z at 0 instead of at the weights whenever
the optimizer is built inside a ``tf.function`` -- which ``model.fit`` does --
so the first step moves every weight to about ``-lr * sign(g)``, wiping the
initialization (or a pretrained encoder); see `ScheduleFreeAdamW.build`.
(2) Keras 3.15's ``update_step`` keeps ``momentum_old = momentum.value``,
which on the TensorFlow backend is the ``tf.Variable`` itself, not a snapshot;
after ``assign_sub(momentum, ...)`` it reads the NEW z, so from step 2 on it
recovers ``x_old = (y_old - (1 - beta_1) z_new) / beta_1`` instead of
``x_{t-1}``, and its iterates drift from the method (tests/test_schedule_free.py
shows both against a numpy transcription of the reference). Our subclass takes a
snapshot of z before the update; everything else is Keras' algorithm. The helpers
here work with both classes (the x they compute is, for both, exactly the
``x_new`` of the last step); projection is exact only with ours.

BatchNorm: moving statistics are accumulated at y during training; the
reference recommends recomputing them at x before evaluation, which is not done
here (with BatchNorm, x is evaluated with y's statistics).

References:
    Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky (2024), "The Road Less
    Scheduled", https://arxiv.org/abs/2405.15682;
    https://github.com/facebookresearch/schedule_free.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

import keras
from keras import ops

from kerasopt.optimizers.evaluation import Projection, box, innermost

__all__ = ["ScheduleFreeAdamW", "averaged_point", "average_into", "project_iterates", "box", "is_schedule_free"]

@keras.saving.register_keras_serializable(package="kerasopt")
class ScheduleFreeAdamW(keras.optimizers.ScheduleFreeAdamW):
    """`keras.optimizers.ScheduleFreeAdamW` with z started at the weights and snapshotted before its update.

    Same arguments, defaults and config as Keras' class. The model variables
    hold y; the evaluation point is x = (y - (1 - beta_1) z) / beta_1 with z the
    ``momentum`` slot: use `averaged_point`, `average_into`,
    `ScheduleFreeEvaluation` and `ScheduleFreeCheckpoint` to evaluate and save
    at x. See the module docstring for the update rule and the two fixes.

    Differences from the reference implementation that remain (as in Keras):
    the averaging weight is c_t = 1/t also during warmup (the reference weights
    by lr_t^2), and ``weight_decay`` is Keras' decoupled decay applied to y.
    """

    def build(self, var_list):
        """Create the slots ``momentum`` (z, starting at the variable's value) and ``velocity`` (zeros).

        Keras assigns the start value after creating the slot, an assignment
        that is lost when the optimizer is built inside a ``tf.function`` (as
        ``model.fit`` does on its first step: the trace that creates variables
        is discarded and the retrace skips the built optimizer's ``build``), so
        z starts at 0 and the first step moves every weight to about
        ``-lr * sign(g)``. Here the value is the slot's initializer, which
        TensorFlow lifts out of the function together with the variable.
        """
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, var_list)
        self._momentums, self._velocities = [], []
        for variable in var_list:
            if self._overwrite_variable_with_gradient(variable):
                self._momentums.append(None)
                self._velocities.append(None)
                continue
            start = _value_of(variable)
            self._momentums.append(self.add_variable_from_reference(variable, name="momentum", initializer=start))
            self._velocities.append(self.add_variable_from_reference(variable, name="velocity"))

    def update_step(self, gradient, variable, learning_rate):
        """One Schedule-Free AdamW step: z by AdamW's rule, x averaged, y interpolated."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        epsilon = ops.cast(self.epsilon, dtype)
        if self.warmup_steps > 0:
            lr = lr * ops.minimum(local_step / ops.cast(self.warmup_steps, dtype), 1.0)

        index = self._get_variable_index(variable)
        z, velocity = self._momentums[index], self._velocities[index]
        z_old = ops.copy(z)  # a snapshot: Keras' `z.value` aliases the variable and reads the updated z
        y_old = ops.copy(variable)

        self.assign_add(velocity, ops.multiply(ops.subtract(ops.square(gradient), velocity), 1 - beta_2))
        denom = ops.add(ops.sqrt(velocity / (1 - ops.power(beta_2, local_step))), epsilon)
        self.assign_sub(z, ops.divide(ops.multiply(lr, gradient), denom))

        weight = 1.0 / local_step
        x_old = ops.divide(ops.subtract(y_old, ops.multiply(1 - beta_1, z_old)), beta_1)
        x_new = ops.add(ops.multiply(1 - weight, x_old), ops.multiply(weight, z))
        self.assign(variable, ops.add(ops.multiply(1 - beta_1, z), ops.multiply(beta_1, x_new)))

    # the evaluation-point hooks (kerasopt.optimizers.evaluation) ------------------------------------------

    def evaluation_point(self, variables=None):
        """A context manager holding the averaged point x in ``variables`` (`averaged_point`)."""
        return averaged_point(self, variables)

    def finalize_variable_values(self, var_list):
        """End of training (``model.fit`` calls it after the last epoch): variables <- x, z <- x
        (`average_into`; the EMA of ``use_ema`` first, as Keras)."""
        super().finalize_variable_values(var_list)
        average_into(self, var_list)

    def project_iterates(self, variables, projection):
        """Projected Schedule-Free after a step (the module's `project_iterates`)."""
        project_iterates(self, variables, projection)


def _value_of(variable):
    """An initializer (shape, dtype) -> the current value of ``variable``, read when it is called."""
    def initializer(shape, dtype=None):
        return ops.cast(ops.copy(variable), dtype or variable.dtype)
    return initializer


def is_schedule_free(optimizer) -> bool:
    """True for a (possibly loss-scaled) Keras or kerasopt `ScheduleFreeAdamW`."""
    return isinstance(innermost(optimizer), keras.optimizers.ScheduleFreeAdamW)


def _triples(optimizer, variables):
    """(variable y, slot z, beta_1) for each variable with a z slot; [] if not schedule-free or not built."""
    optimizer = innermost(optimizer)
    if not isinstance(optimizer, keras.optimizers.ScheduleFreeAdamW) or not optimizer.built:
        return []
    variables = list(optimizer._trainable_variables if variables is None else variables)
    triples = []
    for variable in variables:
        key = optimizer._var_key(variable)
        if key not in optimizer._trainable_variables_indices:
            raise ValueError("The optimizer does not update this variable (pass the variables it was built on, "
                             f"or None for all of them). Received: {getattr(variable, 'path', variable.name)}")
        z = optimizer._momentums[optimizer._trainable_variables_indices[key]]
        if z is not None:
            triples.append((variable, z, ops.cast(optimizer.beta_1, variable.dtype)))
    return triples


def _x(y, z, beta_1):
    return ops.divide(ops.subtract(y, ops.multiply(1 - beta_1, z)), beta_1)


@contextlib.contextmanager
def averaged_point(optimizer, variables: Iterable | None = None):
    """Hold the averaged point x in ``variables`` inside the block; restore y exactly on exit.

    Args:
        optimizer: the model's optimizer. Anything but a built (possibly
            loss-scaled) `ScheduleFreeAdamW` makes this a no-op.
        variables: the variables to swap (each must be one the optimizer
            updates); None for all of them.
    """
    triples = _triples(optimizer, variables)
    saved = [ops.copy(y) for y, _, _ in triples]
    for y, z, beta_1 in triples:
        y.assign(_x(y, z, beta_1))
    try:
        yield
    finally:
        for (y, _, _), value in zip(triples, saved):
            y.assign(value)


def average_into(optimizer, variables: Iterable | None = None, project: Projection | None = None) -> None:
    """Make the averaged point permanent: variables <- x (projected if given), for saving.

    The ``momentum`` slot z is set to x as well, so the state stays consistent
    (y = z = x): `averaged_point` then changes nothing and a saved optimizer
    resumes from x (with its averaging weight 1/t and second moments kept).
    For other optimizers only ``project`` (if given) is applied.
    """
    triples = _triples(optimizer, variables)
    if not triples and project is not None:
        for variable in (innermost(optimizer)._trainable_variables if variables is None else variables):
            variable.assign(project(variable))
    for y, z, beta_1 in triples:
        x = _x(y, z, beta_1)
        if project is not None:
            x = project(x)
        z.assign(x)
        y.assign(x)


def project_iterates(optimizer, variables: Iterable, project: Projection) -> None:
    """Projection after a step: keeps y, z and x in the set of ``project``; other optimizers: y <- project(y).

    Call it right after ``apply_gradients`` (also inside a ``tf.function``).
    For Schedule-Free it is projected Schedule-Free, the base sequence z
    projected as in projected SGD: with c_t = 1/t and the unprojected z_t of
    this step,

        z' = P(z_t)
        x' = P(x_t + c_t (z' - z_t))   = P((1 - c_t) x_{t-1} + c_t z')
        y' = (1 - beta_1) z' + beta_1 x'

    so x stays a running average of points of the set (the outer P only removes
    rounding) and y, a convex combination of z' and x', stays in it too. The
    next step recovers x_{t-1} = x' from (y', z') exactly as Keras does (up to
    rounding) with kerasopt's `ScheduleFreeAdamW`; Keras' own class re-derives
    it from the updated z (see the module docstring), so use ours.
    """
    triples = _triples(optimizer, variables)
    if not triples:
        for variable in variables:
            variable.assign(project(variable))
        return
    iterations = innermost(optimizer).iterations
    for y, z, beta_1 in triples:
        weight = 1.0 / ops.cast(ops.maximum(iterations, 1), y.dtype)
        z_raw = ops.copy(z)
        z_projected = project(z_raw)
        x = project(ops.add(_x(y, z_raw, beta_1), ops.multiply(weight, ops.subtract(z_projected, z_raw))))
        z.assign(z_projected)
        y.assign(ops.add(ops.multiply(1 - beta_1, z_projected), ops.multiply(beta_1, x)))
