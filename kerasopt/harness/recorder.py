"""`EpochRecorder`: the Keras callback through which every ``model.fit`` task (defects, your own Keras
model) times its epochs, writes its history rows and notices divergence."""

from __future__ import annotations

import math
import time
from typing import Sequence

import keras

from kerasopt.harness.clock import TrainingClock


def non_finite(loss, where: str) -> str | None:
    """``"non-finite loss nan at <where>"`` when ``loss`` is not a finite number, else None."""
    try:
        value = float(loss)
    except (TypeError, ValueError):
        return None
    return None if math.isfinite(value) else f"non-finite loss {value} at {where}"


def finite_or_none(value) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class EpochRecorder(keras.callbacks.Callback):
    """One history row per epoch: ``step, evaluations, seconds, <columns>, epoch``.

    ``seconds`` are training seconds (`TrainingClock`: the epoch from its start to its validation, the
    first step's tracing left out, ``trace_seconds``); a non-finite batch loss sets ``diverged`` (one line).

    Args:
        record: the run's `kerasopt.records.RunRecord` (``log``).
        monitor: the log key whose per-epoch values are kept in ``values`` (None for a missing one).
        columns: the logged keys, in order (None: every key of the epoch's logs, in Keras' order).
        progress: print one line per epoch.
        previous_rows: a resumed run's kept history rows (their last ``seconds`` continues; their
            ``monitor`` values come first in ``values``).
    """

    def __init__(self, record, monitor: str, columns: Sequence[str] | None = None, progress: bool = False,
                 previous_rows: Sequence[dict] = ()):
        super().__init__()
        self.record, self.monitor, self.columns, self.progress = record, monitor, columns, progress
        self.clock = TrainingClock(trace_window=None,
                                   offset=float(previous_rows[-1]["seconds"]) if previous_rows else 0.0)
        self.values: list[float | None] = [finite_or_none(row.get(monitor)) for row in previous_rows]
        self.diverged: str | None = None
        self._first_epoch: int | None = None
        self._epoch = 0
        self._batch_start = 0.0

    @property
    def train_seconds(self) -> float:
        return self.clock.seconds

    @property
    def trace_seconds(self) -> float:
        return self.clock.trace_seconds

    def best_epoch(self, mode: str) -> int | None:
        """1-based epoch of the best ``monitor`` value (``mode`` ``"max"`` or ``"min"``; the first of equal
        ones), or None when no epoch has a finite value."""
        finite = [(value if mode == "min" else -value, epoch) for epoch, value in enumerate(self.values, 1)
                  if value is not None]
        return min(finite)[1] if finite else None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._first_epoch = epoch if self._first_epoch is None else self._first_epoch
        self.clock.start()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == self._first_epoch:
            self.clock.note_step(time.perf_counter() - self._batch_start)
        if self.diverged is None:
            self.diverged = non_finite((logs or {}).get("loss"), f"step {int(self.model.optimizer.iterations)}")

    def on_test_begin(self, logs=None):
        self.clock.stop()  # validation is not training

    def on_epoch_end(self, epoch, logs=None):
        self.clock.stop()
        logs = dict(logs or {})
        step = int(self.model.optimizer.iterations)
        keys = self.columns if self.columns is not None else list(logs)
        row = {"step": step, "evaluations": step, "seconds": self.clock.seconds,
               **{key: _float(logs.get(key)) for key in keys}, "epoch": epoch + 1}
        self.record.log(row)
        self.values.append(finite_or_none(logs.get(self.monitor)))
        if self.progress:
            shown = " ".join(f"{key} {row[key]:.4g}" for key in keys if row[key] is not None)
            print(f"  epoch {epoch + 1}: {shown} ({row['seconds']:.0f} s)", flush=True)


def _float(value):
    return None if value is None else float(value)
