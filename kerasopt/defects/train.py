"""One defect-segmentation run: data → U-Net → ``model.fit`` → test metrics → run record.

`run` validates everything that can be wrong with the input (settings, data
folder, every image/mask pair) BEFORE the run directory is written, raising
ValueError/FileNotFoundError. Training then happens inside a
`kerasopt.records.RunRecord`: a non-finite loss stops training
(``TerminateOnNaN``) and is recorded as ``diverged``; any other exception is
recorded as ``failed``.

History (``history.csv``), one row per epoch: ``step`` (optimizer steps so
far), ``evaluations`` (gradient evaluations so far: one per step),
``seconds`` (training seconds so far, excluding validation and the first
step's tracing/compilation, which goes to ``trace_seconds``), ``loss``,
``dice`` (training, on augmented batches, pooled at 0.5), ``val_loss``,
``val_dice``, ``epoch``.

BatchNorm recalibration (``bn_recalibration``, default on): before every
validation pass `kerasopt.defects.bn.BatchNormRecalibration` recomputes the BN
moving statistics on ``bn_batches`` fixed training batches, so ``val_dice``,
the checkpoint selection and ``best.keras`` all see recalibrated statistics;
the test evaluation uses that checkpoint (or is recalibrated itself).

Resuming: ``RUN/backup/`` (Keras ``BackupAndRestore``) holds the state after
the last completed epoch; the same call on the same run directory after a
kill continues from there (see `kerasopt.harness.resume`), with the history
of completed epochs kept and, with ``deterministic``, the same final metrics.

Artifacts: ``best.keras`` (the model of the best ``val_dice`` epoch, kept in memory by
`kerasopt.optimizers.evaluation.BestWeights` and written once at the end when ``save_model``, with the
final optimizer state; reload with
`kerasopt.defects.saving.load_model`), ``tensorboard/`` logs (when the
``tensorboard`` package is installed), ``overlays.png``, and the small
``test_predictions.png`` / ``test_inputs.png`` that study reports put side by
side (`save_prediction_panel`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasopt import records
from kerasopt.defects import synth
from kerasopt.defects.config import DefectsConfig
from kerasopt.optimizers.evaluation import EvaluationPoint, finalize
from kerasopt.defects.bn import BatchNormRecalibration, recalibrate
from kerasopt.defects.data import Splits, make_dataset, steps_per_epoch
from kerasopt.defects.losses import dice_focal_loss
from kerasopt.defects.metrics import PooledDice, evaluate_predictions, per_image_counts, pixel_metrics
from kerasopt.defects.model import build_unet, check_encoder_weights_fit
from kerasopt.harness import EpochRecorder, backup_callback, best_weights_callback, kept_on_error
from kerasopt.harness.resume import ResumableRecord

CHECKPOINT = "best.keras"
HISTORY_COLUMNS = ("loss", "dice", "val_loss", "val_dice")


def prepare_data(config: DefectsConfig) -> None:
    """Before a comparison or a run: generate the synthetic data set into ``config.data`` if asked and not
    yet complete, and check that an .h5 ``encoder_weights`` file fits the backbone (ValueError)."""
    if config.synthetic and not (Path(config.data) / synth.MANIFEST).is_file():
        synth.generate(config.data, config.synthetic_n, config.synthetic_size, config.synthetic_seed)
    check_encoder_weights_fit(config.backbone, config.encoder_weights)


def build_model(config: DefectsConfig, total_steps: int | None = None) -> keras.Model:
    """The compiled U-Net of ``config`` (seed it first for identical initial weights); its optimizer's
    schedule spans ``total_steps`` (None: only without a schedule)."""
    previous_policy = keras.mixed_precision.global_policy()
    mixed = config.precision != "float32"
    if mixed:
        keras.mixed_precision.set_global_policy(config.precision)
    try:
        model = build_unet(config.backbone, config.size, config.encoder_weights)
        if mixed:  # output, losses and metrics in float32
            model = keras.Model(model.input, keras.layers.Activation("linear", dtype="float32")(model.output))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    model.compile(optimizer=config.build_optimizer(total_steps, model.trainable_variables),
                  loss=dice_focal_loss(config.dice_weight, config.focal_weight),
                  metrics=[PooledDice(name="dice")], jit_compile=bool(config.jit))
    return model


def recalibration_dataset(config: DefectsConfig, splits: Splits) -> tf.data.Dataset:
    """``bn_batches`` fixed batches of training images, without augmentation.

    The images are a seeded (``split_seed``) random subset of the training split,
    so the batches mix defect types even when file names are grouped by type.
    """
    order = np.random.default_rng(config.split_seed).permutation(len(splits.train))
    chosen = [splits.train[i] for i in order[: config.bn_batches * config.batch_size]]
    return make_dataset(chosen, config.size, config.batch_size)


def train_and_evaluate(config: DefectsConfig, splits: Splits, record: ResumableRecord, progress: bool,
                        callbacks: list = ()) -> dict:
    """Train (resuming ``record.resume`` when set), select the best epoch, evaluate on the test split and
    finish the record (the `kerasopt.harness.Workload` ``train`` of defects; seeded by the harness)."""
    done = record.resume.done if record.resume else 0
    steps = steps_per_epoch(len(splits.train), config.batch_size)
    train_data = make_dataset(splits.train, config.size, config.batch_size, training=True, seed=config.seed,
                              epochs=config.epochs, initial_epoch=done) if config.augment else \
        make_dataset(splits.train, config.size, config.batch_size).repeat()
    val_data = make_dataset(splits.val, config.size, config.batch_size)
    test_data = make_dataset(splits.test, config.size, config.batch_size)
    strategy = tf.distribute.MirroredStrategy() if config.strategy == "mirrored" else tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(config, config.epochs * steps)
    recorder = EpochRecorder(record, "val_dice", HISTORY_COLUMNS, progress, record.resume.rows if record.resume else ())
    fit_callbacks = [recorder, EvaluationPoint()]  # validate at the optimizer's evaluation point (before the recalibration)
    bn_data = recalibration_dataset(config, splits) if config.bn_recalibration else None
    if bn_data is not None:  # after the recorder: recalibration counts as evaluation time
        fit_callbacks.append(BatchNormRecalibration(bn_data, config.bn_batches))
    best = best_weights_callback(record.run_dir, "val_dice", "max", recorder.values)
    fit_callbacks += [keras.callbacks.TerminateOnNaN(), best]
    if importlib.util.find_spec("tensorboard") is not None:  # tf.summary needs the tensorboard package
        fit_callbacks.append(keras.callbacks.TensorBoard(str(record.artifacts / "tensorboard"), write_graph=False,
                                                         profile_batch=0))
    fit_callbacks += [*callbacks, backup_callback(record.run_dir)]  # the backup last: after the row
    model.fit(train_data, validation_data=val_data, epochs=config.epochs, steps_per_epoch=steps,
              callbacks=fit_callbacks, shuffle=False, verbose=0)  # the training data shuffles itself (seeded)
    val_dices = [d for d in recorder.values if d is not None]
    steps_done = int(model.optimizer.iterations)
    progress_metrics = {"epochs": len(recorder.values), "steps": steps_done, "evaluations": steps_done,
                        "train_seconds": recorder.train_seconds}
    if recorder.diverged:
        return record.finish("diverged", {**progress_metrics, "val_dice": max(val_dices, default=None)},
                             error=recorder.diverged, trace_seconds=recorder.trace_seconds)
    if best.weights is not None:
        model.set_weights(best.weights)  # its BN statistics were recalibrated before its validation
    else:
        finalize(model.optimizer, model.trainable_variables)  # the evaluation point (fit did it; idempotent)
        if bn_data is not None:
            recalibrate(model, bn_data, config.bn_batches)
    if config.save_model:
        model.save(record.artifacts / CHECKPOINT)
    val_probabilities, val_masks = predict(model, val_data)
    test_probabilities, test_masks = predict(model, test_data)
    metrics = {**progress_metrics, "val_dice": pixel_metrics(val_probabilities, val_masks)["dice"],
               "best_epoch": recorder.best_epoch("max"),
               **evaluate_predictions(test_probabilities, test_masks, val_probabilities, val_masks)}
    write_per_image(record.run_dir / records.PER_IMAGE, per_image_counts(test_probabilities, test_masks))
    with kept_on_error(metrics, "overlays_error"):
        save_overlays(test_data, test_probabilities, record.artifacts / "overlays.png", config.overlays)
        save_prediction_panel(test_data, test_probabilities, record.artifacts)
    return record.finish("completed", metrics, trace_seconds=recorder.trace_seconds)


def write_per_image(path: Path, counts: np.ndarray) -> None:
    """``test_images.csv``: one row per test image (in split order) with its ``tp, fp, fn`` pixels at 0.5,
    a few hundred bytes kept in the run record (not an artifact), so reports can bootstrap over images."""
    with open(path, "w") as handle:
        handle.write("image,tp,fp,fn\n")
        handle.writelines(f"{index},{tp},{fp},{fn}\n" for index, (tp, fp, fn) in enumerate(counts))


def predict(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities float32 (N, H, W, 1) in [0, 1] and masks float32 (N, H, W, 1) in {0, 1}.

    One compiled inference forward per model (traced once for any batch size); on this CPU it gives the
    same bits as calling the model eagerly (tests/test_defects_train.py)."""
    forward = getattr(model, "_kerasopt_forward", None)
    if forward is None:
        forward = tf.function(lambda images: model(images, training=False),
                              input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        model._kerasopt_forward = forward
    probabilities, masks = [], []
    for images, batch_masks in dataset:
        probabilities.append(np.asarray(forward(tf.cast(images, tf.float32)), np.float32))
        masks.append(batch_masks.numpy())
    return np.concatenate(probabilities), np.concatenate(masks)


PANEL_IMAGES = 4
PREDICTIONS, INPUTS = "test_predictions.png", "test_inputs.png"


def panel_order(masks: np.ndarray, count: int = PANEL_IMAGES) -> np.ndarray:
    """Indices of the test images a comparison shows: defective ones first, in split order.

    Args:
        masks: (N, H, W, 1) true masks in {0, 1}.
    """
    defective = masks.reshape(len(masks), -1).max(axis=1) > 0
    return np.concatenate([np.flatnonzero(defective), np.flatnonzero(~defective)])[:count]


def save_prediction_panel(dataset: tf.data.Dataset, probabilities: np.ndarray, directory: Path,
                          threshold: float = 0.5) -> None:
    """Small PNGs a report can put side by side without the data or the model.

    ``test_predictions.png``: the predicted masks (p >= ``threshold``) of the `panel_order`
    test images, left to right, 1 bit per pixel (a few hundred bytes); ``test_inputs.png``:
    the same images above their true masks (RGB). The images are the same for every run
    on the same data and split.
    """
    from PIL import Image

    images, masks = (np.concatenate(parts) for parts in zip(*[(x.numpy(), y.numpy()) for x, y in dataset]))
    order = panel_order(masks)
    predicted = np.concatenate([probabilities[i, ..., 0] >= threshold for i in order], axis=1)
    Image.fromarray(predicted).convert("1").save(directory / PREDICTIONS, optimize=True)
    shown = np.concatenate([images[i] for i in order], axis=1)
    truth = np.repeat(np.concatenate([masks[i] for i in order], axis=1), 3, axis=-1)
    picture = np.clip(np.concatenate([shown, truth], axis=0) * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(picture).save(directory / INPUTS, optimize=True)


def save_overlays(dataset: tf.data.Dataset, probabilities: np.ndarray, path: Path, count: int = 4,
                  threshold: float = 0.5) -> None:
    """Rows of (image, true mask, predicted mask) for up to ``count`` test images, defective first."""
    from matplotlib.figure import Figure  # no pyplot: no backend chosen, no global state

    if count == 0:
        return
    images, masks = (np.concatenate(parts) for parts in zip(*[(x.numpy(), y.numpy()) for x, y in dataset]))
    order = panel_order(masks, count)
    figure = Figure(figsize=(7.5, 2.5 * len(order)))
    axes = figure.subplots(len(order), 3, squeeze=False)
    for row, index in zip(axes, order):
        predicted = probabilities[index, ..., 0] >= threshold
        for ax, picture, title in zip(row, (images[index], masks[index, ..., 0], predicted),
                                      ("image", "true mask", f"predicted (p >= {threshold})")):
            ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
