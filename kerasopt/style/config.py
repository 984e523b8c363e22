"""`StyleConfig`: every setting of one style-transfer run, and the pixel-scale optimizer defaults.

The image variable is RGB in [0, 255], so a Keras default learning rate made
for network weights (1e-3) barely moves a pixel. `PIXEL_LEARNING_RATES` holds
our per-optimizer defaults for this problem, found by
``benchmarks/style_lr_search.py`` (results in docs/style.md); an explicit
``hparams["learning_rate"]`` overrides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kerasopt import optimizers
from kerasopt.config import TaskConfig
from kerasopt.style.features import DEFAULT_NETWORK, NETWORKS
from kerasopt.style.images import BUNDLED, MIN_SIDE_PX, PATTERN

NAME = "style"
TARGET = {"metric": "loss", "mode": "min"}
INITS = ("content", "noise")
PIXEL_BOUNDS = (0.0, 255.0)

PIXEL_LEARNING_RATES = {
    "sgd": 1000.0, "momentum": 100.0, "nesterov": 100.0, "adagrad": 100.0, "adadelta": 1000.0, "rmsprop": 3.16,
    "adam": 10.0, "amsgrad": 10.0, "adamax": 10.0, "nadam": 10.0, "nadamw": 1.0, "adamw": 1.0, "lion": 3.16, "lamb": 0.01,
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

MIN_SCALE_PX = MIN_SIDE_PX
"""Smallest long side of a scale of ``scales`` (the images must also keep `MIN_SIDE_PX` on their short side,
checked when the scale's images are loaded)."""


@dataclass
class StyleConfig(TaskConfig):
    """All settings of one Gatys style-transfer run.

    Attributes:
        optimizer: registry name (``kerasopt.optimizers.available()``).
        hparams: optimizer hyperparameter overrides as Keras spells them; a missing
            ``learning_rate`` means `PIXEL_LEARNING_RATES` (with ``hparam_defaults="task"``).
        seed: int in [0, 2**32 - 1] (noise init, TF seeds).
        hparam_defaults: ``"task"`` (the pixel-scale table) or ``"library"`` (Keras' own defaults).
        content: ``tubingen`` (bundled), ``starry-night``, ``pattern`` or an image path.
        style: ``starry-night`` (bundled), ``pattern`` (generated), ``tubingen`` or a path.
        size: long side of the images in px (content and style are resized to it).
        iterations: budget in optimizer iterations (None: no iteration limit).
        evaluations: budget in loss-and-gradient evaluations (None: no limit). At
            least one budget must be set. A first-order step is one evaluation; the
            run is scored at its last accepted iterate within the evaluation budget.
        init: ``content`` (start from the content photo) or ``noise`` (uniform [0, 255]).
        network: feature network (``vgg16-hed`` offline default, ``vgg19``, ``vgg16``).
        weights: optional weights file for the network.
        content_weight, style_weight, tv_weight: non-negative loss weights (our
            defaults: 1, 0.01, 0.001; see kerasopt.style.losses for the normalisations).
        snapshot_every: save ``artifacts/snapshot_<iteration>.png`` every K
            iterations (0: never).
        snapshot_evaluations: evaluation budgets e at which to keep the image too: the last
            iterate within e evaluations, as ``artifacts/at_<e>_evaluations.png`` (a study with
            several ``budgets`` sets them, so its report shows the images at every budget).
            Left out of the resolved settings when empty, so older run ids stay valid.
        scales: coarse to fine: the long sides in px of the successive optimizations, strictly increasing,
            the last equal to ``size`` (e.g. ``[256, 512]``); ``[]`` (or ``[size]``): one scale. Each scale
            starts from the previous scale's result upsampled (`kerasopt.style.workload.carry_up`: from the
            photo, the upsampled change on the photo's own fine detail), the first
            from the content photo or noise at its own size. The run's budget is the total over the scales
            (`scale_budget`); a gradient-scaled optimizer's rate is carried by `scale_learning_rate`. Left out
            of the resolved settings at ``[]``, so older run ids stay valid.
    """

    KIND: ClassVar[str] = "style"
    LATER_SETTINGS: ClassVar[dict] = {**TaskConfig.LATER_SETTINGS, "scales": []}

    optimizer: str = "lbfgs"
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
    snapshot_evaluations: list = field(default_factory=list)
    scales: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """Every setting; ``snapshot_evaluations`` only when set (it came after published run ids)."""
        data = super().to_dict()
        if not data["snapshot_evaluations"]:
            del data["snapshot_evaluations"]
        return data

    def check(self) -> None:
        """Style-specific checks; ValueError naming the setting ("Received: x=...")."""
        self.require_constant_schedule("style transfer compares optimizers at a constant rate on a fixed "
                                       "evaluation budget")
        if optimizers.is_full_batch_driver(self.optimizer):
            clashing = sorted(set(self.hparams) & set(_LBFGS_BUDGET_KEYS))
            if clashing:
                raise ValueError(f"set the lbfgs budget with iterations/evaluations, not hparams {clashing}")
        if self.size < 1:
            raise ValueError(f"size must be a positive number of px. Received: size={self.size}")
        if not isinstance(self.snapshot_evaluations, list) or any(
                isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in self.snapshot_evaluations):
            raise ValueError(f"snapshot_evaluations must be a list of positive integers. "
                             f"Received: snapshot_evaluations={self.snapshot_evaluations!r}")
        self._check_scales()
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0. Received: snapshot_every={self.snapshot_every}")
        if self.iterations is None and self.evaluations is None:
            raise ValueError("give a budget: iterations and/or evaluations. Received: both None")
        for name in ("iterations", "evaluations"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1. Received: {name}={value}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={getattr(self, name)!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}. Received: init={self.init!r}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}. Received: network={self.network!r}")
        for name in ("content", "style"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be an image path or one of {', '.join([*BUNDLED, PATTERN])}. "
                                 f"Received: {name}={getattr(self, name)!r}")

    def _check_scales(self) -> None:
        """Normalise ``scales`` (a ``"256,512"`` string -> [256, 512]; ``[size]`` -> ``[]``) and check it."""
        scales = self.scales
        if isinstance(scales, str):
            try:
                scales = [int(part) for part in scales.replace(" ", "").split(",") if part]
            except ValueError:
                raise ValueError(f"scales must be long sides in px, e.g. 256,512. Received: scales={self.scales!r}") \
                    from None
        if not isinstance(scales, (list, tuple)) or any(
                isinstance(s, bool) or not isinstance(s, int) for s in scales):
            raise ValueError(f"scales must be a list of long sides in px, e.g. [256, 512]. "
                             f"Received: scales={self.scales!r}")
        scales = [int(s) for s in scales]
        if scales == [self.size]:
            scales = []
        self.scales = scales
        if not scales:
            return
        if any(s < MIN_SCALE_PX for s in scales):
            raise ValueError(f"every scale must be at least {MIN_SCALE_PX} px. Received: scales={scales}")
        if any(b <= a for a, b in zip(scales, scales[1:])):
            raise ValueError(f"scales must be strictly increasing. Received: scales={scales}")
        if scales[-1] != self.size:
            raise ValueError(f"the last scale must equal size ({self.size}). Received: scales={scales}")
        for name in ("iterations", "evaluations"):
            value = getattr(self, name)
            if value is not None and value < len(scales):
                raise ValueError(f"{name} must be at least the number of scales ({len(scales)}): the budget is "
                                 f"split over them. Received: {name}={value}")

    @property
    def scale_sizes(self) -> list[int]:
        """The long sides of the successive optimizations: ``scales``, or ``[size]`` for one scale."""
        return list(self.scales) or [self.size]

    def task_hparams(self) -> dict:
        """The pixel-scale defaults: `PIXEL_LEARNING_RATES` scaled to ``size`` (registry defaults otherwise)."""
        defaults = super().task_hparams()
        if "learning_rate" in defaults:
            defaults["learning_rate"] = default_learning_rate(self.optimizer, self.size)
        return defaults

    def optimizer_hparams(self) -> dict:
        """Passed to ``optimizers.build``: the chosen defaults < ``hparams``; for a full-batch
        driver also its budget and the pixel bounds."""
        hparams = super().optimizer_hparams()
        if optimizers.is_full_batch_driver(self.optimizer):
            hparams |= {"max_iterations": self.iterations, "max_evaluations": self.evaluations,
                        "bounds": PIXEL_BOUNDS}
        return hparams


def default_learning_rate(optimizer: str, size: int) -> float:
    """Pixel-scale default rate of a first-order ``optimizer`` at long side ``size`` px."""
    rate = PIXEL_LEARNING_RATES[optimizer]
    if optimizer in GRADIENT_SCALED:
        rate *= (size / REFERENCE_SIZE) ** 2
    return float(f"{rate:.4g}")


def scale_budget(total: int | None, spent: int, index: int, count: int) -> int | None:
    """Budget of scale ``index`` (0-based) of ``count`` when the run's budget is ``total`` and ``spent`` of it
    was used by the earlier scales: each coarser scale gets an equal share ``total // count``, the final
    scale what is left (at least 1). None (no limit) stays None.
    """
    if total is None:
        return None
    if index < count - 1:
        return max(1, total // count)
    return max(1, total - spent)


def scale_learning_rate(optimizer: str, rate: float, scale: int, size: int) -> float:
    """The learning rate at a scale of long side ``scale`` px of a run whose rate at its final ``size`` is
    ``rate``: the rule of the default table (`GRADIENT_SCALED` optimizers' steps are proportional to the
    gradient, which scales as 1/pixels: ``rate * (scale / size) ** 2``; the others keep ``rate``)."""
    if optimizer in GRADIENT_SCALED:
        return float(rate) * (scale / size) ** 2
    return float(rate)
