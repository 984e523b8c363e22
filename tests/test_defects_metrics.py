"""Dice + focal loss and the metrics against NumPy / scikit-learn references."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, jaccard_score, precision_score, recall_score, \
    roc_auc_score

from kerasopt.defects.losses import dice_focal_loss
from kerasopt.defects.metrics import PooledDice, best_threshold, evaluate_predictions, image_metrics, pixel_metrics

EPS = 1e-7  # keras.backend.epsilon(), used by segmentation_models to clip


def _case(seed=0, shape=(3, 8, 8, 1)):
    rng = np.random.default_rng(seed)
    truth = (rng.random(shape) < 0.2).astype(np.float32)
    prob = np.clip(0.6 * truth + 0.4 * rng.random(shape), 0, 1).astype(np.float32)
    return truth, prob


def numpy_dice_loss(y, p, smooth=1e-5):
    tp, fp, fn = (y * p).sum(), ((1 - y) * p).sum(), (y * (1 - p)).sum()
    return 1 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth)


def numpy_focal_loss(y, p, alpha=0.25, gamma=2.0):
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-alpha * y * (1 - p) ** gamma * np.log(p) - (1 - alpha) * (1 - y) * p ** gamma * np.log(1 - p))


@pytest.mark.parametrize("dice_weight, focal_weight", [(1.0, 1.0), (0.3, 2.0), (1.0, 0.0), (0.0, 1.0)])
def test_hybrid_loss_matches_numpy(dice_weight, focal_weight):
    y, p = _case()
    expected = dice_weight * numpy_dice_loss(y, p) + focal_weight * numpy_focal_loss(y, p)
    assert float(dice_focal_loss(dice_weight, focal_weight)(y, p)) == pytest.approx(expected, rel=1e-4)


def test_loss_weights_must_be_non_negative_and_not_both_zero():
    with pytest.raises(ValueError, match="loss weights"):
        dice_focal_loss(0.0, 0.0)
    with pytest.raises(ValueError, match="loss weights"):
        dice_focal_loss(-1.0, 1.0)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_pixel_metrics_match_scikit_learn(threshold):
    y, p = _case(1)
    truth, predicted = y.ravel() > 0.5, p.ravel() >= threshold
    metrics = pixel_metrics(p, y, threshold)
    assert metrics["dice"] == pytest.approx(f1_score(truth, predicted))
    assert metrics["iou"] == pytest.approx(jaccard_score(truth, predicted))
    assert metrics["precision"] == pytest.approx(precision_score(truth, predicted))
    assert metrics["recall"] == pytest.approx(recall_score(truth, predicted))


def test_pixel_metrics_empty_cases_are_one():
    empty = np.zeros((2, 4, 4, 1))
    assert pixel_metrics(empty, empty) == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    truth = empty.copy()
    truth[0, 0, 0, 0] = 1
    assert pixel_metrics(empty, truth) == {"dice": 0.0, "iou": 0.0, "precision": 1.0, "recall": 0.0}


def test_best_threshold_maximises_dice():
    y, p = _case(2)
    threshold = best_threshold(p, y)
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    assert pixel_metrics(p, y, threshold)["dice"] == pytest.approx(max(pixel_metrics(p, y, t)["dice"] for t in grid))


def test_image_metrics_use_max_probability_and_match_scikit_learn():
    y, p = _case(3, shape=(6, 8, 8, 1))
    y[:2] = 0  # two defect-free images
    labels, scores = y.reshape(6, -1).max(1) > 0, p.reshape(6, -1).max(1)
    metrics = image_metrics(p, y)
    assert metrics["image_ap"] == pytest.approx(average_precision_score(labels, scores))
    assert metrics["image_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert image_metrics(p, np.ones_like(y)) == {"image_ap": None, "image_auroc": None}


def test_evaluate_predictions_reports_both_thresholds():
    y, p = _case(4, shape=(5, 8, 8, 1))
    y[0] = 0
    metrics = evaluate_predictions(p, y, p, y)
    assert metrics["test_dice"] == pytest.approx(pixel_metrics(p, y, 0.5)["dice"])
    assert metrics["test_dice_at_best"] == pytest.approx(pixel_metrics(p, y, metrics["best_threshold"])["dice"])
    assert {"test_iou", "test_precision", "test_recall", "image_ap", "image_auroc"} <= set(metrics)


def test_pooled_keras_dice_accumulates_batches_like_numpy():
    y, p = _case(5, shape=(4, 8, 8, 1))
    metric = PooledDice()
    metric.update_state(y[:2], p[:2])
    metric.update_state(y[2:], p[2:])
    assert float(metric.result()) == pytest.approx(pixel_metrics(p, y, 0.5)["dice"], rel=1e-6)
    metric.reset_state()
    metric.update_state(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1)))
    assert float(metric.result()) == 1.0


def test_per_image_counts_sum_to_the_pooled_counts():
    from kerasopt.defects.metrics import per_image_counts, pixel_counts

    probabilities = np.zeros((3, 2, 2, 1), np.float32)
    masks = np.zeros((3, 2, 2, 1), np.float32)
    probabilities[0, 0, 0], masks[0, 0, 0] = 0.9, 1  # image 0: one TP
    probabilities[1, 1, 1] = 0.7                     # image 1: one FP
    masks[2, 0, 1] = masks[2, 1, 0] = 1              # image 2: two FN
    counts = per_image_counts(probabilities, masks)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
    assert tuple(counts.sum(axis=0)) == pixel_counts(probabilities, masks)


def test_the_interval_over_seeds_and_images_holds_the_test_sets_own_error():
    from kerasopt.report.stats import seeds_and_images_interval, t_interval

    rng = np.random.default_rng(0)
    defects = rng.integers(20, 200, size=60)  # defect pixels per test image
    recall = rng.uniform(0.3, 1.0, size=60)  # how well the images are segmented differs a lot...
    seeds = []
    for s in range(5):  # ...while the seeds agree: the same images are easy or hard for every seed
        tp = np.round(defects * np.clip(recall + rng.normal(0, 0.01, 60), 0, 1)).astype(int)
        seeds.append(np.stack([tp, np.full(60, 5), defects - tp], axis=1))
    mean, low, high = seeds_and_images_interval(seeds, resamples=500)
    dices = [2 * c[:, 0].sum() / (2 * c[:, 0].sum() + c[:, 1].sum() + c[:, 2].sum()) for c in seeds]
    assert mean == pytest.approx(np.mean(dices))
    seed_only = t_interval(dices)
    assert low <= mean <= high
    one = seeds_and_images_interval([np.array([[3, 1, 1]])], resamples=50)
    assert one == pytest.approx((6 / 8, 6 / 8, 6 / 8))  # one seed, one image: nothing to resample
    assert high - low > seed_only[2] - seed_only[1] > 0  # seeds agree; which 60 images were drawn matters more
