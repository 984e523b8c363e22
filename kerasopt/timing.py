"""The one trace-time estimate of the mini-batch tasks, and the Keras callback that times epochs with it
(defects and your own Keras model; faststyle times its own loop with `trace_seconds`)."""

from __future__ import annotations

import math
import statistics
import time
from typing import Sequence

import keras


def trace_seconds(step_seconds: Sequence[float]) -> float:
    """Seconds of tracing/compilation in the first step: its excess over the median of the later steps given.

    Args:
        step_seconds: wall seconds of consecutive training steps, the first one traced (callers pass
            the first epoch's steps, or the first few steps).

    Returns:
        ``max(0, first - median(rest))``; 0.0 with fewer than two steps.
    """
    if len(step_seconds) < 2:
        return 0.0
    return max(0.0, float(step_seconds[0]) - statistics.median(step_seconds[1:]))


class EpochTimer(keras.callbacks.Callback):
    """Times ``model.fit`` epochs without validation and without the first step's tracing, and notices
    a non-finite batch loss (``diverged``: one line, else None).

    Subclasses call `epoch_seconds` in ``on_epoch_end``; ``trace_seconds`` is set after the first epoch
    (`trace_seconds` of that epoch's steps).
    """

    def __init__(self):
        super().__init__()
        self.trace_seconds = 0.0
        self.diverged: str | None = None
        self._first_epoch_steps: list[float] = []
        self._first_epoch = None
        self._epoch, self._epoch_start, self._batch_start, self._train_end = 0, 0.0, 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start, self._train_end = epoch, time.perf_counter(), None
        self._first_epoch = epoch if self._first_epoch is None else self._first_epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == self._first_epoch:
            self._first_epoch_steps.append(time.perf_counter() - self._batch_start)
        loss = (logs or {}).get("loss")
        if self.diverged is None and loss is not None and not math.isfinite(float(loss)):
            self.diverged = f"non-finite loss {float(loss)} at step {int(self.model.optimizer.iterations)}"

    def on_test_begin(self, logs=None):
        self._train_end = self._train_end or time.perf_counter()

    def epoch_seconds(self, epoch: int) -> float:
        """Training seconds of the epoch that just ended (validation and, in the first epoch, tracing excluded)."""
        seconds = (self._train_end or time.perf_counter()) - self._epoch_start
        if epoch == self._first_epoch and self._first_epoch_steps:
            self.trace_seconds = trace_seconds(self._first_epoch_steps)
            seconds -= self.trace_seconds
        return seconds
