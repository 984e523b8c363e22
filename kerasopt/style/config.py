"""`StyleConfig`: every setting of one style-transfer run, and the pixel-scale optimizer defaults.

The image variable is RGB in [0, 255], so a Keras default learning rate made
for network weights (1e-3) barely moves a pixel. `PIXEL_LEARNING_RATES` holds
our per-optimizer defaults for this problem, found by
``benchmarks/style_lr_search.py`` (results in docs/style.md); an explicit
``hparams["learning_rate"]`` overrides them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from kerasopt import optimizers
from kerasopt.config import number_or_text
from kerasopt.style.features import DEFAULT_NETWORK, NETWORKS
from kerasopt.style.images import BUNDLED, PATTERN

INITS = ("content", "noise")
PIXEL_BOUNDS = (0.0, 255.0)

PIXEL_LEARNING_RATES = {
    "sgd": 1000.0, "momentum": 100.0, "nesterov": 100.0, "adagrad": 100.0, "adadelta": 1000.0, "rmsprop": 3.16,
    "adam": 10.0, "amsgrad": 10.0, "adamax": 10.0, "nadam": 10.0, "adamw": 1.0, "lion": 3.16, "lamb": 0.01,
    "ftrl": 100.0, "adafactor": 0.01, "muon": 1.0, "schedule_free_adamw": 10.0, "rprop": 10.0,
}
"""Default ``learning_rate`` per optimizer for pixels in [0, 255] with the default loss
weights, at ``size`` = `REFERENCE_SIZE` (see docs/style.md for the search that chose
them). ``lbfgs`` has none."""

REFERENCE_SIZE = 128
GRADIENT_SCALED = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "ftrl")
"""Optimizers whose step is proportional to the gradient here (for adagrad, adadelta and
ftrl because their accumulators start far above the tiny squared pixel gradients). The
losses are means over positions, so pixel gradients scale as 1/(number of pixels): their
default rate is multiplied by ``(size / REFERENCE_SIZE) ** 2``. The other optimizers
normalise the gradient and keep the table's rate at every size."""

_LBFGS_BUDGET_KEYS = ("max_iterations", "max_evaluations", "bounds")
_INT_FIELDS = ("seed", "size", "iterations", "evaluations", "snapshot_every")
_FLOAT_FIELDS = ("content_weight", "style_weight", "tv_weight")


@dataclass
class StyleConfig:
    """All settings of one Gatys style-transfer run.

    Attributes:
        optimizer: registry name (``kerasopt.optimizers.available()``).
        hparams: optimizer hyperparameter overrides as Keras spells them; a missing
            ``learning_rate`` means `PIXEL_LEARNING_RATES`.
        seed: non-negative int (noise init, TF seeds).
        content: ``tubingen`` (bundled), ``starry-night``, ``pattern`` or an image path.
        style: ``starry-night`` (bundled), ``pattern`` (generated), ``tubingen`` or a path.
        size: long side of the images in px (content and style are resized to it).
        iterations: budget in optimizer iterations (None: no iteration limit).
        evaluations: budget in loss-and-gradient evaluations (None: no limit). At
            least one budget must be set. A first-order step is one evaluation.
        init: ``content`` (start from the content photo) or ``noise`` (uniform [0, 255]).
        network: feature network (``vgg16-hed`` offline default, ``vgg19``, ``vgg16``).
        weights: optional weights file for the network.
        content_weight, style_weight, tv_weight: non-negative loss weights (our
            defaults: 1, 0.01, 0.001; see kerasopt.style.losses for the normalisations).
        snapshot_every: save ``artifacts/snapshot_<iteration>.png`` every K
            iterations (0: never).
    """

    optimizer: str = "lbfgs"
    hparams: dict = field(default_factory=dict)
    seed: int = 0
    content: str = "tubingen"
    style: str = "starry-night"
    size: int = 256
    iterations: int | None = 100
    evaluations: int | None = None
    init: str = "content"
    network: str = DEFAULT_NETWORK
    weights: str | None = None
    content_weight: float = 1.0
    style_weight: float = 0.01
    tv_weight: float = 0.001
    snapshot_every: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Check every value; ValueError naming the setting ("Received: x=...")."""
        self.optimizer = optimizers.spec(self.optimizer).name
        if not isinstance(self.hparams, dict):
            raise ValueError(f"hparams must be a mapping. Received: hparams={self.hparams!r}")
        if optimizers.is_full_batch_driver(self.optimizer):
            clashing = sorted(set(self.hparams) & set(_LBFGS_BUDGET_KEYS))
            if clashing:
                raise ValueError(f"set the lbfgs budget with iterations/evaluations, not hparams {clashing}")
        optimizers.resolve_hparams(self.optimizer, **self.hparams)
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if value is None and name in ("iterations", "evaluations"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer. Received: {name}={value!r}")
        if self.size < 1:
            raise ValueError(f"size must be a positive number of px. Received: size={self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative. Received: seed={self.seed}")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0. Received: snapshot_every={self.snapshot_every}")
        if self.iterations is None and self.evaluations is None:
            raise ValueError("give a budget: iterations and/or evaluations. Received: both None")
        for name in ("iterations", "evaluations"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={value}")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={value!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}. Received: init={self.init!r}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}. Received: network={self.network!r}")
        for name in ("content", "style"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be an image path or one of {', '.join([*BUNDLED, PATTERN])}. "
                                 f"Received: {name}={getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "StyleConfig":
        """Build from a plain mapping (JSON/YAML); numbers given as strings are coerced.

        Raises:
            ValueError: an unknown key (named) or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown style setting(s) {', '.join(unknown)}. Valid: {', '.join(sorted(known))}")
        values = dict(values)
        for name in _INT_FIELDS:
            if name in values and values[name] is not None:
                values[name] = _to_int(name, values[name])
        for name in _FLOAT_FIELDS:
            if name in values:
                values[name] = _to_float(name, values[name])
        if values.get("hparams") is not None and isinstance(values["hparams"], dict):
            values["hparams"] = {key: number_or_text(value) for key, value in values["hparams"].items()}
        elif "hparams" in values and values["hparams"] is None:
            values["hparams"] = {}
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every setting (``from_dict(to_dict())`` round-trips)."""
        return dataclasses.asdict(self)

    def optimizer_hparams(self) -> dict:
        """Overrides passed to ``optimizers.make``: pixel-scale learning rate < ``hparams``;
        for ``lbfgs`` the budget and the pixel bounds."""
        if optimizers.is_full_batch_driver(self.optimizer):
            return {**self.hparams, "max_iterations": self.iterations, "max_evaluations": self.evaluations,
                    "bounds": PIXEL_BOUNDS}
        return {"learning_rate": default_learning_rate(self.optimizer, self.size), **self.hparams}


def default_learning_rate(optimizer: str, size: int) -> float:
    """Pixel-scale default rate of a first-order ``optimizer`` at long side ``size`` px."""
    rate = PIXEL_LEARNING_RATES[optimizer]
    if optimizer in GRADIENT_SCALED:
        rate *= (size / REFERENCE_SIZE) ** 2
    return float(f"{rate:.4g}")


def _to_int(name, value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer. Received: {name}={value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer. Received: {name}={value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{name} must be an integer. Received: {name}={value!r}")
    return int(number)


def _to_float(name, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number. Received: {name}={value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number. Received: {name}={value!r}") from None
