"""Learning-rate schedules of the protocol: the one place a run's learning rate becomes a schedule.

A run's ``learning_rate`` (the tuned or default peak) becomes, over the run's own ``total_steps``:

- ``constant``: the peak at every step (the 2021 paper's protocol; every published study before 2026-12);
- ``cosine``: Keras' `CosineDecay` from the peak to 0 at the last step.

Both start with a linear warmup from 0 over ``warmup_fraction`` of the steps (0: none). An optimizer
that schedules itself (`SELF_SCHEDULING`: Schedule-Free AdamW, whose averaging replaces the decay by
design, Defazio et al. 2024) keeps the warmup and gets no decay. Keras' own schedule classes are used, so a
saved ``.keras`` model reloads with its schedule and a resumed run continues it from
``optimizer.iterations``.
"""

from __future__ import annotations

SCHEDULES = ("constant", "cosine")
SELF_SCHEDULING = ("schedule_free_adamw",)


def check(schedule: str, warmup_fraction: float) -> None:
    """ValueError naming the setting for an unknown schedule or a warmup outside [0, 0.5]."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}. Received: schedule={schedule!r}")
    if not 0.0 <= warmup_fraction <= 0.5:
        raise ValueError(f"warmup_fraction must be in [0, 0.5] (a share of the run's steps). "
                         f"Received: warmup_fraction={warmup_fraction!r}")


def effective(schedule: str, optimizer: str) -> str:
    """The schedule ``optimizer`` really gets: ``constant`` (plus the warmup) for a self-scheduling one."""
    return "constant" if optimizer in SELF_SCHEDULING else schedule


def warmup_steps(warmup_fraction: float, total_steps: int) -> int:
    """Steps of linear warmup: ``round(warmup_fraction * total_steps)``."""
    return int(round(warmup_fraction * total_steps))


def learning_rate(peak: float, schedule: str, total_steps: int, warmup_fraction: float = 0.0):
    """``peak`` as the optimizer's ``learning_rate`` under ``schedule``: the float itself when constant
    without warmup, else a Keras `LearningRateSchedule` of the optimizer's step count.

    Args:
        peak: the learning rate after warmup (> 0).
        schedule: one of `SCHEDULES` (already `effective` for the optimizer).
        total_steps: optimizer steps of the whole run (>= 1); a cosine decay reaches 0 there.
        warmup_fraction: share of ``total_steps`` warmed up linearly from 0.
    """
    import keras

    check(schedule, warmup_fraction)
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1. Received: total_steps={total_steps}")
    warmup = warmup_steps(warmup_fraction, total_steps)
    if schedule == "constant" and warmup == 0:
        return float(peak)
    if schedule == "constant":  # a cosine whose decay never starts within the run: warmup, then the peak
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=10**12, alpha=1.0, warmup_target=float(peak),
                                                      warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(total_steps - warmup, 1), alpha=0.0,
                                                  warmup_target=float(peak), warmup_steps=warmup)


def describe(schedule: str, optimizer: str, warmup_fraction: float, total_steps: int) -> dict:
    """What a run's config.json records of its schedule (the effective one, its warmup in steps)."""
    return {"schedule": effective(schedule, optimizer), "warmup_steps": warmup_steps(warmup_fraction, total_steps),
            "total_steps": int(total_steps)}
