"""`DefectsConfig`: every setting of one defect-segmentation run.

This module does not import TensorFlow: `DefectsConfig.from_dict` only checks
names and types; `DefectsConfig.validate` (called by `run` and the CLI) also
checks the optimizer, its hyperparameters and the backbone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

TARGET = {"metric": "val_dice", "mode": "max"}
STRATEGIES = ("default", "mirrored")


def supported_optimizers() -> list[str]:
    """Registry names this task trains with ``model.fit``: all but full-batch drivers (lbfgs)."""
    from kerasopt import optimizers

    return [name for name in optimizers.available() if not optimizers.is_full_batch_driver(name)]


@dataclass
class DefectsConfig:
    """Settings of one run (defaults = ``make train-defects``).

    Attributes:
        optimizer: registry name (see ``kerasopt optimizers``); not ``lbfgs``.
        hparams: optimizer hyperparameter overrides, e.g. ``{"learning_rate": 1e-3}``;
            empty = registry defaults.
        seed: int >= 0; fixes initial weights, data order and augmentation.
        data: data folder (plain ``images/`` + ``masks/`` or an MVTec category).
        synthetic: when True and ``data/manifest.json`` is missing, generate the
            synthetic data set there first (``synthetic_n`` images of
            ``synthetic_size`` px, seed ``synthetic_seed``).
        backbone: segmentation_models encoder (default resnet18; GPU scale: resnet34).
        encoder_weights: None (random init), "imagenet" (needs internet) or an .h5 path.
        size: input height and width in px, multiple of 32.
        epochs, batch_size: training length and mini-batch size.
        dice_weight, focal_weight: weights of the Dice and focal loss terms.
        augment: random flips and 90° rotations of training batches.
        split_seed, val_fraction, test_fraction: the split of data sets without
            a manifest (fixed across optimizer seeds on purpose).
        mixed_precision: Keras "mixed_float16" policy (for GPUs).
        jit: XLA compilation (``jit_compile``; slower on CPU).
        strategy: "default" or "mirrored" (one run on all visible GPUs).
        deterministic: TF op determinism (slower; bit-identical reruns).
        overlays: number of test images drawn in ``overlays.png``.
    """

    optimizer: str = "adam"
    hparams: dict = field(default_factory=dict)
    seed: int = 0
    data: str = "data/synthetic"
    synthetic: bool = False
    synthetic_n: int = 400
    synthetic_size: int = 128
    synthetic_seed: int = 0
    backbone: str = "resnet18"
    encoder_weights: str | None = None
    size: int = 128
    epochs: int = 20
    batch_size: int = 8
    dice_weight: float = 1.0
    focal_weight: float = 1.0
    augment: bool = True
    split_seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    mixed_precision: bool = False
    jit: bool = False
    strategy: str = "default"
    deterministic: bool = False
    overlays: int = 4

    @classmethod
    def from_dict(cls, values: dict) -> "DefectsConfig":
        """Build from a plain dict (e.g. YAML); coerce numbers and booleans given as strings.

        Raises:
            ValueError: an unknown key (named, with the valid ones) or a value of the wrong type.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown defects setting(s) {', '.join(map(repr, unknown))}. "
                             f"Valid: {', '.join(fields)}")
        defaults = cls()
        coerced = {name: _coerce(name, value, type(getattr(defaults, name)), fields[name].type)
                   for name, value in values.items()}
        config = cls(**coerced)
        config.check_ranges()
        return config

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict; ``from_dict(to_dict())`` round-trips."""
        return dataclasses.asdict(self)

    def check_ranges(self) -> None:
        """Cheap checks without TensorFlow; ValueError naming the setting."""
        positive = ("synthetic_n", "synthetic_size", "size", "epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={getattr(self, name)}")
        for name in ("seed", "synthetic_seed", "split_seed", "overlays"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative. Received: {name}={getattr(self, name)}")
        if self.size % 32:
            raise ValueError(f"size must be a multiple of 32 (U-Net). Received: size={self.size}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={self.strategy!r}")
        if not isinstance(self.hparams, dict):
            raise ValueError(f"hparams must be a mapping. Received: hparams={self.hparams!r}")

    def validate(self) -> "DefectsConfig":
        """All checks, including optimizer, hyperparameters and backbone (imports TensorFlow)."""
        from kerasopt import optimizers
        from kerasopt.defects.model import check_backbone, check_encoder_weights

        self.check_ranges()
        self.optimizer = optimizers.spec(self.optimizer).name
        if optimizers.is_full_batch_driver(self.optimizer):
            raise ValueError(f"optimizer {self.optimizer!r} is a full-batch driver without apply_gradients; the "
                             "defects workload trains mini-batch U-Nets with model.fit and does not support it "
                             "(use it in the style workload)")
        self.hparams = {k: _number_or_text(v) for k, v in self.hparams.items()}
        optimizers.resolve_hparams(self.optimizer, **self.hparams)
        check_backbone(self.backbone)
        check_encoder_weights(self.encoder_weights)
        return self


def _coerce(name: str, value, kind: type, annotation: str):
    """Convert ``value`` to the type of the default (``kind``); ValueError naming ``name``."""
    if value is None and "None" in str(annotation):
        return None
    try:
        if kind is bool:
            return _boolean(value)
        if kind is int:
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if kind is float:
            return float(value)
        if kind is dict:
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): _number_or_text(v) for k, v in value.items()}
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name!r} must be {'a mapping' if kind is dict else kind.__name__}. "
                         f"Received: {name}={value!r}") from None


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError


def _number_or_text(value):
    """Hyperparameter values: numeric strings (YAML "1e-3") become floats, "true"/"false" booleans."""
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        try:
            return float(value)
        except ValueError:
            return value
    return value
