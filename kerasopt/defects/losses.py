"""The hybrid Dice + focal loss of AnatomyNet (Zhu et al. 2019), as a registered Keras loss.

    loss = dice_weight * DiceLoss() + focal_weight * BinaryFocalLoss()

computed by segmentation_models' own loss functions (so the value is the
one ``sm.losses.DiceLoss() + sm.losses.BinaryFocalLoss()`` gives):

``DiceLoss`` (beta 1, smooth 1e-5, pooled over the batch):
``1 - (2 TP + s) / (2 TP + FP + FN + s)`` with soft counts
``TP = sum(y p)``, ``FP = sum((1 - y) p)``, ``FN = sum(y (1 - p))``.
``BinaryFocalLoss`` (alpha 0.25, gamma 2), mean over pixels of
``-alpha y (1 - p)^gamma log p - (1 - alpha) (1 - y) p^gamma log(1 - p)``,
with ``p`` clipped to [eps, 1 - eps].

`DiceFocalLoss` is registered as ``kerasopt>DiceFocalLoss``, so a saved model
(``best.keras``) reloads with ``compile=True`` once this module is imported.
"""

from __future__ import annotations

import keras

from kerasopt.defects.model import segmentation_models


@keras.saving.register_keras_serializable(package="kerasopt")
class DiceFocalLoss(keras.losses.Loss):
    """``dice_weight * sm DiceLoss + focal_weight * sm BinaryFocalLoss`` (a scalar per batch).

    Args:
        dice_weight, focal_weight: non-negative floats, not both zero; a zero weight drops its term.
        name, reduction, dtype: as for `keras.losses.Loss` (the value is already a scalar).
    """

    def __init__(self, dice_weight: float = 1.0, focal_weight: float = 1.0, name: str = "dice_focal_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if dice_weight < 0 or focal_weight < 0 or dice_weight + focal_weight == 0:
            raise ValueError("loss weights must be non-negative and not both zero. "
                             f"Received: dice_weight={dice_weight}, focal_weight={focal_weight}")
        self.dice_weight, self.focal_weight = float(dice_weight), float(focal_weight)
        sm = segmentation_models()
        self._terms = [(weight, loss) for weight, loss in ((self.dice_weight, sm.losses.DiceLoss()),
                                                           (self.focal_weight, sm.losses.BinaryFocalLoss()))
                       if weight > 0]

    def call(self, y_true, y_pred):
        """y_true, y_pred: float (B, H, W, 1); returns a float32 scalar."""
        total = None
        for weight, loss in self._terms:
            term = loss(y_true, y_pred) if weight == 1.0 else weight * loss(y_true, y_pred)
            total = term if total is None else total + term
        return total

    def get_config(self):
        return {**super().get_config(), "dice_weight": self.dice_weight, "focal_weight": self.focal_weight}


def dice_focal_loss(dice_weight: float = 1.0, focal_weight: float = 1.0) -> DiceFocalLoss:
    """The weighted sum as a `DiceFocalLoss` (callable ``(y_true, y_pred)``).

    Args:
        dice_weight, focal_weight: non-negative floats, not both zero.
    """
    return DiceFocalLoss(dice_weight, focal_weight)
