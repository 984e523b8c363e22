"""Rprop (resilient backpropagation) as a Keras 3 optimizer.

Variant: the one ``torch.optim.Rprop`` implements, i.e. iRprop- (Igel & Hüsken
2000), "Rprop without weight-backtracking". Per element, with previous
effective gradient ``g_prev`` and step size ``delta``:

    s = sign(g * g_prev)
    delta <- clip(delta * (eta_plus if s > 0 else eta_minus if s < 0 else 1),
                  min_step, max_step)
    g_eff = 0 if s < 0 else g
    w <- w - sign(g_eff) * delta
    g_prev <- g_eff

``delta`` starts at ``learning_rate`` (the initial step, in the units of the
variable) on the optimizer's first step (``iterations == 0``). A step size that
later shrinks to 0 (possible only with ``min_step=0``) stays 0: the element is
frozen, as in torch, rather than restarted at ``learning_rate``. Only gradient *signs* are used, so Rprop is meant for full-batch
problems (e.g. the style-transfer image); with noisy mini-batch gradients the
sign flips are random and the steps shrink towards ``min_step``.

References:
    Riedmiller & Braun (1993), "A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm".
    Igel & Hüsken (2000), "Improving the Rprop learning algorithm".
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasopt")
class Rprop(keras.optimizers.Optimizer):
    """Sign-based resilient step-size optimizer (iRprop-, as in torch).

    Args:
        learning_rate: float > 0, the initial step size per element
            (default 0.01, as torch.optim.Rprop).
        eta_plus: float > 1, step growth when the gradient sign is kept (1.2).
        eta_minus: float in (0, 1), step shrink on a sign flip (0.5).
        min_step: float >= 0, lower bound of the step size (1e-6).
        max_step: float > min_step, upper bound of the step size (50.0).
        **kwargs: the base `keras.optimizers.Optimizer` arguments
            (clipnorm, weight_decay, name, ...).
    """

    def __init__(
        self,
        learning_rate=0.01,
        eta_plus=1.2,
        eta_minus=0.5,
        min_step=1e-6,
        max_step=50.0,
        name="rprop",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not eta_plus > 1.0:
            raise ValueError(f"Rprop needs eta_plus > 1. Received: eta_plus={eta_plus}")
        if not 0.0 < eta_minus < 1.0:
            raise ValueError(f"Rprop needs 0 < eta_minus < 1. Received: eta_minus={eta_minus}")
        if not 0.0 <= min_step < max_step:
            raise ValueError(
                f"Rprop needs 0 <= min_step < max_step. Received: min_step={min_step}, max_step={max_step}"
            )
        self.eta_plus = float(eta_plus)
        self.eta_minus = float(eta_minus)
        self.min_step = float(min_step)
        self.max_step = float(max_step)

    def build(self, var_list):
        """Create the slots ``prev_gradient`` and ``step_size`` (set on the first step)."""
        if self.built:
            return
        super().build(var_list)
        self._prev_gradients = self.add_optimizer_variables(var_list, "prev_gradient")
        self._step_sizes = self.add_optimizer_variables(var_list, "step_size")

    def update_step(self, gradient, variable, learning_rate):
        """Apply one iRprop- step to ``variable``."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        prev = self._prev_gradients[index]
        step = self._step_sizes[index]
        initial = ops.cast(learning_rate, dtype)
        # The first step starts at the learning rate; the iteration count (not a zero step size, which
        # min_step=0 can reach by underflow) tells whether the optimizer has stepped before.
        first = ops.equal(self.iterations, 0)
        step_now = ops.where(first, initial * ops.ones_like(step), step)
        agreement = ops.sign(ops.multiply(gradient, prev))
        factor = ops.where(
            ops.greater(agreement, 0),
            ops.cast(self.eta_plus, dtype),
            ops.where(ops.less(agreement, 0), ops.cast(self.eta_minus, dtype), ops.cast(1.0, dtype)),
        )
        new_step = ops.clip(step_now * factor, self.min_step, self.max_step)
        effective = ops.where(ops.less(agreement, 0), ops.zeros_like(gradient), gradient)
        self.assign_sub(variable, ops.sign(effective) * new_step)
        self.assign(prev, effective)
        self.assign(step, new_step)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "eta_plus": self.eta_plus,
                "eta_minus": self.eta_minus,
                "min_step": self.min_step,
                "max_step": self.max_step,
            }
        )
        return config
