"""Reloading saved defect models (``RUN/artifacts/best.keras``).

Importing this module registers every custom object a defects model uses
(`kerasopt.defects.losses.DiceFocalLoss`, `kerasopt.defects.metrics.PooledDice`,
kerasopt's optimizers), so ``keras.models.load_model(path)`` then works in any
process, with ``compile=True`` and the optimizer state.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

import kerasopt.defects.losses  # noqa: F401  (registers kerasopt>DiceFocalLoss)
import kerasopt.defects.metrics  # noqa: F401  (registers kerasopt>PooledDice)
import kerasopt.optimizers  # noqa: F401  (kerasopt's own optimizers register themselves)


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """``keras.models.load_model`` with kerasopt's objects registered.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line, when the file is not a loadable Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        return keras.models.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises many types for a bad file; the CLI needs one line
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load model {path}: {message[:200]}") from None
