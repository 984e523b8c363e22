"""Study files: YAML → `StudySpec`, validated before any run starts.

A study compares optimizers fairly (DeepOBS, Choi et al. 2019, AlgoPerf): every
optimizer gets the same number of tuning trials over its own search space, a
library-defaults arm is run too, and the best setting is rerun with several
seeds. Schema (every key except ``name``, ``task``, ``optimizers``, ``search``
and ``seeds`` optional)::

    name: style_smoke                  # results under runs/<name>/
    task: style                        # style | defects
    base: {size: 32, iterations: 5}    # task settings shared by every run
    optimizers: [sgd, adam, lbfgs]     # or: all
    search:                            # one search space per optimizer
      adam:                            #   hyperparameter: dimension
        learning_rate: {log_uniform: [1.0e-2, 1.0e+2]}
        beta_1: {uniform: [0.8, 0.99]}
      lbfgs: {history_size: {choice: [5, 10, 20]}}   # {} = no tuning (defaults only)
      others:                          # every optimizer not listed above
        learning_rate: {log_uniform: [1.0e-3, 1.0e+1]}
    tuning: {trials: 8, sampler: quasirandom, seed: 0}   # sampler: quasirandom | grid
    defaults_arm: true                 # also run the library defaults with every seed
    seeds: [0, 1, 2]                   # seeds of the final reruns (and the defaults arm)
    targets: [1.0e+5, 3.0e+4]          # values of the task's target metric

A dimension is ``{log_uniform: [low, high]}``, ``{uniform: [low, high]}``,
``{choice: [a, b, ...]}`` or a plain number (fixed). Unknown keys, an unknown
optimizer, an empty range or an empty space for an optimizer that has a
learning rate raise a one-line `ValueError` naming the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from kerasopt.config import number_or_text

TASKS = ("style", "defects")
SAMPLERS = ("quasirandom", "grid")
OTHERS = "others"
RUN_OWNED_KEYS = ("optimizer", "hparams", "seed")
_TOP_KEYS = ("name", "task", "base", "optimizers", "search", "tuning", "defaults_arm", "seeds", "targets")
_REQUIRED = ("name", "task", "optimizers", "search", "seeds")
_TUNING_KEYS = ("trials", "sampler", "seed")
_KINDS = ("log_uniform", "uniform", "choice")


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter.

    Attributes:
        kind: ``"log_uniform"``, ``"uniform"``, ``"choice"`` or ``"fixed"``.
        values: ``(low, high)`` for the ranges, the options for ``choice``,
            ``(value,)`` for ``fixed``.
    """

    kind: str
    values: tuple

    @property
    def searched(self) -> bool:
        """True unless the value is fixed."""
        return self.kind != "fixed"

    def at(self, u: float):
        """The value at quantile ``u`` in [0, 1) of this dimension."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        low, high = self.values
        if self.kind == "log_uniform":
            return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
        return float(low + u * (high - low))

    def to_dict(self):
        return self.values[0] if self.kind == "fixed" else {self.kind: list(self.values)}


@dataclass(frozen=True)
class StudySpec:
    """A validated study.

    Attributes:
        name: study name (directory under ``runs/``).
        task: ``"style"`` or ``"defects"``.
        base: task settings shared by every run.
        optimizers: registry names, in order.
        spaces: per optimizer, hyperparameter → `Dimension` (may be empty).
        trials: tuning trials per optimizer (the same budget for all).
        sampler: ``"quasirandom"`` (scrambled Halton) or ``"grid"``.
        tuning_seed: seed of the tuning runs (and of the quasi-random sequence).
        defaults_arm: whether the library defaults run with every seed.
        seeds: seeds of the final reruns.
        targets: target values of the task's metric for time-to-target.
        source: the YAML file read (not part of the study's identity).
    """

    name: str
    task: str
    base: dict
    optimizers: tuple
    spaces: dict
    trials: int
    sampler: str
    tuning_seed: int
    defaults_arm: bool
    seeds: tuple
    targets: tuple
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        """The study's identity as plain JSON data (``source`` excluded)."""
        return {
            "name": self.name, "task": self.task, "base": dict(self.base), "optimizers": list(self.optimizers),
            "search": {opt: {k: d.to_dict() for k, d in space.items()} for opt, space in self.spaces.items()},
            "tuning": {"trials": self.trials, "sampler": self.sampler, "seed": self.tuning_seed},
            "defaults_arm": self.defaults_arm, "seeds": list(self.seeds), "targets": list(self.targets),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<study>",
                  supported_for: Callable[[str], list[str] | None] | None = None) -> "StudySpec":
        """Validate ``data`` (a parsed study file); see the module docstring for the schema.

        Args:
            data: the parsed YAML mapping.
            source: file name used in error messages.
            supported_for: task name → the optimizers it supports (what ``all``
                means; None = the whole registry). Default: the whole registry.

        Raises:
            ValueError: one line, ``"<source>: <key>: <problem>"``.
        """
        return _Parser(source, supported_for).study(data)


def load(path: str | Path, supported_for: Callable[[str], list[str] | None] | None = None) -> StudySpec:
    """Read and validate a study file (``yaml.safe_load``); ``supported_for`` as in `StudySpec.from_dict`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: malformed YAML or an invalid study, naming the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}: malformed YAML{where}: {problem}") from None
    return StudySpec.from_dict(data, source=str(path), supported_for=supported_for)


def _coerce(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _coerce(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce(v) for v in value]
    return number_or_text(value)


class _Parser:
    """Turns a parsed YAML mapping into a `StudySpec`; errors name file and key."""

    def __init__(self, source: str, supported_for: Callable[[str], list[str] | None] | None):
        self.source = source
        self.supported_for = supported_for or (lambda task: None)

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.source}: {key}: {problem}")

    def mapping(self, value: Any, key: str, allowed: tuple | None = None) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping. Received: {value!r}")
        if allowed is not None:
            unknown = [k for k in value if k not in allowed]
            if unknown:
                raise self.error(f"{key}.{unknown[0]}" if key else str(unknown[0]),
                                 f"unknown key. Allowed: {', '.join(allowed)}")
        return value

    def integer(self, value: Any, key: str, minimum: int) -> int:
        value = number_or_text(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"expected an integer >= {minimum}. Received: {value!r}")
        return value

    def study(self, data: Any) -> StudySpec:
        data = self.mapping(data, "", _TOP_KEYS)
        for key in _REQUIRED:
            if key not in data:
                raise self.error(key, "missing (required)")
        name = str(data["name"]).strip()
        if not name or "/" in name or name.startswith("."):
            raise self.error("name", f"expected a directory name. Received: {data['name']!r}")
        task = data["task"]
        if task not in TASKS:
            raise self.error("task", f"unknown task. Valid: {', '.join(TASKS)}. Received: {task!r}")
        optimizers = self.optimizers(data["optimizers"], self.supported_for(task))
        tuning = self.mapping(data.get("tuning") or {}, "tuning", _TUNING_KEYS)
        sampler = tuning.get("sampler", "quasirandom")
        if sampler not in SAMPLERS:
            raise self.error("tuning.sampler", f"unknown sampler. Valid: {', '.join(SAMPLERS)}. Received: {sampler!r}")
        defaults_arm = data.get("defaults_arm", True)
        if not isinstance(defaults_arm, bool):
            raise self.error("defaults_arm", f"expected true or false. Received: {defaults_arm!r}")
        return StudySpec(
            name=name, task=task, base=self.base(data.get("base") or {}), optimizers=tuple(optimizers),
            spaces=self.spaces(data["search"], optimizers),
            trials=self.integer(tuning.get("trials", 8), "tuning.trials", 1), sampler=sampler,
            tuning_seed=self.integer(tuning.get("seed", 0), "tuning.seed", 0), defaults_arm=defaults_arm,
            seeds=self.seeds(data["seeds"]), targets=self.targets(data.get("targets") or []), source=self.source)

    def base(self, value: Any) -> dict:
        base = _coerce(self.mapping(value, "base"))
        for key in RUN_OWNED_KEYS:
            if key in base:
                raise self.error(f"base.{key}", "set by the study (use optimizers/search/seeds), not in base")
        return base

    def optimizers(self, value: Any, supported: list[str] | None) -> list[str]:
        from kerasopt import optimizers as registry

        valid = supported if supported is not None else registry.available()
        if value == "all":
            return list(valid)
        if not isinstance(value, list) or not value:
            raise self.error("optimizers", f"expected a list of names or 'all'. Received: {value!r}")
        names = [str(v).strip().lower() for v in value]
        for index, name in enumerate(names):
            if name not in valid:
                raise self.error(f"optimizers[{index}]", f"unknown or unsupported optimizer {name!r}. "
                                                         f"Valid: {', '.join(valid)}")
        if len(set(names)) != len(names):
            raise self.error("optimizers", f"duplicate names. Received: {names}")
        return names

    def spaces(self, value: Any, optimizers: list[str]) -> dict:
        from kerasopt import optimizers as registry

        search = self.mapping(value, "search", tuple(optimizers) + (OTHERS,))
        spaces = {}
        for name in optimizers:
            key = f"search.{name}" if name in search else f"search.{OTHERS}"
            if name not in search and OTHERS not in search:
                raise self.error(f"search.{name}", "no search space (give one, or search.others; "
                                                   "{} means defaults only for optimizers without a learning rate)")
            raw = search[name] if name in search else search[OTHERS]
            space = {hp: self.dimension(dim, f"{key}.{hp}") for hp, dim in self.mapping(raw or {}, key).items()}
            has_rate = "learning_rate" in registry.spec(name).defaults
            if has_rate and not any(d.searched for d in space.values()):
                raise self.error(key, f"empty search space for {name!r} (it has a learning rate to tune)")
            try:
                registry.resolve_hparams(name, **{hp: d.at(0.5) for hp, d in space.items()})
            except ValueError as exc:
                raise self.error(key, str(exc)) from None
            spaces[name] = space
        return spaces

    def dimension(self, value: Any, key: str) -> Dimension:
        value = _coerce(value)
        if not isinstance(value, dict):
            if isinstance(value, (list, str)) or value is None:
                raise self.error(key, f"expected {{log_uniform|uniform|choice: ...}} or a number. Received: {value!r}")
            return Dimension("fixed", (value,))
        self.mapping(value, key, _KINDS)
        if len(value) != 1:
            raise self.error(key, f"give exactly one of {', '.join(_KINDS)}. Received: {sorted(value)}")
        kind, values = next(iter(value.items()))
        if kind == "choice":
            if not isinstance(values, list) or not values:
                raise self.error(f"{key}.choice", f"empty search space: expected a non-empty list. "
                                                  f"Received: {values!r}")
            return Dimension("choice", tuple(values))
        if (not isinstance(values, list) or len(values) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise self.error(f"{key}.{kind}", f"expected [low, high] numbers. Received: {values!r}")
        low, high = (float(v) for v in values)
        if not low < high:
            raise self.error(f"{key}.{kind}", f"empty search space: low must be below high. Received: {values}")
        if kind == "log_uniform" and low <= 0:
            raise self.error(f"{key}.{kind}", f"log_uniform needs low > 0. Received: {values}")
        return Dimension(kind, (low, high))

    def seeds(self, value: Any) -> tuple:
        if not isinstance(value, list) or not value:
            raise self.error("seeds", f"expected a non-empty list of integers. Received: {value!r}")
        seeds = [self.integer(v, f"seeds[{i}]", 0) for i, v in enumerate(value)]
        if len(set(seeds)) != len(seeds):
            raise self.error("seeds", f"duplicate seeds. Received: {seeds}")
        return tuple(seeds)

    def targets(self, value: Any) -> tuple:
        value = _coerce(value)
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  and math.isfinite(v) for v in value):
            raise self.error("targets", f"expected a list of finite numbers. Received: {value!r}")
        return tuple(float(v) for v in value)
