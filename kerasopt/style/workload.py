"""One style-transfer run: inputs -> optimization -> run record (``run``).

The expensive parts that do not depend on the optimizer (VGG with its weights,
the loaded images, the target features) are cached per process and keyed by
(network, weights, content, style, size), so a study of many short runs builds
them once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from kerasopt import optimizers
from kerasopt.style import features, images, loop
from kerasopt.style.config import StyleConfig
from kerasopt.style.losses import Targets, compute_targets

RESULT_FILE = "result.png"


@dataclass(frozen=True)
class Problem:
    """Inputs of a run that do not depend on the optimizer.

    Attributes:
        extractor: the `FeatureExtractor`.
        content_image: float32 (H, W, 3), RGB in [0, 255].
        style_image: float32 (H', W', 3), RGB in [0, 255].
        targets: `Targets` (content features, style Grams).
        sources: ``{"content": path or name, "style": path or name}``.
    """

    extractor: features.FeatureExtractor
    content_image: np.ndarray
    style_image: np.ndarray
    targets: Targets
    sources: dict

    def describe(self) -> dict:
        """Record entries: network, weights file and hash, input files, image size."""
        height, width = self.content_image.shape[:2]
        return {**self.extractor.describe(), "content_file": self.sources["content"],
                "style_file": self.sources["style"], "image_px": [height, width]}


@functools.lru_cache(maxsize=4)
def _cached_problem(network: str, weights: str | None, content: str, style: str, size: int, stamps: tuple) -> Problem:
    content_image = images.load_image(content, size, "content image")
    style_image = images.load_image(style, size, "style image")
    extractor = features.build_extractor(network, weights)
    targets = compute_targets(extractor, content_image, style_image)
    sources = {"content": images.describe_source(content), "style": images.describe_source(style)}
    return Problem(extractor, content_image, style_image, targets, sources)


def _modification_stamp(source: str) -> float | None:
    path = Path(images.describe_source(source))
    return path.stat().st_mtime_ns if path.is_file() else None


def prepare(config: StyleConfig) -> Problem:
    """The cached `Problem` of ``config`` (a changed input file is reloaded).

    Raises:
        FileNotFoundError / ValueError: missing, unreadable, corrupt or too small
            images; unusable weights (one line each).
    """
    stamps = (_modification_stamp(config.content), _modification_stamp(config.style))
    return _cached_problem(config.network, config.weights, config.content, config.style, config.size, stamps)


def initial_image(config: StyleConfig, problem: Problem) -> np.ndarray:
    """float32 (1, H, W, 3) in [0, 255]: the content photo or seeded uniform noise."""
    if config.init == "content":
        return problem.content_image[None].copy()
    rng = np.random.default_rng(config.seed)
    return rng.uniform(0.0, 255.0, (1, *problem.content_image.shape)).astype(np.float32)


def optimize(config, hparams, objective, image, record, progress) -> tuple[loop.LoopResult, float | None]:
    """Run the loop of ``config.optimizer``, logging rows; returns the result and the start loss."""
    budget = config.iterations if config.iterations is not None else config.evaluations
    bar = tqdm(total=budget, desc=config.optimizer, unit="it", disable=not progress, leave=False,
               dynamic_ncols=True)
    start = {}

    def on_row(row):
        record.log(row)
        if row["step"] == 0:
            start["loss"] = row["loss"]
        bar.set_postfix(loss=f"{row['loss']:.4g}", evals=row["evaluations"], refresh=False)
        bar.update(row["step"] - bar.n)

    spent = {}  # iteration -> evaluations to reach it (first-order loops log row k after stepping to k + 1)
    within = {}  # budget -> the last iterate within it

    def on_iterate(iteration):
        if config.snapshot_every and iteration % config.snapshot_every == 0:
            images.save_image(image.numpy()[0], record.artifacts / f"snapshot_{iteration:05d}.png")
        evaluations = spent.get(iteration, iteration)
        for budget in config.snapshot_evaluations:
            if evaluations <= budget:
                within[budget] = image.numpy()[0].copy()

    def on_row_and_spent(row):
        spent[row["step"]] = row["evaluations"]
        on_row(row)

    optimizer = optimizers.build(config.optimizer, hparams)
    try:
        if optimizers.is_full_batch_driver(config.optimizer):
            result = loop.run_driver(objective, image, optimizer, on_row_and_spent, on_iterate)
        else:
            steps = loop.step_budget(config.iterations, config.evaluations)
            result = loop.run_first_order(objective, image, optimizer, steps, on_row_and_spent, on_iterate)
        for budget in config.snapshot_evaluations:
            picture = within.get(budget, image.numpy()[0] if budget >= result.evaluations else None)
            if picture is not None:
                images.save_image(picture, record.artifacts / budget_image(budget))
        return result, start.get("loss")
    finally:
        bar.close()


def budget_image(budget: int) -> str:
    """The artifact holding the image after ``budget`` evaluations (`StyleConfig.snapshot_evaluations`)."""
    return f"at_{budget}_evaluations.png"
