"""``run``: one style-transfer optimization, from settings to a run record, through the training harness
(`kerasopt.harness`; the problem and the loop: `kerasopt.style.workload`)."""

from __future__ import annotations

import tensorflow as tf

from kerasopt.harness import Workload, execute
from kerasopt.style import images
from kerasopt.style.config import NAME, StyleConfig
from kerasopt.style.losses import Objective
from kerasopt.style.workload import RESULT_FILE, Problem, initial_image, optimize, prepare


def _describe(config: StyleConfig, problem: Problem) -> dict:
    return problem.describe()


def _optimize_image(config: StyleConfig, problem: Problem, record, progress: bool) -> dict:
    """Optimize the image, save it and finish the record (the `kerasopt.harness.Workload` ``train`` of style)."""
    objective = Objective(problem.extractor, problem.targets, config.content_weight, config.style_weight,
                          config.tv_weight)
    image = tf.Variable(initial_image(config, problem), trainable=True, name="image")
    result, initial_loss = optimize(config, config.resolved_hparams(), objective, image, record, progress)
    images.save_image(image.numpy()[0], record.artifacts / RESULT_FILE)
    total, parts = objective(image)
    metrics = {"loss": float(total), **dict(zip(Objective.COMPONENTS, map(float, parts.numpy()))),
               "initial_loss": initial_loss, "iterations": result.iterations,
               "evaluations": result.evaluations, "seconds": result.seconds,
               **{key: getattr(result, key) for key in ("gradient_evaluations", "hessian_vector_products")
                  if hasattr(result, key)}}
    error = None if result.status == "completed" else result.message
    return record.finish(result.status, metrics, error=error, trace_seconds=result.trace_seconds)


WORKLOAD = Workload(NAME, StyleConfig, prepare, _describe, _optimize_image)


def run(config: StyleConfig | dict, run_dir, progress: bool = False) -> dict:
    """Perform one style-transfer optimization and write its run record.

    Args:
        config: a `StyleConfig` (or a dict for `StyleConfig.from_dict`).
        run_dir: directory of the run record (created): config.json,
            history.csv (step, evaluations, seconds, loss, content_loss,
            style_loss, tv_loss), summary.json, artifacts/result.png
            (+ snapshot_<k>.png).
        progress: show a tqdm bar (iteration, loss, speed).

    Returns:
        The summary dict; ``metrics`` has loss, content_loss, style_loss,
        tv_loss, initial_loss, iterations, evaluations, seconds. Status
        ``diverged`` when a non-finite loss stopped the run (the result image is
        then the last finite iterate), ``failed`` on an exception during the
        optimization (recorded, not raised).

    Raises:
        FileNotFoundError / ValueError: bad settings or inputs, before anything is written.
        OSError: the run directory cannot be created.
    """
    return execute(WORKLOAD, config, run_dir, progress)
