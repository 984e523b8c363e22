"""The one training clock of every task: seconds spent training, tracing and evaluation left out.

A run's ``seconds`` (history rows, ``train_seconds``) are the spans the task marks as training
(`TrainingClock.running`, or one `TrainingClock.step` per step) less the tracing/compilation of the
first step. Tracing is either measured apart (`TrainingClock.traced`: a loop that compiles ahead of
time) or estimated from the first step's excess over the median of the steps after it (`trace_seconds`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Iterator, Sequence


def trace_seconds(step_seconds: Sequence[float]) -> float:
    """Seconds of tracing/compilation in the first step: its excess over the median of the later steps given.

    Args:
        step_seconds: wall seconds of consecutive training steps, the first one traced.

    Returns:
        ``max(0, first - median(rest))``; 0.0 with fewer than two steps.
    """
    if len(step_seconds) < 2:
        return 0.0
    return max(0.0, float(step_seconds[0]) - statistics.median(step_seconds[1:]))


class TrainingClock:
    """Training seconds of one run.

    Args:
        trace_window: how many steps after the first estimate its tracing (None: every step noted).
        offset: training seconds already spent (a resumed run's last history ``seconds``).

    ``seconds`` = ``offset`` + the time inside `running` / `step` blocks - ``trace_seconds``.
    """

    def __init__(self, trace_window: int | None = 10, offset: float = 0.0):
        self.trace_window, self.offset = trace_window, float(offset)
        self._running = 0.0
        self._started: float | None = None
        self._steps: list[float] = []
        self._traced: float | None = None

    # what is timed -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin a training span (no-op when one is open)."""
        if self._started is None:
            self._started = time.perf_counter()

    def stop(self) -> None:
        """End the open training span (no-op when none is open)."""
        if self._started is not None:
            self._running += time.perf_counter() - self._started
            self._started = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """A training span: ``with clock.running(): ...``."""
        self.start()
        try:
            yield
        finally:
            self.stop()

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """One training step: a training span whose length also goes into the trace estimate.
        Make the block wait for the step's result (e.g. ``float(loss)``) so its time is the step's."""
        begun = time.perf_counter()
        with self.running():
            yield
        self.note_step(time.perf_counter() - begun)

    def note_step(self, seconds: float) -> None:
        """A step's wall seconds for the trace estimate only (its time is counted by an enclosing span)."""
        if self.trace_window is None or len(self._steps) <= self.trace_window:
            self._steps.append(float(seconds))

    def traced(self, seconds: float) -> None:
        """Tracing measured apart (compiled before the first step): used instead of the estimate."""
        self._traced = float(seconds)

    # what is read --------------------------------------------------------------------------------------

    @property
    def trace_seconds(self) -> float:
        """Seconds of tracing: measured (`traced`) or the first noted step's excess (`trace_seconds`)."""
        return self._traced if self._traced is not None else trace_seconds(self._steps)

    @property
    def seconds(self) -> float:
        """Training seconds so far (an open span counted up to now)."""
        open_span = time.perf_counter() - self._started if self._started is not None else 0.0
        estimated = 0.0 if self._traced is not None else trace_seconds(self._steps)
        return self.offset + self._running + open_span - estimated
