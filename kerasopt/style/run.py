"""``run``: one style-transfer optimization, from settings to a run record (the problem and the loop:
`kerasopt.style.workload`)."""

from __future__ import annotations

import time

import tensorflow as tf

from kerasopt.records import RunRecord
from kerasopt.seeding import fix_threads, set_seed
from kerasopt.style import images
from kerasopt.style.config import NAME, StyleConfig
from kerasopt.style.losses import Objective
from kerasopt.style.workload import RESULT_FILE, initial_image, optimize, prepare


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
    started = time.perf_counter()
    config = StyleConfig.from_dict(config) if isinstance(config, dict) else config
    config.validate()
    fix_threads(config.threads)
    problem = prepare(config)
    hparams = config.resolved_hparams()
    settings = {**config.to_dict(), "task": NAME, "resolved_hparams": hparams, **problem.describe()}
    set_seed(config.seed)
    with RunRecord(run_dir, settings, seed=config.seed, started=started) as record:
        objective = Objective(problem.extractor, problem.targets, config.content_weight, config.style_weight,
                              config.tv_weight)
        image = tf.Variable(initial_image(config, problem), trainable=True, name="image")
        result, initial_loss = optimize(config, hparams, objective, image, record, progress)
        images.save_image(image.numpy()[0], record.artifacts / RESULT_FILE)
        total, parts = objective(image)
        metrics = {"loss": float(total), **dict(zip(Objective.COMPONENTS, map(float, parts.numpy()))),
                   "initial_loss": initial_loss, "iterations": result.iterations,
                   "evaluations": result.evaluations, "seconds": result.seconds,
                   **{key: getattr(result, key) for key in ("gradient_evaluations", "hessian_vector_products")
                      if hasattr(result, key)}}
        error = None if result.status == "completed" else result.message
        record.finish(result.status, metrics, error=error, trace_seconds=result.trace_seconds)
    return record.summary
