"""The optimizer registry: one name per optimizer that kerasopt compares.

``available()`` lists the names, ``make(name, **hparams)`` builds one with the
registry defaults of its `OptimizerSpec` (``spec(name).defaults``, all of them in
`REGISTRY`) overridden by ``hparams``, and ``spec(name)`` tells where each
default comes from. First-order optimizers are `keras.optimizers.Optimizer`
instances (use them in ``model.fit`` or ``apply_gradients``; ``mini_batch()``
lists them); ``lbfgs`` (`TFLBFGS`, L-BFGS-B on the device), ``lbfgs_scipy``
(`LBFGS`, scipy's L-BFGS-B) and ``hessian_free`` (`HessianFree`) are full-batch
drivers (`FullBatchDriver`, `kerasopt.optimizers.full_batch`) with
``minimize(loss_fn, variables)`` (`is_full_batch_driver`).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import keras

from kerasopt.optimizers.full_batch import DriverResult, FullBatchDriver
from kerasopt.optimizers.hessian_free import HessianFree, HFResult
from kerasopt.optimizers.lbfgs import LBFGS
from kerasopt.optimizers.muon import Muon
from kerasopt.optimizers.rprop import Rprop
from kerasopt.optimizers.schedule_free import ScheduleFreeAdamW
from kerasopt.optimizers.tf_lbfgs import TFLBFGS

__all__ = ["DriverResult", "FullBatchDriver", "HessianFree", "HFResult", "LBFGS", "TFLBFGS", "Muon", "Rprop", "ScheduleFreeAdamW", "OptimizerSpec", "REGISTRY", "available", "make", "spec",
           "defaults_table", "defaults_markdown", "is_full_batch_driver", "check_hparams",
           "resolve_hparams", "library_hparams", "build", "mini_batch"]

KERAS = "Keras 3 default"
PAPER_ERA = "paper-era default (Keras 2 / original paper)"
OURS = "kerasopt choice"


@dataclass(frozen=True)
class OptimizerSpec:
    """One registry entry.

    Attributes:
        name: registry key (paper name, lower case).
        cls: the class that `make` instantiates.
        defaults: hyperparameters passed unless overridden, as Keras spells them.
        sources: for each default, where it comes from (`KERAS`, `PAPER_ERA`, `OURS`).
        reference: the paper that introduced the method.
        kind: ``"keras"`` (a `keras.optimizers.Optimizer`: ``apply_gradients``, ``model.fit``)
            or ``"driver"`` (a full-batch driver with ``minimize(loss_fn, variables)``, which
            needs the loss at trial points and cannot train mini-batches).
        variant: the hyperparameters that make the entry the method it names (``momentum=0.9``
            for ``momentum``, ``amsgrad=True`` for ``amsgrad``); the library-defaults arm
            (`library_hparams`) passes only these.
    """

    name: str
    cls: type
    defaults: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    reference: str = ""
    kind: str = "keras"
    variant: dict = field(default_factory=dict)

    def accepted_hparams(self) -> set[str]:
        """Names ``make`` accepts for this optimizer (constructor + Keras base arguments)."""
        names = set(_init_params(self.cls))
        if issubclass(self.cls, keras.optimizers.Optimizer):
            names |= set(_init_params(keras.optimizers.Optimizer)) - {"args"}
            names |= {"learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
                      "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                      "gradient_accumulation_steps", "name"}
        return names


def _init_params(cls) -> list[str]:
    """Constructor arguments of ``cls``, following ``**kwargs`` up to the parent classes."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return list(dict.fromkeys(names))


def _entry(name, cls, reference, defaults, sources=None, variant=(), kind="keras"):
    sources = {key: (sources or {}).get(key, KERAS) for key in defaults}
    return OptimizerSpec(name, cls, dict(defaults), sources, reference, kind,
                         {key: defaults[key] for key in variant})


_O = keras.optimizers
REGISTRY: dict[str, OptimizerSpec] = {
    spec_.name: spec_
    for spec_ in [
        _entry("sgd", _O.SGD, "Robbins & Monro 1951", {"learning_rate": 0.01}),
        _entry("momentum", _O.SGD, "Polyak 1964; Sutskever et al. 2013",
               {"learning_rate": 0.01, "momentum": 0.9}, {"momentum": PAPER_ERA}, variant=("momentum",)),
        _entry("nesterov", _O.SGD, "Nesterov 1983; Sutskever et al. 2013",
               {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True},
               {"momentum": PAPER_ERA, "nesterov": PAPER_ERA}, variant=("momentum", "nesterov")),
        _entry("adagrad", _O.Adagrad, "Duchi et al. 2011",
               {"learning_rate": 0.01, "initial_accumulator_value": 0.1}, {"learning_rate": PAPER_ERA}),
        _entry("adadelta", _O.Adadelta, "Zeiler 2012",
               {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-6},
               {"learning_rate": PAPER_ERA, "epsilon": PAPER_ERA}),
        _entry("rmsprop", _O.RMSprop, "Tieleman & Hinton 2012", {"learning_rate": 0.001, "rho": 0.9}),
        _entry("adam", _O.Adam, "Kingma & Ba 2015", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999}),
        _entry("amsgrad", _O.Adam, "Reddi et al. 2018",
               {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "amsgrad": True},
               {"amsgrad": PAPER_ERA}, variant=("amsgrad",)),
        _entry("adamax", _O.Adamax, "Kingma & Ba 2015 (sec. 7)",
               {"learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999}, {"learning_rate": PAPER_ERA}),
        _entry("nadam", _O.Nadam, "Dozat 2016",
               {"learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999}, {"learning_rate": PAPER_ERA}),
        _entry("adamw", _O.AdamW, "Loshchilov & Hutter 2019",
               {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999}),
        _entry("nadamw", _O.Nadam, "Dozat 2016 with decoupled weight decay (Loshchilov & Hutter 2019); "
                                   "AlgoPerf's baseline",
               {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999},
               {"weight_decay": "AdamW's Keras 3 default"}, variant=("weight_decay",)),
        _entry("lion", _O.Lion, "Chen et al. 2023 (lr 3-10x below Adam's)",
               {"learning_rate": 0.0001, "beta_1": 0.9, "beta_2": 0.99}, {"learning_rate": PAPER_ERA}),
        _entry("lamb", _O.Lamb, "You et al. 2020", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999}),
        _entry("ftrl", _O.Ftrl, "McMahan et al. 2013",
               {"learning_rate": 0.001, "learning_rate_power": -0.5, "initial_accumulator_value": 0.1}),
        _entry("adafactor", _O.Adafactor, "Shazeer & Stern 2018",
               {"learning_rate": 0.001, "beta_2_decay": -0.8, "relative_step": True}),
        _entry("muon", Muon, "Jordan et al. 2024; conv kernels orthogonalized as fan-in x fan-out matrices, "
                             "AdamW on 1-D variables",
               {"learning_rate": 0.001, "momentum": 0.95, "adam_beta_1": 0.9, "adam_beta_2": 0.999}),
        _entry("schedule_free_adamw", ScheduleFreeAdamW, "Defazio et al. 2024 (z started at the weights; "
                                                         "evaluated and saved at the averaged point x)",
               {"learning_rate": 0.0025, "beta_1": 0.9, "beta_2": 0.999, "warmup_steps": 0}),
        _entry("rprop", Rprop, "Riedmiller & Braun 1993; iRprop- of Igel & Huesken 2000 (as torch)",
               {"learning_rate": 0.01, "eta_plus": 1.2, "eta_minus": 0.5, "min_step": 1e-6, "max_step": 50.0},
               {"learning_rate": PAPER_ERA, "eta_plus": PAPER_ERA, "eta_minus": PAPER_ERA,
                "min_step": PAPER_ERA, "max_step": PAPER_ERA}),
        _entry("lbfgs", TFLBFGS, "Byrd, Lu, Nocedal & Zhu 1995 (L-BFGS-B: generalized Cauchy point, subspace "
                                 "minimization, More-Thuente line search), compiled TensorFlow on the device",
               {"max_iterations": 100, "history_size": 10},
               {"max_iterations": OURS, "history_size": "scipy default (maxcor)"}, kind="driver"),
        _entry("lbfgs_scipy", LBFGS, "Liu & Nocedal 1989; scipy L-BFGS-B (Byrd et al. 1995), on the host",
               {"max_iterations": 100, "history_size": 10},
               {"max_iterations": OURS, "history_size": "scipy default (maxcor)"}, kind="driver"),
        _entry("hessian_free", HessianFree, "Martens 2010 (truncated Newton: CG on exact Hessian-vector "
                                            "products, Levenberg-Marquardt damping)",
               {"max_iterations": 100, "max_cg_iterations": 10, "initial_damping": 0.1},
               {"max_iterations": OURS, "max_cg_iterations": OURS, "initial_damping": OURS}, kind="driver"),
    ]
}


def available() -> list[str]:
    """All registry names, in the order of the paper's comparison."""
    return list(REGISTRY)


def spec(name: str) -> OptimizerSpec:
    """The `OptimizerSpec` of ``name``; ValueError listing valid names if unknown."""
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise ValueError(f"Unknown optimizer {name!r}. Valid names: {', '.join(available())}")
    return REGISTRY[key]


def is_full_batch_driver(name: str) -> bool:
    """True when ``make(name)`` returns a driver with ``minimize`` (not a Keras optimizer)."""
    return spec(name).kind == "driver"


def mini_batch() -> list[str]:
    """The registry names that train networks on mini-batches: every Keras optimizer, no full-batch driver."""
    return [name for name in available() if not is_full_batch_driver(name)]


def check_hparams(name: str, hparams: dict) -> dict:
    """``hparams`` validated for ``name`` (no defaults added); the learning rate as a float, or a Keras
    ``LearningRateSchedule`` (kept as it is).

    Raises:
        ValueError: unknown name, a hyperparameter the optimizer does not accept,
            or a learning rate that is not a finite positive number.
    """
    entry = spec(name)
    unknown = sorted(set(hparams) - entry.accepted_hparams())
    if unknown:
        raise ValueError(f"Optimizer {entry.name!r} has no hyperparameter {', '.join(map(repr, unknown))}. "
                         f"Valid: {', '.join(sorted(entry.accepted_hparams()))}")
    checked = dict(hparams)
    if isinstance(checked.get("learning_rate"), keras.optimizers.schedules.LearningRateSchedule):
        return checked  # a schedule of a validated peak (`kerasopt.schedules`)
    if "learning_rate" in checked:
        rate = checked["learning_rate"]
        try:
            rate = float(rate)  # YAML may read 1e-3 as a string
        except (TypeError, ValueError):
            raise ValueError(f"learning_rate of {entry.name!r} must be a number. Received: learning_rate={rate!r}")
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"learning_rate of {entry.name!r} must be a finite positive number. "
                             f"Received: learning_rate={rate}")
        checked["learning_rate"] = rate
    return checked


def resolve_hparams(name: str, **hparams) -> dict:
    """The registry defaults of ``name`` updated by ``hparams``, validated (see `check_hparams`)."""
    return check_hparams(name, {**spec(name).defaults, **hparams})


def library_hparams(name: str) -> dict:
    """The library-defaults setting of ``name``: only its `OptimizerSpec.variant` keys, so the
    optimizer is built exactly as Keras (or our Rprop/L-BFGS constructors) would build it."""
    return dict(spec(name).variant)


def build(name: str, hparams: dict):
    """Build optimizer ``name`` with exactly ``hparams`` (validated; no registry defaults added)."""
    entry = spec(name)
    return entry.cls(**check_hparams(entry.name, hparams))


def make(name: str, **hparams):
    """Build optimizer ``name`` with its registry defaults overridden by ``hparams``.

    Returns:
        A `keras.optimizers.Optimizer`, or a full-batch driver (``minimize``) for ``"lbfgs"``,
        ``"lbfgs_scipy"`` and ``"hessian_free"``.
    """
    return build(name, resolve_hparams(name, **hparams))


def defaults_table() -> list[dict]:
    """Rows ``{optimizer, class, hyperparameter, value, source, reference}`` of every default."""
    return [
        {"optimizer": entry.name, "class": entry.cls.__name__, "hyperparameter": key, "value": value,
         "source": entry.sources[key], "reference": entry.reference}
        for entry in REGISTRY.values()
        for key, value in entry.defaults.items()
    ]


def defaults_markdown() -> str:
    """`defaults_table` as a Markdown table (the one shown in docs/optimizers.md)."""
    lines = ["| optimizer | Keras class | hyperparameter | default | source | reference |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in defaults_table():
        lines.append(f"| {row['optimizer']} | {row['class']} | {row['hyperparameter']} | {row['value']} "
                     f"| {row['source']} | {row['reference']} |")
    return "\n".join(lines) + "\n"
