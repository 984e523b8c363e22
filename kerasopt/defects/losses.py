"""The hybrid Dice + focal loss of AnatomyNet (Zhu et al. 2019) from segmentation_models.

    loss = dice_weight * DiceLoss() + focal_weight * BinaryFocalLoss()

``DiceLoss`` (beta 1, smooth 1e-5, pooled over the batch):
``1 - (2 TP + s) / (2 TP + FP + FN + s)`` with soft counts
``TP = sum(y p)``, ``FP = sum((1 - y) p)``, ``FN = sum(y (1 - p))``.
``BinaryFocalLoss`` (alpha 0.25, gamma 2), mean over pixels of
``-alpha y (1 - p)^gamma log p - (1 - alpha) (1 - y) p^gamma log(1 - p)``,
with ``p`` clipped to [eps, 1 - eps].
"""

from __future__ import annotations

import kerasopt.defects.model  # noqa: F401  (sets SM_FRAMEWORK before segmentation_models loads)


def dice_focal_loss(dice_weight: float = 1.0, focal_weight: float = 1.0):
    """The weighted sum as a segmentation_models loss object (callable ``(y_true, y_pred)``).

    Args:
        dice_weight, focal_weight: non-negative floats, not both zero.
    """
    import segmentation_models as sm

    if dice_weight < 0 or focal_weight < 0 or dice_weight + focal_weight == 0:
        raise ValueError("loss weights must be non-negative and not both zero. "
                         f"Received: dice_weight={dice_weight}, focal_weight={focal_weight}")
    terms = [weight * loss for weight, loss in ((dice_weight, sm.losses.DiceLoss()),
                                                (focal_weight, sm.losses.BinaryFocalLoss())) if weight > 0]
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]
