"""`DefectsConfig`: every setting of one defect-segmentation run.

Coercion and the shared checks come from `kerasopt.config.TaskConfig`; `check`
adds the defect-specific ones (sizes, backbone, encoder weights), so building a
config validates it completely (this imports TensorFlow, for the backbone list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kerasopt.config import TaskConfig

NAME = "defects"
TARGET = {"metric": "val_dice", "mode": "max"}
STRATEGIES = ("default", "mirrored")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass
class DefectsConfig(TaskConfig):
    """Settings of one run (defaults = ``make train-defects``).

    Attributes:
        optimizer: registry name of a mini-batch optimizer (``optimizers.mini_batch()``; no full-batch driver).
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
        precision: Keras dtype policy, one of PRECISIONS: "float32", "mixed_float16" (GPUs),
            "mixed_bfloat16" (CPUs with AVX512-BF16, TPUs, Ampere+ GPUs); the output layer stays float32.
        jit: XLA compilation (``jit_compile``; slower on CPU).
        strategy: "default" or "mirrored" (one run on all visible GPUs).
        deterministic: TF op determinism (slower; bit-identical reruns).
        overlays: number of test images drawn in ``overlays.png``.
        bn_recalibration: before every validation and the test evaluation, recompute the
            BatchNorm moving mean/variance as exact averages over ``bn_batches`` training batches
            (no augmentation, no weight update) with the current weights.
        bn_batches: number of training batches of that pass (>= 1).
        save_model: write ``artifacts/best.keras`` (the best epoch's model) at the end; studies that only
            need the record set it false (the result is the same).
    """

    KIND: ClassVar[str] = "defects"
    LATER_SETTINGS: ClassVar[dict] = {**{name: old for name, old in TaskConfig.LATER_SETTINGS.items()
                                         if name != "deterministic"},  # a defect setting from the start
                                      "save_model": True}

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
    precision: str = "float32"
    jit: bool = False
    strategy: str = "default"
    overlays: int = 4
    bn_recalibration: bool = True
    bn_batches: int = 16
    save_model: bool = True

    def check(self) -> None:
        """Defect-specific checks; ValueError naming the setting."""
        from kerasopt.defects.model import check_backbone, check_encoder_weights

        self.require_mini_batch_optimizer()
        self.require_at_least(1, "synthetic_n", "synthetic_size", "size", "epochs", "batch_size", "bn_batches")
        self.require_at_least(0, "synthetic_seed", "split_seed", "overlays")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.size % 32:
            raise ValueError(f"size must be a multiple of 32 (U-Net). Received: size={self.size}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={self.strategy!r}")
        check_backbone(self.backbone)
        check_encoder_weights(self.encoder_weights)

