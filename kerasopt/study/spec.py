"""Study files: YAML → `StudySpec`, validated before any run starts.

A study compares optimizers fairly (DeepOBS, Choi et al. 2019, AlgoPerf): every
optimizer gets the same number of tuning trials over its own search space, the
best setting is rerun with held-out seeds (never the tuning seed), and default
arms show what an untuned user gets. Schema (every key except ``name``,
``task``, ``optimizers``, ``search`` and ``seeds`` optional)::

    name: style_smoke                  # results under runs/<name>/
    task: style                        # a name in kerasopt.tasks.TASKS, or a user task by import
                                       # path: path/to/file.py:TASK (relative to this file, then
                                       # the working directory) or package.module:TASK
    base: {size: 32, evaluations: 30}  # task settings shared by every run
    optimizers: [sgd, adam, lbfgs]     # or: all (the task's supported optimizers)
    search:                            # one search space per optimizer
      adam:                            #   hyperparameter: dimension
        learning_rate: {log_uniform_around_default: [1.0e-2, 1.0e+2]}
        beta_1: {uniform: [0.8, 0.99]}
      lbfgs: {history_size: {choice: [5, 10, 20]}}   # {} = no tuning (defaults only)
      others:                          # every optimizer not listed above
        learning_rate: {log_uniform: [1.0e-3, 1.0e+1]}
    tuning: {sampler: bracket, spacing: 0.5, extensions: 3, seeds: [0, 10]}
                                       # or {trials: 8, sampler: quasirandom | grid, seeds: [0]}
    defaults_arms: [task_defaults, library_defaults]    # default: [task_defaults]; [] = none
    defaults_seeds: [1, 2, 3]          # seeds of the defaults arms (default: seeds)
    seeds: [1, 2, 3, 4, 5]             # held-out seeds of the final reruns (not the tuning seed)
    targets: [1.0e+5, 3.0e+4]          # values of the selection metric (its history) for time-to-target
    budgets: [100, 300, 1000]          # optional: answer at several training lengths from one set of
                                       # runs (every run goes to the largest; tuning selects per budget)
    more_seeds: {rounds: 2, per_round: 5, max_seeds: 15, min_difference: 0.02, close_by: bound,
                 test: sign_flip}
                                       # optional: seeds added where "worse than the best?" is undecided
                                       # and the gap may matter (kerasopt.stats.verdicts; close_by:
                                       # bound = its 95% upper bound, estimate = its mean, the default;
                                       # test: sign_flip (exact) or t, the default; the largest
                                       # budget's answer). Part of the study's identity: a resumed
                                       # study with other more_seeds settings is refused.
    compare_to: {study: ../docs/results/x/constant/records, label: constant learning rate}
                                       # optional, report only: a companion study of the same task under
                                       # another protocol, compared per optimizer on shared seeds
    reanalysis: {test: sign_flip, declared: 2026-12-07, why: "..."}
                                       # optional, report only: the verdicts re-judged by another test
                                       # (the runs, and which seeds were added, stay as the study's own
                                       # procedure chose them); the report says so

Instead of ``search``, ``settings_from: ../docs/results/style/records`` (a study's results
directory, relative to this file, then the working directory; ``{study: DIR, budget: 300}`` for its
selection at one of its budgets) fixes every optimizer at the setting that study's tuning selected
(its ``plan.json``), untuned: a companion study (another start, another image pair) asks whether the
tuned settings transfer, without copying numbers by hand. Beside ``search``, ``settings_from`` only
anchors the ``log_uniform_around_selected`` dimensions (a longer budget tuned around what a shorter
one selected).

A dimension is ``{log_uniform: [low, high]}``, ``{uniform: [low, high]}``,
``{choice: [a, b, ...]}``, ``{log_uniform_around_default: [low_factor, high_factor]}``
(a log-uniform range from ``low_factor`` to ``high_factor`` times the task's
default for that optimizer at the study's base settings, e.g. at its image size),
``{log_uniform_around_selected: [low_factor, high_factor]}`` (the same around the
setting ``settings_from`` selected) or a plain number (fixed). A full-batch task (``Task.budget.required``) must be
budgeted in loss-and-gradient evaluations. Unknown keys, an unknown optimizer,
an empty range, overlapping tuning and final seeds, YAML aliases or an empty
space for an optimizer that has a learning rate raise a one-line `ValueError`
naming the file and the key.

The ``bracket`` sampler (the default; `kerasopt.study.expand.bracket_values`)
tries a grid at most ``spacing`` decades apart that always contains the task
default, and extends it past an edge the selection lands on, in the same
steps, until the target gets worse or runs diverge (at most ``extensions``
steps per side). Selection uses the mean over every tuning seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from kerasopt.config import number_or_text
from kerasopt.stats.verdicts import TESTS

BRACKET = "bracket"
SAMPLERS = (BRACKET, "quasirandom", "grid")
MAX_SPACING = 0.5  # decades between bracket trials (the "at most half a decade apart")
OTHERS = "others"
RUN_OWNED_KEYS = ("optimizer", "hparams", "seed", "hparam_defaults")
DEFAULTS_ARMS = {"task_defaults": "task", "library_defaults": "library"}  # arm -> TaskConfig.hparam_defaults
_TOP_KEYS = ("name", "task", "base", "optimizers", "search", "settings_from", "tuning", "defaults_arms",
             "defaults_seeds", "seeds", "targets", "budgets", "more_seeds", "reanalysis", "compare_to")
_REANALYSIS_KEYS = ("test", "declared", "why")
_MORE_SEEDS_KEYS = ("rounds", "per_round", "max_seeds", "min_difference", "alpha", "close_by", "test")
_CLOSE_BY = ("estimate", "bound")
_REQUIRED = ("name", "task", "optimizers", "seeds")
_TUNING_KEYS = ("trials", "sampler", "seed", "seeds", "spacing", "extensions")
AROUND_DEFAULT = "log_uniform_around_default"
AROUND_SELECTED = "log_uniform_around_selected"
_KINDS = ("log_uniform", "uniform", "choice", AROUND_DEFAULT, AROUND_SELECTED)
_SETTINGS_FROM_KEYS = ("study", "budget")


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
    around_default: tuple | None = field(default=None, compare=False)  # (low, high) factors of ``default``
    default: Any = field(default=None, compare=False)  # the task default, or a selection (anchors the bracket grid)
    anchor: str = field(default="the task default", compare=False)  # what ``default`` is, for the report

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

    def describe(self) -> str:
        """The dimension as a report shows it (relative ranges with their factors)."""
        text = str(self.to_dict())
        if self.around_default:
            text += f" (= {self.around_default[0]:g}x to {self.around_default[1]:g}x {self.anchor})"
        return text


@dataclass(frozen=True)
class StudySpec:
    """A validated study.

    Attributes:
        name: study name (directory under ``runs/``).
        task: a built-in task name (`kerasopt.tasks.TASKS`) or a user task's import path, as written.
        base: task settings shared by every run.
        optimizers: registry names, in order.
        spaces: per optimizer, hyperparameter → `Dimension` (may be empty).
        trials: tuning trials per optimizer (quasirandom and grid: the same budget for all).
        sampler: ``"bracket"`` (default), ``"quasirandom"`` (scrambled Halton) or ``"grid"``.
        tuning_seeds: seeds of the tuning runs (every trial runs with each; selection uses
            the mean); the first also seeds the quasi-random sequence.
        spacing: bracket sampler: decades between neighbouring trials (at most `MAX_SPACING`).
        extensions: bracket sampler: the cap on steps added past either edge of a dimension.
        defaults_arms: the default arms run (``task_defaults``, ``library_defaults``).
        defaults_seeds: seeds of the defaults arms.
        seeds: held-out seeds of the final reruns (disjoint from ``tuning_seeds``).
        targets: values of the task's selection metric (the one its histories log) for time-to-target.
        source: the YAML file read (not part of the study's identity).
        warnings: notes for the reader found at load time (e.g. seeds that change nothing).
    """

    name: str
    task: str
    base: dict
    optimizers: tuple
    spaces: dict
    trials: int
    sampler: str
    tuning_seeds: tuple
    defaults_arms: tuple
    defaults_seeds: tuple
    seeds: tuple
    targets: tuple
    spacing: float = MAX_SPACING
    extensions: int = 3
    budgets: tuple = ()
    more_seeds: dict = field(default_factory=dict)
    reanalysis: dict = field(default_factory=dict)
    compare_to: dict = field(default_factory=dict)
    source: str = field(default="", compare=False)
    warnings: tuple = field(default=(), compare=False)

    @property
    def tuning_seed(self) -> int:
        """The first tuning seed (seeds the quasi-random sequence)."""
        return self.tuning_seeds[0]

    def tuning_dict(self) -> dict:
        """The ``tuning`` entry of `to_dict` (only the keys that matter for the sampler)."""
        if self.sampler == BRACKET:
            return {"sampler": self.sampler, "seeds": list(self.tuning_seeds), "spacing": self.spacing,
                    "extensions": self.extensions}
        return {"trials": self.trials, "sampler": self.sampler, "seeds": list(self.tuning_seeds)}

    def to_dict(self) -> dict:
        """The study's identity as plain JSON data (``source`` excluded)."""
        return {
            "name": self.name, "task": self.task, "base": dict(self.base), "optimizers": list(self.optimizers),
            "search": {opt: {k: d.to_dict() for k, d in space.items()} for opt, space in self.spaces.items()},
            "tuning": self.tuning_dict(),
            "defaults_arms": list(self.defaults_arms), "defaults_seeds": list(self.defaults_seeds),
            "seeds": list(self.seeds), "targets": list(self.targets),
            **({"budgets": list(self.budgets)} if self.budgets else {}),
            **({"more_seeds": dict(self.more_seeds)} if self.more_seeds else {}),
            **({"reanalysis": dict(self.reanalysis)} if self.reanalysis else {}),
            **({"compare_to": dict(self.compare_to)} if self.compare_to else {}),
        }

    def selection_budgets(self) -> tuple:
        """The budgets tuning selects at: ``budgets``, or ``(None,)`` (the runs' own end) without them."""
        return self.budgets or (None,)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<study>",
                  get_task: Callable[[str], Any] | None = None) -> "StudySpec":
        """Validate ``data`` (a parsed study file); see the module docstring for the schema.

        Args:
            data: the parsed YAML mapping.
            source: file name used in error messages.
            get_task: task name -> `kerasopt.tasks.Task` (default `kerasopt.tasks.get`, with relative
                task file paths looked up next to ``source`` first).

        Raises:
            ValueError: one line, ``"<source>: <key>: <problem>"``.
        """
        return _Parser(source, get_task).study(data)


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a study never needs them, and nested aliases can expand exponentially."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a study file",
                                              event.start_mark)
        return super().compose_node(parent, index)


def resolve_path(study: str | Path) -> Path:
    """A study file path, or the name of a study shipped with kerasopt (``style_smoke``)."""
    path = Path(study)
    if path.is_file() or path.suffix in (".yaml", ".yml") or "/" in str(study):
        return path
    shipped = Path(__file__).resolve().parent.parent / "experiments" / f"{study}.yaml"
    return shipped if shipped.is_file() else path


def load(path: str | Path, get_task: Callable[[str], Any] | None = None) -> StudySpec:
    """Read and validate a study file or shipped study name (see `resolve_path`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable text, malformed YAML or an invalid study, naming the file (and line or key).
    """
    path = resolve_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}, line {line})") from None
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}: malformed YAML{where}: {problem}") from None
    return StudySpec.from_dict(data, source=str(path), get_task=get_task)


def _is_positive(value: Any) -> bool:
    """Whether ``value`` is a positive number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _around(dim: Dimension, anchor: float, label: str = "the task default") -> Dimension:
    """The log-uniform range ``dim.values`` (factors) times ``anchor``, anchored there for the bracket grid."""
    low, high = dim.values
    return Dimension("log_uniform", (float(f"{anchor * low:.6g}"), float(f"{anchor * high:.6g}")), (low, high),
                     anchor, label)


def _coerce(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _coerce(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce(v) for v in value]
    return number_or_text(value)


class _Parser:
    """Turns a parsed YAML mapping into a `StudySpec`; errors name file and key."""

    def __init__(self, source: str, get_task: Callable[[str], Any] | None):
        from kerasopt import tasks

        self.source = source
        self.get_task = get_task or (lambda name: tasks.get(name, base_dir=Path(source).parent))

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
        if "search" not in data and "settings_from" not in data:
            raise self.error("search", "give search, or settings_from (the selections of another study)")
        name = str(data["name"]).strip()
        if not name or "/" in name or name.startswith("."):
            raise self.error("name", f"expected a directory name. Received: {data['name']!r}")
        if not isinstance(data["task"], str) or not data["task"].strip():
            raise self.error("task", f"expected a task name or import path. Received: {data['task']!r}")
        try:
            task = self.get_task(data["task"].strip())
        except ValueError as exc:
            raise self.error("task", f"{exc}") from None
        base = dict(self.mapping(data.get("base") or {}, "base"))
        budgets = self.budgets(data.get("budgets"), task, base)  # the largest becomes base's budget
        if budgets and number_or_text(base.get("schedule", "constant")) != "constant":
            raise self.error("budgets", "a decaying schedule spans one budget (its answer at a smaller budget is "
                                        "a run cut mid-decay): give one budget, or schedule: constant")
        base = self.base(base, task)
        optimizers = self.optimizers(data["optimizers"], task)
        tuning = self.mapping(data.get("tuning") or {}, "tuning", _TUNING_KEYS)
        sampler = tuning.get("sampler", "quasirandom" if "trials" in tuning else BRACKET)
        if sampler not in SAMPLERS:
            raise self.error("tuning.sampler", f"unknown sampler. Valid: {', '.join(SAMPLERS)}. Received: {sampler!r}")
        tuning_seeds = self.tuning_seeds(tuning)
        seeds = self.seeds(data["seeds"], "seeds")
        shared = [seed for seed in tuning_seeds if seed in seeds]
        if shared:
            raise self.error("seeds", f"the final seeds must be held out: tuning seed {shared[0]} is among them "
                                      f"(the winning trial would enter the tuned mean). Received: {list(seeds)}")
        spacing, extensions = self.bracket(tuning, sampler)
        arms = self.defaults_arms(data.get("defaults_arms", ["task_defaults"]))
        defaults_seeds = self.seeds(data["defaults_seeds"], "defaults_seeds") if "defaults_seeds" in data else seeds
        warnings = ()
        reason = task.seeds_matter(base)
        if reason and (len(seeds) > 1 or len(defaults_seeds) > 1):
            warnings = (f"seeds change nothing here: {reason}; the runs of different seeds are identical, "
                        "so their interval has no meaning",)
        selected = self.selected_settings(data["settings_from"]) if "settings_from" in data else None
        if "search" in data:
            spaces = self.spaces(data["search"], optimizers, task, base, selected)
            if selected and not any(d.anchor == selected[0] for space in spaces.values() for d in space.values()):
                raise self.error("settings_from", f"beside search it only anchors {AROUND_SELECTED} ranges, and "
                                                  "none is given: drop one of the two")
        else:
            spaces = self.spaces(self.fixed_at(selected, optimizers), optimizers, task, base)
        return StudySpec(
            name=name, task=task.name, base=base, optimizers=tuple(optimizers), spaces=spaces,
            trials=self.integer(tuning.get("trials", 8), "tuning.trials", 1), sampler=sampler,
            tuning_seeds=tuning_seeds, defaults_arms=arms, defaults_seeds=defaults_seeds,
            seeds=seeds, targets=self.targets(data.get("targets") or []), spacing=spacing, extensions=extensions,
            budgets=budgets, more_seeds=self.more_seeds(data.get("more_seeds"), seeds),
            reanalysis=self.reanalysis(data.get("reanalysis")), compare_to=self.compare_to(data.get("compare_to")),
            source=self.source, warnings=warnings)

    def compare_to(self, value: Any) -> dict:
        """The validated ``compare_to`` mapping ({study: DIR, label: TEXT}), {} when absent (report only)."""
        if value is None:
            return {}
        value = self.mapping(value, "compare_to", ("study", "label"))
        if not isinstance(value.get("study"), str) or not value["study"].strip():
            raise self.error("compare_to.study", f"expected a study's results directory. Received: {value!r}")
        return {"study": value["study"].strip(), "label": str(value.get("label", "the companion study"))}

    def reanalysis(self, value: Any) -> dict:
        """The validated ``reanalysis`` mapping, {} when absent: a published study's verdicts re-judged by
        another ``test`` in its report, declared with the date and the reason; its runs stay as they are."""
        if value is None:
            return {}
        value = self.mapping(value, "reanalysis", _REANALYSIS_KEYS)
        missing = [key for key in _REANALYSIS_KEYS if key not in value]
        if missing:
            raise self.error(f"reanalysis.{missing[0]}", "missing (a re-analysis says its test, when it was "
                                                         "declared and why)")
        if value["test"] not in TESTS:
            raise self.error("reanalysis.test", f"expected one of {', '.join(TESTS)}. Received: {value['test']!r}")
        return {"test": value["test"], "declared": str(value["declared"]), "why": str(value["why"]).strip()}

    def tuning_seeds(self, tuning: dict) -> tuple:
        if "seed" in tuning and "seeds" in tuning:
            raise self.error("tuning.seeds", "give either seed or seeds, not both")
        if "seeds" in tuning:
            return self.seeds(tuning["seeds"], "tuning.seeds")
        return (self.integer(tuning.get("seed", 0), "tuning.seed", 0),)

    def bracket(self, tuning: dict, sampler: str) -> tuple[float, int]:
        """``(spacing, extensions)`` of the bracket sampler; refused for the other samplers."""
        if sampler != BRACKET:
            given = [key for key in ("spacing", "extensions") if key in tuning]
            if given:
                raise self.error(f"tuning.{given[0]}", f"only for sampler: {BRACKET}")
            return MAX_SPACING, 0
        if "trials" in tuning:
            raise self.error("tuning.trials", f"sampler {BRACKET!r} sets its trials from the range and spacing "
                                              "(give spacing, or use sampler: quasirandom | grid)")
        spacing = number_or_text(tuning.get("spacing", MAX_SPACING))
        if isinstance(spacing, bool) or not isinstance(spacing, (int, float)) or not 0 < spacing <= MAX_SPACING:
            raise self.error("tuning.spacing", f"expected decades between trials in (0, {MAX_SPACING}]. "
                                               f"Received: {spacing!r}")
        return float(spacing), self.integer(tuning.get("extensions", 3), "tuning.extensions", 0)

    def base(self, value: Any, task) -> dict:
        base = _coerce(self.mapping(value, "base"))
        for key in RUN_OWNED_KEYS:
            if key in base:
                raise self.error(f"base.{key}", "set by the study (use optimizers/search/seeds), not in base")
        if task.budget is not None and task.budget.required:
            if base.get("iterations") is not None:
                raise self.error("base.iterations", f"task {task.name!r} is full-batch: budget it in "
                                                    "evaluations (an iteration of L-BFGS costs several), "
                                                    "not iterations")
            if base.get("evaluations") is None:
                raise self.error("base.evaluations", f"missing: task {task.name!r} is budgeted in "
                                                     "loss-and-gradient evaluations")
            base["iterations"] = None
        return base

    def more_seeds(self, value: Any, seeds: tuple) -> dict:
        """The validated ``more_seeds`` mapping (`kerasopt.stats.verdicts.MoreSeeds`), {} when absent."""
        if value is None:
            return {}
        value = _coerce(self.mapping(value, "more_seeds", _MORE_SEEDS_KEYS))
        checked = {key: self.integer(value.get(key, default), f"more_seeds.{key}", low)
                   for key, default, low in (("rounds", 2, 1), ("per_round", 5, 2), ("max_seeds", 20, len(seeds)))}
        for key, default, low, high in (("min_difference", 0.0, 0.0, math.inf), ("alpha", 0.05, 0.0, 0.5)):
            number = value.get(key, default)
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not low <= number < high:
                raise self.error(f"more_seeds.{key}", f"expected a number in [{low}, {high}). Received: {number!r}")
            checked[key] = float(number)
        close_by = value.get("close_by", "estimate")
        if close_by not in _CLOSE_BY:
            raise self.error("more_seeds.close_by", f"expected one of {', '.join(_CLOSE_BY)}. Received: {close_by!r}")
        if close_by != "estimate":  # the default is left out: studies written before the key keep their identity
            checked["close_by"] = close_by
        test = value.get("test", "t")
        if test not in TESTS:
            raise self.error("more_seeds.test", f"expected one of {', '.join(TESTS)}. Received: {test!r}")
        if test != "t":  # the default is left out, as close_by's
            checked["test"] = test
        return checked

    def budgets(self, value: Any, task, base: dict) -> tuple:
        """Increasing positive budgets in the unit of ``task.budget``; ``base`` is set to run to the largest."""
        if value is None:
            return ()
        value = _coerce(value)
        if task.budget is None or task.budget.column is None:
            raise self.error("budgets", f"task {task.name!r} cannot be read at intermediate budgets")
        if not isinstance(value, list) or len(value) < 2 or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value) or value != sorted(set(value)):
            raise self.error("budgets", f"expected at least two increasing positive integers. Received: {value!r}")
        setting = task.budget.setting
        if base.get(setting) is not None and _coerce(base[setting]) != value[-1]:
            raise self.error(f"base.{setting}", f"every run goes to the largest budget ({value[-1]}). "
                                                f"Received: {setting}={base[setting]!r}")
        base[setting] = value[-1]
        if task.budget.snapshot_setting:  # the runs keep their result image at every smaller budget
            base[task.budget.snapshot_setting] = value[:-1]
        return tuple(value)

    def defaults_arms(self, value: Any) -> tuple:
        if not isinstance(value, list) or any(arm not in DEFAULTS_ARMS for arm in value) \
                or len(set(value)) != len(value):
            raise self.error("defaults_arms", f"expected a list of distinct names from "
                                              f"{', '.join(DEFAULTS_ARMS)}. Received: {value!r}")
        return tuple(value)

    def optimizers(self, value: Any, task) -> list[str]:
        valid = list(task.supported)
        if value == "all":
            return valid
        valid += list(task.excluded)  # left out of 'all' only; can be named
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

    def spaces(self, value: Any, optimizers: list[str], task, base: dict,
               selected: tuple[str, dict] | None = None) -> dict:
        """Per optimizer, hyperparameter -> `Dimension`, relative ranges made absolute (``selected``: another
        study's `selected_settings`, for ``log_uniform_around_selected``)."""
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
            space = {hp: self.around_default(dim, f"{key}.{hp}", task, base, name, hp) for hp, dim in space.items()}
            space = {hp: self.around_selected(dim, f"{key}.{hp}", selected, name, hp) for hp, dim in space.items()}
            space = {hp: self.with_default(dim, task, base, name, hp) for hp, dim in space.items()}
            has_rate = "learning_rate" in registry.spec(name).defaults
            if has_rate and not space:  # fixed values given explicitly are a deliberate, untuned setting
                raise self.error(key, f"empty search space for {name!r} (it has a learning rate to tune)")
            try:
                registry.resolve_hparams(name, **{hp: d.at(0.5) for hp, d in space.items()})
            except ValueError as exc:
                raise self.error(key, str(exc)) from None
            spaces[name] = space
        return spaces

    def selected_settings(self, value: Any) -> tuple[str, dict]:
        """``(label, optimizer -> hparams)`` of what another study's tuning selected: ``value`` is its results
        directory, or ``{study: DIR, budget: N}`` for its selection at budget N (a study with ``budgets``);
        DIR is relative to this file, then the working directory."""
        from kerasopt import records
        from kerasopt.layout import PLAN

        mapping = isinstance(value, dict)
        if mapping:
            self.mapping(value, "settings_from", _SETTINGS_FROM_KEYS)
        folder, budget = (value.get("study"), value.get("budget")) if mapping else (value, None)
        if not isinstance(folder, str) or not folder.strip():
            raise self.error("settings_from", f"expected a study's results directory. Received: {value!r}")
        candidates = [Path(self.source).parent / folder, Path(folder)]
        plan = next((path / PLAN for path in candidates if (path / PLAN).is_file()), None)
        if plan is None:
            raise self.error("settings_from", f"no plan.json in {folder!r} (relative to {Path(self.source).parent} "
                                              "or the working directory): give a study's results directory")
        key = "selection" if budget is None else "selections"
        try:
            selection = records.read_json_object(plan, (key,), "study plan")[key]
        except ValueError as exc:
            raise self.error("settings_from", str(exc)) from None
        if budget is not None:
            if not isinstance(selection, dict) or str(budget) not in selection:
                raise self.error("settings_from.budget", f"{plan}: no selection at budget {budget!r}. "
                                                         f"Valid: {', '.join(map(str, selection or {}))}")
            selection = selection[str(budget)]
        label = f"the setting {folder} selected" + (f" at budget {budget}" if budget is not None else "")
        return label, {name: chosen["hparams"] for name, chosen in (selection or {}).items()
                       if isinstance(chosen, dict) and isinstance(chosen.get("hparams"), dict)}

    def fixed_at(self, selected: tuple[str, dict], optimizers: list[str]) -> dict:
        """``search`` fixing each optimizer at its `selected_settings` setting (a companion study, untuned)."""
        for name in optimizers:
            if name not in selected[1]:
                raise self.error("settings_from", f"no selected setting for {name!r} (looked for {selected[0]}: "
                                                  "its tuning did not finish or it was not in that study)")
        return {name: selected[1][name] for name in optimizers}

    def around_selected(self, dim: Dimension, key: str, selected: tuple[str, dict] | None, optimizer: str,
                        hparam: str) -> Dimension:
        """A ``log_uniform_around_selected`` dimension made absolute with the setting ``settings_from`` selected."""
        if dim.kind != AROUND_SELECTED:
            return dim
        if selected is None:
            raise self.error(key, f"{AROUND_SELECTED} needs settings_from (the study whose selection it is around)")
        label, settings = selected
        value = settings.get(optimizer, {}).get(hparam)
        if not _is_positive(value):
            raise self.error(key, f"settings_from has no positive selected {hparam!r} for {optimizer!r} to search "
                                  f"around. Received: {value!r}")
        return _around(dim, value, label)

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
        if kind in ("log_uniform", AROUND_DEFAULT, AROUND_SELECTED) and low <= 0:
            raise self.error(f"{key}.{kind}", f"log_uniform needs low > 0. Received: {values}")
        return Dimension(kind, (low, high))

    def around_default(self, dim: Dimension, key: str, task, base: dict, optimizer: str, hparam: str) -> Dimension:
        """A ``log_uniform_around_default`` dimension made absolute with the task's default at ``base``."""
        if dim.kind != AROUND_DEFAULT:
            return dim
        try:
            default = task.task_hparams({**base, "optimizer": optimizer}).get(hparam)
        except ValueError as exc:
            raise self.error("base", f"{str(exc).splitlines()[0]} (optimizer {optimizer!r})") from None
        if not _is_positive(default):
            raise self.error(key, f"{optimizer!r} has no positive task default for {hparam!r} to search around")
        return _around(dim, default)

    def with_default(self, dim: Dimension, task, base: dict, optimizer: str, hparam: str) -> Dimension:
        """``dim`` with the task's default for ``hparam`` attached (None when the task has none)."""
        if not dim.searched or dim.default is not None:
            return dim
        try:
            default = task.task_hparams({**base, "optimizer": optimizer}).get(hparam)
        except ValueError:  # reported by the run planning with its one line
            return dim
        return replace(dim, default=default) if isinstance(default, (int, float, str)) else dim

    def seeds(self, value: Any, key: str) -> tuple:
        if not isinstance(value, list) or not value:
            raise self.error(key, f"expected a non-empty list of integers. Received: {value!r}")
        seeds = [self.integer(v, f"{key}[{i}]", 0) for i, v in enumerate(value)]
        if len(set(seeds)) != len(seeds):
            raise self.error(key, f"duplicate seeds. Received: {seeds}")
        return tuple(seeds)

    def targets(self, value: Any) -> tuple:
        value = _coerce(value)
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  and math.isfinite(v) for v in value):
            raise self.error("targets", f"expected a list of finite numbers. Received: {value!r}")
        return tuple(float(v) for v in value)
