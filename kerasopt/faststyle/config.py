"""`FastStyleConfig`: every setting of one fast style-transfer training run.

Coercion and the shared checks (optimizer name and hyperparameters, seed
range, ``hparam_defaults``) come from `kerasopt.config.TaskConfig`; `check`
adds the task's own. Importing this module does not import TensorFlow;
building a config validates it and loads the optimizer registry (Keras).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kerasopt.config import TaskConfig

NAME = "faststyle"
TARGET = {"metric": "val_loss", "mode": "min"}
DEFAULT_NETWORK = "vgg16-hed"  # = kerasopt.style.features.DEFAULT_NETWORK (that module imports TensorFlow)
NETWORKS = ("vgg16-hed", "vgg19", "vgg16")
MIN_SIZE_PX = 16

NETWORK_LEARNING_RATES = {"sgd": 1e-6, "momentum": 1e-7, "nesterov": 1e-7}
"""kerasopt's default ``learning_rate`` for this task where the registry's does not fit it.

The perceptual loss starts near 1e4 (weights 1, 0.01, 0.001), so raw gradients are large: plain SGD
at its registry rate 1e-2, and down to 1e-5, saturates the network into a constant image, while 1e-6
trains (the probe in docs/faststyle.md). Momentum and Nesterov (0.9) take about 10x larger steps at
the same rate, hence 1e-7. Every optimizer that normalises the gradient (the Adam family, RMSprop,
Adagrad, Adadelta, Rprop, ...) is insensitive to the loss scale and keeps its registry rate (Adam's 1e-3
is Johnson et al.'s). A study's bracketing grid is centred on these rates."""


@dataclass
class FastStyleConfig(TaskConfig):
    """All settings of one fast style-transfer run (a transformation network trained on photos).

    Attributes:
        optimizer: registry name of a mini-batch optimizer (``optimizers.mini_batch()``; no full-batch driver).
        hparams: optimizer hyperparameter overrides as Keras spells them; empty = registry
            defaults (adam: learning_rate 1e-3, as Johnson et al.).
        seed: int in [0, 2**32 - 1]; fixes initial weights and the crops of every batch.
        hparam_defaults: ``"task"`` (the registry defaults with `NETWORK_LEARNING_RATES`)
            or ``"library"`` (Keras' own defaults).
        style: ``starry-night`` (bundled), ``pattern`` (generated) or an image path.
        style_size: long side of the style image in px (None: ``size``).
        size: side of the square training crops and validation photos in px (multiple of 4, >= 16).
        steps: optimizer steps (mini-batches).
        batch_size: photos per step.
        data: photo folder (see kerasopt.faststyle.data); None = the offline default corpus.
        val_photos: held-out photos of a folder without ``train/``/``val/`` subfolders.
        content_weight, style_weight, tv_weight: non-negative weights of the perceptual loss
            (normalisations as kerasopt.style.losses).
        eval_every: validation loss every K steps (and at the first and last step).
        log_every: a training-loss row in history.csv every K steps.
        max_seconds: stop training once this many training seconds have passed, before
            ``steps`` (None: no time limit; benchmarks use it, studies should not: the step
            count then depends on the machine).
        width: channel multiplier of the network (1.0 = Johnson et al.; 0.25 for tiny tests).
        network: VGG feature network of the loss (``vgg16-hed`` works offline).
        weights: optional weights file for the network.
    """

    KIND: ClassVar[str] = "faststyle"

    style: str = "starry-night"
    style_size: int | None = None
    size: int = 128
    steps: int = 1000
    batch_size: int = 4
    data: str | None = None
    val_photos: int = 4
    content_weight: float = 1.0
    style_weight: float = 0.01
    tv_weight: float = 0.001
    eval_every: int = 100
    log_every: int = 10
    max_seconds: float | None = None
    width: float = 1.0
    network: str = DEFAULT_NETWORK
    weights: str | None = None

    def task_hparams(self) -> dict:
        """The registry defaults of ``optimizer`` with this task's `NETWORK_LEARNING_RATES`."""
        defaults = super().task_hparams()
        if self.optimizer in NETWORK_LEARNING_RATES:
            defaults["learning_rate"] = NETWORK_LEARNING_RATES[self.optimizer]
        return defaults

    def check(self) -> None:
        """Task-specific checks; ValueError naming the setting ("Received: x=...")."""
        self.require_mini_batch_optimizer()
        if self.size < MIN_SIZE_PX or self.size % 4:
            raise ValueError(f"size must be a multiple of 4 and at least 16 px. Received: size={self.size}")
        if self.style_size is not None and self.style_size < MIN_SIZE_PX:
            raise ValueError(f"style_size must be at least 16 px. Received: style_size={self.style_size}")
        self.require_at_least(1, "steps", "batch_size", "eval_every", "log_every", "val_photos")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0. Received: {name}={getattr(self, name)!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be a positive number or None. Received: max_seconds={self.max_seconds!r}")
        if not self.width > 0:
            raise ValueError(f"width must be positive. Received: width={self.width}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}. Received: network={self.network!r}")
        for name in ("style", "data", "weights"):
            if getattr(self, name) == "":
                raise ValueError(f"{name} must not be empty. Received: {name}=''")

