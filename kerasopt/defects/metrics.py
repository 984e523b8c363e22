"""Segmentation and detection metrics.

Pixel metrics pool all pixels of a split (micro average): with ``TP, FP, FN``
the counts of the thresholded prediction against the mask,
``dice = F1 = 2TP / (2TP + FP + FN)``, ``iou = TP / (TP + FP + FN)``,
``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``; a ratio with a
zero denominator is 1.0 (see `pixel_metrics`).
Image-level detection scores each image by its maximum defect probability and
compares with "mask has a defect pixel" (scikit-learn average precision and
ROC AUC; None when the split has only one class).
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def pixel_counts(probabilities: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of ``probabilities >= threshold`` against ``masks > 0.5`` (any equal shapes)."""
    predicted = np.asarray(probabilities) >= threshold
    truth = np.asarray(masks) > 0.5
    return (int(np.count_nonzero(predicted & truth)), int(np.count_nonzero(predicted & ~truth)),
            int(np.count_nonzero(~predicted & truth)))


def pixel_metrics(probabilities: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Pooled pixel ``dice``, ``iou``, ``precision``, ``recall`` at ``threshold``.

    Args:
        probabilities: float array in [0, 1], e.g. (N, H, W, 1).
        masks: array of the same shape, {0, 1}.
        threshold: a pixel is predicted defective when its probability >= threshold.

    Empty cases: dice and iou are 1.0 when there is no defect and none is
    predicted; precision is 1.0 when nothing is predicted; recall is 1.0
    when there is nothing to find.
    """
    tp, fp, fn = pixel_counts(probabilities, masks, threshold)
    ratio = lambda num, den: num / den if den else 1.0
    return {"dice": ratio(2 * tp, 2 * tp + fp + fn), "iou": ratio(tp, tp + fp + fn),
            "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn)}


def best_threshold(probabilities: np.ndarray, masks: np.ndarray, thresholds=THRESHOLDS) -> float:
    """The threshold of ``thresholds`` with the highest pooled Dice (the lowest on ties)."""
    dices = [pixel_metrics(probabilities, masks, t)["dice"] for t in thresholds]
    return float(thresholds[int(np.argmax(dices))])


def image_metrics(probabilities: np.ndarray, masks: np.ndarray) -> dict[str, float | None]:
    """Image-level ``image_ap`` and ``image_auroc``, the score being the max probability per image.

    Args:
        probabilities: float (N, H, W[, 1]) in [0, 1].
        masks: (N, H, W[, 1]) in {0, 1}; an image is defective if any pixel is 1.

    Returns:
        Both None when the images are all defective or all defect-free.
    """
    count = len(probabilities)
    scores = np.asarray(probabilities).reshape(count, -1).max(axis=1)
    labels = (np.asarray(masks).reshape(count, -1) > 0.5).any(axis=1)
    if labels.all() or not labels.any():
        return {"image_ap": None, "image_auroc": None}
    return {"image_ap": float(average_precision_score(labels, scores)),
            "image_auroc": float(roc_auc_score(labels, scores))}


def per_image_counts(probabilities: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """int64 (N, 3): each image's ``(TP, FP, FN)`` pixels at ``threshold`` (inputs (N, H, W, 1)); their
    sums are `pixel_counts` (so pooled Dice over any resample of images follows from them)."""
    predicted = np.asarray(probabilities) >= threshold
    truth = np.asarray(masks) > 0.5
    axes = tuple(range(1, predicted.ndim))
    return np.stack([np.sum(predicted & truth, axis=axes), np.sum(predicted & ~truth, axis=axes),
                     np.sum(~predicted & truth, axis=axes)], axis=1).astype(np.int64)


def evaluate_predictions(test_probabilities, test_masks, val_probabilities, val_masks) -> dict:
    """All test metrics: pixel metrics at 0.5 (``test_dice`` ...) and at the validation-best
    threshold (``test_dice_at_best`` ..., with ``best_threshold``), and image AP/AUROC."""
    threshold = best_threshold(val_probabilities, val_masks)
    metrics = {f"test_{k}": v for k, v in pixel_metrics(test_probabilities, test_masks, 0.5).items()}
    metrics |= {f"test_{k}_at_best": v for k, v in pixel_metrics(test_probabilities, test_masks, threshold).items()}
    metrics["best_threshold"] = threshold
    metrics |= image_metrics(test_probabilities, test_masks)
    return metrics


@keras.saving.register_keras_serializable(package="kerasopt")
class PooledDice(keras.metrics.Metric):
    """Keras metric: Dice of ``y_pred >= threshold`` pooled over all pixels seen since reset.

    Matches `pixel_metrics(...)["dice"]` over the same data (1.0 when there
    is no defect and none predicted).
    """

    def __init__(self, threshold: float = 0.5, name: str = "dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)
        self.counts = self.add_variable(shape=(3,), initializer="zeros", name="tp_fp_fn", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = keras.ops.cast(keras.ops.greater_equal(keras.ops.cast(y_pred, "float32"), self.threshold),
                                   "float32")
        truth = keras.ops.cast(keras.ops.greater(keras.ops.cast(y_true, "float32"), 0.5), "float32")
        tp = keras.ops.sum(predicted * truth)
        self.counts.assign_add(keras.ops.stack([tp, keras.ops.sum(predicted) - tp, keras.ops.sum(truth) - tp]))

    def result(self):
        tp, fp, fn = self.counts[0], self.counts[1], self.counts[2]
        denominator = 2 * tp + fp + fn
        return keras.ops.where(denominator > 0, 2 * tp / keras.ops.maximum(denominator, 1.0), 1.0)

    def reset_state(self):
        self.counts.assign(keras.ops.zeros((3,)))

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
