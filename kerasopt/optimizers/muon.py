"""Muon for convolutional networks: conv kernels are orthogonalized as matrices.

Keras 3.15's `keras.optimizers.Muon` orthogonalizes only 2-D variables and sends
every other variable, conv kernels included, to its AdamW branch; on a conv net
(1-D and 4-D variables only) it therefore produces exactly AdamW's weights.
`Muon` here follows the Muon authors' treatment of convolutions instead: a kernel
of any rank >= 2 is flattened to a matrix, orthogonalized, and reshaped back.
Only variables of rank < 2 (biases, BatchNorm scales and offsets) and the ones
Keras' rules exclude (embeddings, ``exclude_layers``) use AdamW.

Which matrix. The reference (github.com/KellerJordan/Muon) flattens a PyTorch
conv gradient of layout (out, in, kh, kw) with ``g.view(len(g), -1)``, an
``out x (in*kh*kw)`` matrix. Keras kernels are HWIO, (kh, kw, in, out); we reshape
them to the ``(kh*kw*in) x out`` matrix, fan-in by fan-out, exactly as Keras'
Dense kernel (in, out) is used. That matrix is the transpose of the reference
one with its fan-in rows permuted, and orthogonalization commutes with both
(orth(G^T) = orth(G)^T and orth(P G) = P orth(G) for a permutation P), so the
update equals the reference's after mapping the layouts (tests/test_muon.py
checks this against a numpy implementation of the reference).

Update of a variable W of rank >= 2 with gradient g (Keras' Muon step):

    m <- momentum * m + g
    u <- g + momentum * m          (nesterov=True; else u <- m)
    G <- reshape(u, (prod(shape[:-1]), shape[-1]))
    O <- NewtonSchulz5(G)          ~ U V^T of G = U S V^T; singular values ~ 1
    W <- W - lr * O * sqrt(max(rows, cols)) * rms_rate    (reshaped back)

NewtonSchulz5 normalizes X = G / (||G||_F + 1e-7) (working on G^T when G has
more rows than columns) and iterates X <- a X + (b A + c A^2) X with A = X X^T,
``ns_steps`` times, with the quintic coefficients (a, b, c) = (3.4445, -4.7750,
2.0315) of the reference. The shape-dependent scale is Keras' (the Moonlight
rule of Liu et al. 2025, ``rms_rate=0.2``, so the update RMS matches AdamW's and
the same learning rate and weight decay serve both branches); with
``rms_rate=None`` no scale is applied, as in Keras. Weight decay: decoupled,
``weight_decay`` for orthogonalized variables and ``adam_weight_decay`` for the
AdamW ones. Variables of rank < 2: AdamW with ``learning_rate * adam_lr_ratio``,
``adam_beta_1``, ``adam_beta_2``, ``epsilon``, identical to Keras' AdamW.

References:
    Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural
    networks", https://kellerjordan.github.io/posts/muon/ and
    https://github.com/KellerJordan/Muon.
    Liu et al. (2025), "Muon is Scalable for LLM Training",
    https://arxiv.org/abs/2502.16982.
"""

from __future__ import annotations

import math
import re

import keras
from keras import ops

__all__ = ["Muon", "PIXEL_PROBLEM_REASON"]

PIXEL_PROBLEM_REASON = (
    "muon orthogonalizes weight matrices (hidden-layer kernels); the style-transfer variable is a (1, H, W, 3) "
    "image, and orthogonalizing its pixels reshaped to an (H*W) x 3 matrix is not what Muon means (Keras' Muon "
    "would instead run plain AdamW on it, duplicating 'adamw')"
)
"""Why ``muon`` is left out of ``all`` on the pixel (style-transfer) problem."""


@keras.saving.register_keras_serializable(package="kerasopt")
class Muon(keras.optimizers.Muon):
    """Muon that also orthogonalizes conv kernels (flattened to fan-in x fan-out).

    Same arguments, defaults and config as `keras.optimizers.Muon`; the only
    change is which variables are orthogonalized: every variable of rank >= 2
    (Dense kernels as in Keras, and Conv1D/2D/3D kernels reshaped to
    ``(prod(kernel_shape[:-1]), filters)``), unless excluded by
    ``exclude_embeddings`` or ``exclude_layers``. Variables of rank 0 or 1 use
    AdamW. See the module docstring for the update rule and the layout argument.

    Muon is meant for hidden layers: pass the output layer's name in
    ``exclude_layers`` (e.g. ``exclude_layers=["final_conv"]`` for a
    segmentation-models U-Net) to train it with AdamW, as the authors do.

    Args:
        learning_rate: float or schedule, shared by both branches (AdamW's
            is multiplied by ``adam_lr_ratio``). Defaults to 0.001.
        momentum: float in [0, 1), Muon's momentum. Defaults to 0.95.
        ns_steps: int >= 1, Newton-Schulz iterations. Defaults to 5.
        adam_beta_1, adam_beta_2, epsilon, adam_weight_decay, adam_lr_ratio:
            the AdamW branch (as Keras).
        weight_decay: decoupled decay of the orthogonalized variables (0.004).
        exclude_layers, exclude_embeddings: variables sent to AdamW (as Keras).
        muon_a, muon_b, muon_c: Newton-Schulz quintic coefficients.
        nesterov: Nesterov momentum (True).
        rms_rate: Moonlight scale factor (0.2), None for no scale.
        **kwargs: the base `keras.optimizers.Optimizer` arguments.
    """

    def __init__(
        self,
        learning_rate=0.001,
        adam_beta_1=0.9,
        adam_beta_2=0.999,
        adam_weight_decay=0.004,
        epsilon=1e-7,
        weight_decay=0.004,
        exclude_layers=None,
        exclude_embeddings=True,
        muon_a=3.4445,
        muon_b=-4.7750,
        muon_c=2.0315,
        adam_lr_ratio=1,
        momentum=0.95,
        ns_steps=5,
        nesterov=True,
        rms_rate=0.2,
        name="muon",
        **kwargs,
    ):
        # Every Keras argument is named here (not left in **kwargs) so that signature-based
        # validation, e.g. kerasopt.optimizers.make("muon", adam_beta_1=...), sees them.
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"Muon needs 0 <= momentum < 1. Received: momentum={momentum}")
        if isinstance(ns_steps, bool) or int(ns_steps) != ns_steps or ns_steps < 1:
            raise ValueError(f"Muon needs an integer ns_steps >= 1. Received: ns_steps={ns_steps!r}")
        super().__init__(
            learning_rate=learning_rate, adam_beta_1=adam_beta_1, adam_beta_2=adam_beta_2,
            adam_weight_decay=adam_weight_decay, epsilon=epsilon, weight_decay=weight_decay,
            exclude_layers=exclude_layers, exclude_embeddings=exclude_embeddings, muon_a=muon_a, muon_b=muon_b,
            muon_c=muon_c, adam_lr_ratio=adam_lr_ratio, momentum=momentum, ns_steps=int(ns_steps),
            nesterov=nesterov, rms_rate=rms_rate, name=name, **kwargs,
        )

    def _should_use_adamw(self, variable):
        """AdamW for rank < 2, embeddings (if excluded) and ``exclude_layers``; Muon otherwise."""
        if len(variable.shape) < 2:
            return True
        path = getattr(variable, "path", None) or getattr(variable, "name", "")  # tf.Variable has no .path
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _muon_update_step(self, gradient, variable, lr, m):
        """Keras' Muon step on the variable flattened to a fan-in x fan-out matrix."""
        self.assign_add(m, ops.add(gradient, m * (self.momentum - 1)))
        direction = ops.add(gradient, self.momentum * m) if self.nesterov else m
        shape = tuple(variable.shape)
        matrix_shape = (math.prod(shape[:-1]), shape[-1])
        update = self.zeropower_via_newtonschulz5(ops.reshape(direction, matrix_shape), self.ns_steps)
        update = self.lr_adjust(lr * update)  # scale from the matrix shape
        self.assign_sub(variable, ops.reshape(update, shape))
