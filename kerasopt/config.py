"""Settings read from YAML, JSON or the command line: one coercion and one validation for every task.

`TaskConfig` is the base of every task's run settings (`StyleConfig`,
`DefectsConfig`, `FastStyleConfig`): ``from_dict`` coerces each value from its
field's declared type (``"10"`` -> 10 for an ``int`` field, 10.0 for a ``float``
one, ``"true"`` -> True for a ``bool`` one, hyperparameter strings through
`number_or_text`), rejects unknown keys, and `validate` runs the checks every
task shares (optimizer name and hyperparameters, seed range, which defaults the
optimizer starts from) before the task's own `check`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, ClassVar

from kerasopt import schedules

SEED_MAX = 2**32 - 1
HPARAM_DEFAULTS = ("task", "library")


def number_or_text(value: Any) -> Any:
    """A numeric or boolean string as int, float or bool (PyYAML reads ``1e-3`` as a string); else unchanged.

    ``"10"`` -> 10, ``"1e-3"`` -> 0.001, ``"true"`` -> True, ``"adam"`` -> ``"adam"``, ``True`` -> ``True``.
    """
    if not isinstance(value, str):
        return value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not number.is_integer():
        raise ValueError
    return int(number)


def _real(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    return float(value)


def _plain_type(annotation) -> tuple[type, bool]:
    """``int | None`` -> (int, True); ``dict`` -> (dict, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return (kinds[0] if len(kinds) == 1 else str), type(None) in args
    return (typing.get_origin(annotation) or annotation), False


def coerce(name: str, value: Any, annotation) -> Any:
    """``value`` converted to the field type ``annotation``; ValueError naming ``name``."""
    kind, optional = _plain_type(annotation)
    if value is None and optional:
        return None
    converters = {bool: _boolean, int: _integer, float: _real, str: str}
    try:
        if kind is dict:
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): number_or_text(v) for k, v in value.items()}
        if value is None:
            raise ValueError
        return converters.get(kind, lambda v: v)(value)
    except (TypeError, ValueError, OverflowError):
        what = {dict: "a mapping", int: "an integer", float: "a number", bool: "true or false"}.get(kind, "text")
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}") from None


@dataclasses.dataclass
class TaskConfig:
    """Base of the run settings of every task.

    Subclasses are dataclasses whose first fields are ``optimizer``, ``hparams``,
    ``seed`` and ``hparam_defaults`` (declared here) and that implement `check`
    and, where the task has its own default table, `task_hparams`.

    Attributes:
        optimizer: registry name (``kerasopt.optimizers.available()``).
        hparams: optimizer hyperparameter overrides as Keras spells them.
        seed: int in [0, 2**32 - 1].
        hparam_defaults: what ``hparams`` override: ``"task"`` (kerasopt's
            per-task table, `task_hparams`) or ``"library"`` (the optimizer exactly
            as Keras, or our Rprop/L-BFGS constructors, build it).
        schedule: the learning-rate schedule over the run's steps, ``"constant"`` or ``"cosine"``
            (`kerasopt.schedules`; mini-batch training only).
        warmup_fraction: share of the run's steps of linear warmup from 0, in [0, 0.5].
        decay_norm_and_bias: whether decoupled ``weight_decay`` also shrinks 1-D variables (biases,
            BatchNorm scales and offsets); Keras decays every variable unless told otherwise (True).
        threads: TensorFlow's intra- and inter-op threads for the run (None: TensorFlow's choice, the
            cores of the process); fixed by a study so a run does not depend on where it ran.
        deterministic: TensorFlow op determinism (`kerasopt.seeding.set_seed`); it cannot be switched
            off again in a process, so a study worker holds one setting.
    """

    KIND: ClassVar[str] = "task"  # used in error messages ("unknown style setting")
    LATER_SETTINGS: ClassVar[dict] = {"schedule": "constant", "warmup_fraction": 0.0, "decay_norm_and_bias": True,
                                      "threads": None, "deterministic": False}
    """Settings added after studies were published, with their old behaviour: left out of `to_dict` (and so of
    run ids) at that value, so published runs keep their identity."""

    optimizer: str = "adam"
    hparams: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    hparam_defaults: str = "task"
    schedule: str = "constant"
    warmup_fraction: float = 0.0
    decay_norm_and_bias: bool = True
    threads: int | None = None
    deterministic: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> "TaskConfig":
        """Build from a plain mapping (YAML/JSON/CLI), coercing each value to its field's type, and validate.

        Raises:
            ValueError: an unknown key (named, with the valid ones) or an invalid value.
        """
        if not isinstance(values, dict):
            raise ValueError(f"{cls.KIND} settings must be a mapping. Received: {values!r}")
        hints = typing.get_type_hints(cls)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown {cls.KIND} setting(s) {', '.join(unknown)}. Valid: {', '.join(sorted(fields))}")
        values = dict(values)
        if values.get("hparams", {}) is None:
            values["hparams"] = {}
        return cls(**{name: coerce(name, value, hints[name]) for name, value in values.items()})

    def __post_init__(self):
        self.validate()

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every setting (``from_dict(to_dict())`` round-trips); a `LATER_SETTINGS`
        setting only where it differs from its old behaviour."""
        data = dataclasses.asdict(self)
        for name, old in self.LATER_SETTINGS.items():
            if name in data and data[name] == old:
                del data[name]
        return data

    def validate(self) -> "TaskConfig":
        """The shared checks, then the task's `check`; ValueError naming the setting ("Received: x=...")."""
        from kerasopt import optimizers

        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):  # values set in code are coerced like parsed ones
            value = coerce(field.name, getattr(self, field.name), hints[field.name])
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name} must be a finite number. Received: {field.name}={value!r}")
            setattr(self, field.name, value)
        self.optimizer = optimizers.spec(self.optimizer).name
        if not isinstance(self.hparams, dict):
            raise ValueError(f"hparams must be a mapping. Received: hparams={self.hparams!r}")
        if not 0 <= self.seed <= SEED_MAX:
            raise ValueError(f"seed must be in [0, 2**32 - 1]. Received: seed={self.seed}")
        if self.hparam_defaults not in HPARAM_DEFAULTS:
            raise ValueError(f"hparam_defaults must be one of {', '.join(HPARAM_DEFAULTS)}. "
                             f"Received: hparam_defaults={self.hparam_defaults!r}")
        schedules.check(self.schedule, self.warmup_fraction)
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1 (or unset). Received: threads={self.threads}")
        self.check()
        self.resolved_hparams()
        return self

    def check(self) -> None:
        """Task-specific checks (override); raise ValueError naming the setting."""

    def require_at_least(self, minimum: int, *names: str) -> None:
        """ValueError naming the first of the settings ``names`` below ``minimum``."""
        for name in names:
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum}. Received: {name}={getattr(self, name)}")

    def require_mini_batch_optimizer(self) -> None:
        """ValueError when ``optimizer`` is a full-batch driver (tasks that train with ``model.fit``)."""
        from kerasopt import optimizers

        if optimizers.is_full_batch_driver(self.optimizer):
            raise ValueError(f"optimizer {self.optimizer!r} is a full-batch driver; the {self.KIND} task trains on "
                             f"mini-batches. Valid: {', '.join(optimizers.mini_batch())}")

    def task_hparams(self) -> dict:
        """kerasopt's per-task defaults of ``self.optimizer`` (override; default: the registry's)."""
        from kerasopt import optimizers

        return dict(optimizers.spec(self.optimizer).defaults)

    def optimizer_hparams(self) -> dict:
        """What ``optimizers.make`` receives: the chosen defaults overridden by ``hparams``."""
        from kerasopt import optimizers

        base = self.task_hparams() if self.hparam_defaults == "task" else optimizers.library_hparams(self.optimizer)
        return {**base, **self.hparams}

    def resolved_hparams(self) -> dict:
        """`optimizer_hparams` validated for the optimizer (``optimizers.build`` takes exactly these)."""
        from kerasopt import optimizers

        return optimizers.check_hparams(self.optimizer, self.optimizer_hparams())

    @property
    def scheduled(self) -> bool:
        """Whether the learning rate changes during the run (a decaying schedule or a warmup)."""
        return self.schedule != "constant" or bool(self.warmup_fraction)

    def require_constant_schedule(self, why: str) -> None:
        """ValueError when a schedule or warmup is set on a task (or optimizer) that cannot take one."""
        if self.scheduled:
            raise ValueError(f"schedule and warmup_fraction apply to mini-batch training; {why}. "
                             f"Received: schedule={self.schedule!r}, warmup_fraction={self.warmup_fraction}")

    def build_optimizer(self, total_steps: int | None, variables=()):
        """The run's Keras optimizer: `resolved_hparams` with the learning rate under ``schedule`` over
        ``total_steps`` (`kerasopt.schedules`), and 1-D ``variables`` (biases, normalization) kept out of
        weight decay unless ``decay_norm_and_bias``. Call before the optimizer is built (before ``fit``).

        Args:
            total_steps: optimizer steps of the whole run (a cosine decay reaches 0 there); None (unknown)
                only without a schedule and warmup.
            variables: the model's trainable variables (needed only to exclude 1-D ones from decay).
        """
        from kerasopt import optimizers

        hparams = self.resolved_hparams()
        if total_steps is None:
            self.require_constant_schedule("the run's number of steps is unknown (a dataset of unknown size)")
            total_steps = 1
        if "learning_rate" in hparams:
            hparams["learning_rate"] = schedules.learning_rate(
                hparams["learning_rate"], schedules.effective(self.schedule, self.optimizer), total_steps,
                self.warmup_fraction)
        optimizer = optimizers.build(self.optimizer, hparams)
        if not self.decay_norm_and_bias:
            optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) <= 1])
        return optimizer

    def schedule_record(self, total_steps: int | None) -> dict:
        """What config.json records of the schedule: {} for the old behaviour, else `schedules.describe`
        (ValueError when a schedule is set and ``total_steps`` is unknown, as `build_optimizer`)."""
        if not self.scheduled:
            return {}
        if total_steps is None:
            self.require_constant_schedule("the run's number of steps is unknown (a dataset of unknown size)")
        return {"learning_rate_schedule": schedules.describe(self.schedule, self.optimizer, self.warmup_fraction,
                                                             total_steps)}
