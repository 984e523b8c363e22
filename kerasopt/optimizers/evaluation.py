"""Where an optimizer is evaluated: hooks on the optimizer, used by every training loop.

Most optimizers are evaluated, checkpointed and saved where they train. Some
are not: Schedule-Free takes gradients at y and ships the averaged point x; an
optimizer with ``use_ema=True`` ships its moving average. Keras puts the
end-of-training part of this on the optimizer
(`keras.optimizers.Optimizer.finalize_variable_values`, which ``model.fit``
calls after its last epoch), AlgoPerf puts it on the submission
(``prepare_for_eval``). kerasopt follows Keras and adds the two hooks Keras
lacks, as optional optimizer methods:

* ``optimizer.evaluation_point(variables)``: a context manager that holds the
  evaluation point in ``variables`` inside the block and restores the training
  point exactly on exit (for validation in the middle of training);
* ``optimizer.project_iterates(variables, projection)``: keep the optimizer's
  iterates inside a convex set after a step (the pixel box of style transfer).

The functions here call those hooks where an optimizer has them and fall back
to what is right for every other optimizer (nothing, or projecting the
variables), so no training loop names an optimizer: the style, defect and
fast-style loops and `kerasopt.KerasTask` all call `evaluation_point`,
`finalize` and (style) `project`. `EvaluationPoint` and
`EvaluationCheckpoint` are the same hooks as Keras callbacks for ``model.fit``.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import keras
from keras import ops

__all__ = ["box", "innermost", "has_evaluation_point", "evaluation_point", "finalize", "project", "EvaluationPoint",
           "EvaluationCheckpoint", "BestWeights"]

Projection = Callable[[object], object]
"""A map tensor -> tensor onto a closed convex set (e.g. `box(0, 255)`)."""


def box(low: float, high: float) -> Projection:
    """The projection onto the box [low, high] (elementwise clip)."""
    if not low < high:
        raise ValueError(f"box needs low < high. Received: low={low}, high={high}")
    return lambda tensor: ops.clip(tensor, low, high)


def innermost(optimizer):
    """The innermost optimizer (through `keras.optimizers.LossScaleOptimizer`)."""
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


def has_evaluation_point(optimizer) -> bool:
    """Whether ``optimizer`` is evaluated somewhere other than where it trains (its own
    ``evaluation_point`` hook: Schedule-Free)."""
    return getattr(innermost(optimizer), "evaluation_point", None) is not None


def evaluation_point(optimizer, variables: Iterable | None = None):
    """A context manager holding the evaluation point of ``optimizer`` in ``variables`` (None: all of them).

    The optimizer's own ``evaluation_point`` hook where it has one (Schedule-Free: the averaged
    point x); otherwise the variables are left as they are.
    """
    if not has_evaluation_point(optimizer):
        return contextlib.nullcontext()
    return innermost(optimizer).evaluation_point(variables)


def finalize(optimizer, variables: Iterable, projection: Projection | None = None) -> None:
    """End of training: ``variables`` <- the point to evaluate and save, for good.

    Calls Keras' ``finalize_variable_values`` hook (what ``model.fit`` calls after its last epoch:
    the EMA average with ``use_ema=True``; Schedule-Free: the averaged point x), then projects
    the variables onto ``projection``'s set if given. Calling it twice changes nothing.
    """
    variables = list(variables)
    innermost(optimizer).finalize_variable_values(variables)
    if projection is not None:
        for variable in variables:
            variable.assign(projection(variable))


def project(optimizer, variables: Iterable, projection: Projection) -> None:
    """After a step: the optimizer's ``project_iterates`` hook where it has one (it keeps its own
    sequences consistent), else ``variable <- projection(variable)``. Works inside a ``tf.function``."""
    hook = getattr(innermost(optimizer), "project_iterates", None)
    if hook is not None:
        hook(variables, projection)
        return
    for variable in variables:
        variable.assign(projection(variable))


class EvaluationPoint(keras.callbacks.Callback):
    """Validate inside ``fit`` at the optimizer's evaluation point, train on from where it trains.

    Enters `evaluation_point` on ``on_test_begin`` and leaves it on ``on_test_end``, so ``val_*``
    logs (and EarlyStopping, ReduceLROnPlateau, a monitoring checkpoint) see the evaluation point.
    Each hook swaps and restores on its own: its place in the callback list does not matter.
    It does not change what a plain `keras.callbacks.ModelCheckpoint` saves (in ``on_epoch_end``):
    use `EvaluationCheckpoint`. Nothing happens for optimizers without the hook.
    """

    def __init__(self):
        super().__init__()
        self._swap = None

    def on_test_begin(self, logs=None):
        self._swap = evaluation_point(self.model.optimizer)
        self._swap.__enter__()

    def on_test_end(self, logs=None):
        if self._swap is not None:
            swap, self._swap = self._swap, None
            swap.__exit__(None, None, None)


class EvaluationCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that writes the optimizer's evaluation point.

    Same arguments as ModelCheckpoint; every save happens inside `evaluation_point`. A full-model
    save also stores the optimizer state as it is (use `keras.callbacks.BackupAndRestore` to
    resume exactly). A plain ModelCheckpoint for optimizers without the hook.
    """

    def _save_model(self, epoch, batch, logs):
        with evaluation_point(self.model.optimizer):
            super()._save_model(epoch, batch, logs)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best ``monitor`` value, at the optimizer's evaluation point,
    in memory (``weights``: `keras.Model.get_weights` order) and, for a resumed run, in ``path``.

    What a ``save_best_only`` `EvaluationCheckpoint` selects, without writing a model file at every
    improvement: ``path`` is an uncompressed ``.npz`` of the weights alone (no optimizer state, no zip),
    written atomically. An epoch is better when its value is strictly better than the best so far
    (``initial`` at the start: a resumed run's best); a missing or non-finite value never is.

    Args:
        monitor: the log key (``"val_dice"``).
        mode: ``"max"`` or ``"min"``.
        path: where the weights go on each improvement (None: memory only).
        initial: the best value before this ``fit`` (a resumed run; used only when ``path`` holds its
            weights), or None.
    """

    def __init__(self, monitor: str, mode: str, path=None, initial: float | None = None):
        super().__init__()
        self.monitor, self.mode, self.path = monitor, mode, path
        self.weights = load_weights_file(path) if path is not None and initial is not None else None
        self.best = initial if self.weights is not None else None  # no weights kept: select among what follows

    def better(self, value) -> bool:
        """Whether ``value`` beats the best so far."""
        import math

        if value is None or not math.isfinite(float(value)):
            return False
        if self.best is None:
            return True
        return float(value) > self.best if self.mode == "max" else float(value) < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if not self.better(value):
            return
        self.best = float(value)
        with evaluation_point(self.model.optimizer):
            self.weights = self.model.get_weights()
        if self.path is not None:
            save_weights_file(self.path, self.weights)


def save_weights_file(path, weights: list) -> None:
    """``weights`` (a list of arrays) as an uncompressed ``.npz`` at ``path``, atomically."""
    import os
    import tempfile
    from pathlib import Path

    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, *weights)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights_file(path) -> list | None:
    """The weights `save_weights_file` wrote, in order; None when there is no such file."""
    from pathlib import Path

    import numpy as np

    if not Path(path).is_file():
        return None
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]
