"""One helper for reproducible runs."""

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
