"""One fast style-transfer run: photos -> transformation network -> run record (`run`), and `compare`.

`run` checks everything that can be wrong with the input (settings, photo
folder, photo sizes, style image, feature weights) BEFORE the run directory is
written. Training then happens inside a `kerasopt.records.RunRecord`: a
non-finite training loss stops it with status ``diverged``; any other
exception is recorded as ``failed``.

History (``history.csv``): a row every ``log_every`` steps (and at step 0)
with ``step``, ``evaluations`` (= steps: one mini-batch gradient each),
``seconds`` (training seconds, excluding validation and the first step's
tracing, which goes to ``trace_seconds``), ``loss``, ``content_loss``,
``style_loss``, ``tv_loss`` (training batch means since the previous row; at
step 0: the first batch under the initial weights), and, every
``eval_every`` steps and at the last step, ``val_loss``, ``val_content_loss``,
``val_style_loss``, ``val_tv_loss`` on the held-out photos (empty otherwise).
Validation, the final metrics, ``model.keras`` and the grid are at the
optimizer's evaluation point (`kerasopt.optimizers.evaluation`: Schedule-Free's
averaged point x); the training columns are where the gradients are taken.

Artifacts: ``model.keras`` (the final network), ``grid.png`` (top row: the
style image, then the validation photos; bottom row: their stylized versions).

Resume: after every validation before the last, the network, the optimizer's
variables and the step are backed up (`kerasopt.harness.LoopBackup`); a killed
run started again with the same settings continues from there (the batches
already drawn are drawn again and skipped: same seed, same batches) and ends as
a run that was never killed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasopt.faststyle import data
from kerasopt.faststyle.config import FastStyleConfig
from kerasopt.faststyle.losses import COMPONENTS, PerceptualLoss, style_grams
from kerasopt.faststyle.model import build_transformer
from kerasopt.harness import LoopBackup, TrainingClock, kept_on_error, non_finite
from kerasopt.optimizers.evaluation import evaluation_point, finalize
from kerasopt.harness.resume import ResumableRecord
from kerasopt.style import features, images

MODEL_FILE, GRID_FILE = "model.keras", "grid.png"
GRID_PHOTOS = 4
GRID_GAP_PX = 4


@dataclass(frozen=True)
class Problem:
    """Inputs of a run that do not depend on the optimizer.

    Attributes:
        split: the `data.PhotoSplit`.
        extractor: the `FeatureExtractor` of the loss.
        style_image: float32 (H, W, 3), RGB in [0, 255].
        grams: ``{style layer: float32 (c, c)}`` of the style image.
        val_photos: float32 (N, size, size, 3), RGB in [0, 255] (centre crops).
        style_source: path of the style image, or ``pattern``.
    """

    split: data.PhotoSplit
    extractor: features.FeatureExtractor
    style_image: np.ndarray
    grams: dict
    val_photos: np.ndarray
    style_source: str

    def describe(self) -> dict:
        """Record entries: data split, feature network and weights hash, style file."""
        return {**self.split.describe(), **self.extractor.describe(), "style_file": self.style_source}


@functools.lru_cache(maxsize=4)
def _cached_problem(data_dir, val_photos, size, style, style_size, network, weights, stamp) -> Problem:
    split = data.load_split(data_dir, val_photos)
    data.check_photo_sizes(split.train + split.val, size)
    style_image = images.load_image(style, style_size, "style image")
    extractor = features.build_extractor(network, weights)
    val = data.validation_batch(split.val, size)
    return Problem(split, extractor, style_image, style_grams(extractor, style_image), val,
                   images.describe_source(style))


def prepare(config: FastStyleConfig) -> Problem:
    """The cached `Problem` of ``config`` (a changed style file is reloaded).

    Raises:
        ValueError / FileNotFoundError: empty or unreadable photo folder, a photo
            too small for ``size``, a bad style image or weights file (one line).
    """
    style_path = Path(images.describe_source(config.style))
    stamp = style_path.stat().st_mtime_ns if style_path.is_file() else None
    return _cached_problem(config.data, config.val_photos, config.size, config.style,
                           config.style_size or config.size, config.network, config.weights, stamp)


def _compiled_functions(model, loss: PerceptualLoss, optimizer):
    """``train_step(photos) -> (total, parts)`` (one update) and ``evaluate(photos) -> (total, parts, style_each)``."""
    optimizer.build(model.trainable_variables)

    @tf.function(reduce_retracing=True)
    def train_step(photos):
        with tf.GradientTape() as tape:
            total, parts = loss(model(photos, training=True), photos)
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return total, parts

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def evaluate(photos):  # one trace for training and validation batches of any size
        stylized = model(photos, training=False)
        total, parts = loss(stylized, photos)
        return total, parts, loss.style_of(stylized)

    return train_step, evaluate


def _val_row(evaluate, val_photos, optimizer) -> dict:
    """Validation columns at the optimizer's evaluation point; training resumes where it was."""
    with evaluation_point(optimizer):
        total, parts, _ = evaluate(val_photos)
    return {"val_loss": float(total), **{f"val_{n}": float(v) for n, v in zip(COMPONENTS, parts.numpy())}}


def train(config: FastStyleConfig, problem: Problem, record: ResumableRecord, progress: bool) -> dict:
    """Train the network ``steps`` steps (from ``record.resume`` when set), validating every ``eval_every``,
    and finish the record (the `kerasopt.harness.Workload` ``train`` of fast style; seeded by the harness)."""
    model = build_transformer(config.width)
    loss = PerceptualLoss(problem.extractor, problem.grams, config.content_weight, config.style_weight,
                          config.tv_weight)
    optimizer = config.build_optimizer(config.steps, model.trainable_variables)
    train_step, evaluate = _compiled_functions(model, loss, optimizer)
    backup = LoopBackup(record.run_dir, model, optimizer)
    batches = iter(data.training_dataset(problem.split.train, config.size, config.batch_size, config.seed))
    val_photos = tf.constant(problem.val_photos)
    window, diverged = [], None
    if record.resume:
        done = backup.restore()
        for _ in range(done):  # the batches of the steps already done
            next(batches)
        rows = record.resume.rows
        initial = {"val_loss": float(rows[0]["val_loss"])}
        val_history = [float(row["val_loss"]) for row in rows if row.get("val_loss")]
        clock = TrainingClock(trace_window=10, offset=float(rows[-1]["seconds"]))
        first = next(batches)
    else:
        done, clock = 0, TrainingClock(trace_window=10)
        first = next(batches)
        total, parts, _ = evaluate(first)
        initial = _val_row(evaluate, val_photos, optimizer)
        val_history = [initial["val_loss"]]
        record.log({"step": 0, "evaluations": 0, "seconds": 0.0, "loss": float(total),
                    **dict(zip(COMPONENTS, map(float, parts.numpy()))), **initial})
    for step in range(done + 1, config.steps + 1):
        photos = first if step == done + 1 else next(batches)
        with clock.step():
            total, parts = train_step(photos)
            total = float(total)  # waits for the step to finish
        diverged = non_finite(total, f"step {step}")
        if diverged:
            break
        window.append(parts.numpy())
        out_of_time = config.max_seconds is not None and clock.seconds >= config.max_seconds
        last = step == config.steps or out_of_time
        if step % config.log_every == 0 or step % config.eval_every == 0 or last:
            row = _window_row(step, clock, window, loss)
            if step % config.eval_every == 0 or last:
                row.update(_val_row(evaluate, val_photos, optimizer))
                val_history.append(row["val_loss"])
                if progress:
                    print(f"  [{config.optimizer}] step {step}: loss {row['loss']:.4g} val_loss "
                          f"{row['val_loss']:.4g} ({clock.seconds:.0f} s)", flush=True)
            record.log(row)
            window = []
            if step % config.eval_every == 0 and not last:
                backup.save(step)
        if out_of_time:
            break
    backup.discard()
    steps_done = int(optimizer.iterations.numpy())
    progress_metrics = {"steps": steps_done, "evaluations": steps_done, "train_seconds": clock.seconds,
                        "initial_val_loss": initial["val_loss"],
                        "best_val_loss": min((v for v in val_history if math.isfinite(v)), default=None)}
    if diverged:
        return record.finish("diverged", {**progress_metrics, "val_loss": None}, error=diverged,
                             trace_seconds=clock.trace_seconds)
    finalize(optimizer, model.trainable_variables)  # from here on the model is at its evaluation point
    metrics = {**progress_metrics, **_final_metrics(evaluate, val_photos, loss), "loss": row["loss"]}
    model.save(record.artifacts / MODEL_FILE)
    with kept_on_error(metrics, "grid_error"):
        save_grid(problem.style_image, problem.val_photos, model, record.artifacts / GRID_FILE)
    status = "completed" if math.isfinite(metrics["val_loss"]) else "diverged"
    return record.finish(status, metrics, error=None if status == "completed" else "non-finite validation loss",
                         trace_seconds=clock.trace_seconds)


def _window_row(step: int, clock: TrainingClock, window: list, loss: PerceptualLoss) -> dict:
    parts = np.mean(window, axis=0)
    return {"step": step, "evaluations": step, "seconds": clock.seconds,
            "loss": float(np.dot(loss.weights().numpy(), parts)), **dict(zip(COMPONENTS, map(float, parts)))}


def _final_metrics(evaluate, val_photos, loss: PerceptualLoss) -> dict:
    total, parts, stylized_style = evaluate(val_photos)
    photo_style = float(tf.reduce_mean(loss.style_of(val_photos)))
    val_style = float(tf.reduce_mean(stylized_style))
    return {"val_loss": float(total), **{f"val_{n}": float(v) for n, v in zip(COMPONENTS, parts.numpy())},
            "photo_style_loss": photo_style, "style_ratio": val_style / photo_style if photo_style > 0 else None}


def save_grid(style_image: np.ndarray, photos: np.ndarray, model, path) -> Path:
    """Write a 2-row grid: style image + up to `GRID_PHOTOS` photos on top, blank + stylized photos below.

    Args:
        style_image: float32 (H, W, 3), RGB in [0, 255] (centre-cropped to the photo size).
        photos: float32 (N, S, S, 3), RGB in [0, 255].
        model: the transformation network.
        path: PNG file.
    """
    photos = photos[:GRID_PHOTOS]
    size = photos.shape[1]
    stylized = np.asarray(model(photos, training=False))
    style_cell = data.center_crop(style_image, size)
    blank = np.full_like(style_cell, 255.0)
    top, bottom = [style_cell, *photos], [blank, *stylized]
    gap_column = np.full((size, GRID_GAP_PX, 3), 255.0, np.float32)

    def strip(cells):
        parts = [part for cell in cells for part in (cell, gap_column)][:-1]
        return np.concatenate(parts, axis=1)

    gap_row = np.full((GRID_GAP_PX, strip(top).shape[1], 3), 255.0, np.float32)
    return images.save_image(np.concatenate([strip(top), gap_row, strip(bottom)], axis=0), path)
