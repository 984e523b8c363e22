"""Reproducible runs: seeds, op determinism and fixed thread pools."""

from __future__ import annotations

import random

import numpy as np


def set_seed(seed: int, deterministic: bool = False) -> dict:
    """Seed Python, NumPy, TensorFlow and Keras; optionally enable TF op determinism.

    Args:
        seed: non-negative int.
        deterministic: when True, ``tf.config.experimental.enable_op_determinism()``
            (slower; it cannot be switched off again in the same process).

    Returns:
        ``{"seed": seed, "deterministic": deterministic}`` for ``config.json``.
    """
    import keras
    import tensorflow as tf

    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative. Received: seed={seed}")
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds random, numpy and tf
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return {"seed": seed, "deterministic": bool(deterministic)}


def fix_threads(threads: int | None) -> dict:
    """Fix TensorFlow's intra- and inter-op thread pools at ``threads`` each (None: leave TensorFlow's
    choice). Call before the run's first TensorFlow op: the pools cannot change once TensorFlow runs.

    Raises:
        ValueError: TensorFlow already runs in this process with other pools (one line).
    """
    import tensorflow as tf

    if threads is None:
        return {}
    pools = tf.config.threading
    if (pools.get_intra_op_parallelism_threads(), pools.get_inter_op_parallelism_threads()) == (threads, threads):
        return {"threads": threads}
    try:
        pools.set_intra_op_parallelism_threads(threads)
        pools.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        raise ValueError(f"threads={threads} cannot be set: TensorFlow already runs in this process with "
                         f"{pools.get_intra_op_parallelism_threads() or 'its default'} intra-op threads; "
                         "start a fresh process (each study worker is one)") from None
    return {"threads": threads}
