"""One style-transfer run: inputs -> optimization -> run record (``run``).

The expensive parts that do not depend on the optimizer (VGG with its weights,
the loaded images, the target features) are cached per process and keyed by
(network, weights, content, style, size), so a study of many short runs builds
them once.

Coarse to fine (``scales``, e.g. [256, 512]): `optimize` runs the optimizer at each scale in turn, a fresh
optimizer per scale, each scale starting from the previous scale's result upsampled to its size, plus
the photo's detail the coarser scale could not hold when the run starts from the photo (`carry_up`), the
first from the content photo or seeded noise at its own size. The budget is the run's
total (`kerasopt.style.config.scale_budget`: equal shares at the coarser scales, the rest at the final one);
history rows carry a ``scale`` column (the long side in px of the image whose loss the row reports: losses at
different scales are not comparable) with steps, evaluations and seconds cumulative over the scales. The
final metrics, the result image and ``initial_loss`` are at the final size.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from kerasopt import optimizers
from kerasopt.style import features, images, loop
from kerasopt.style.config import StyleConfig, scale_budget, scale_learning_rate
from kerasopt.style.losses import Objective, Targets, compute_targets

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
        scale_plan: coarse to fine only: what the record says of the scales (the image size at each, the
            budget rule, the learning rate at each where there is one); empty for one scale.
    """

    extractor: features.FeatureExtractor
    content_image: np.ndarray
    style_image: np.ndarray
    targets: Targets
    sources: dict
    scale_plan: dict = dataclasses.field(default_factory=dict)

    def describe(self) -> dict:
        """Record entries: network, weights file and hash, input files, image size (and, coarse to fine,
        the image size at each scale)."""
        height, width = self.content_image.shape[:2]
        described = {**self.extractor.describe(), "content_file": self.sources["content"],
                     "style_file": self.sources["style"], "image_px": [height, width]}
        return {**described, **self.scale_plan}


@functools.lru_cache(maxsize=8)
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
    if not config.scales:
        return _cached_problem(config.network, config.weights, config.content, config.style, config.size, stamps)
    for scale in config.scales[:-1]:  # the images' short sides at the coarse scales, before anything is built
        for source, role in ((config.content, "content image"), (config.style, "style image")):
            height, width = images.image_shape(source, scale, role)
            if min(height, width) < images.MIN_SIDE_PX:
                raise ValueError(f"{role} {source} becomes {width}x{height} px at scale {scale} of --scales "
                                 f"{','.join(map(str, config.scales))}: the network needs at least "
                                 f"{images.MIN_SIDE_PX} px per side")
    problems = [_cached_problem(config.network, config.weights, config.content, config.style, scale, stamps)
                for scale in config.scales]
    plan = {"scale_image_px": [list(problem.content_image.shape[:2]) for problem in problems],
            "scale_budget": f"each coarser scale gets budget // {len(config.scales)} of the iterations and of the "
                            f"evaluations, the last scale what is left; a fresh optimizer at each scale"}
    rate = config.resolved_hparams().get("learning_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        plan["scale_learning_rates"] = [scale_learning_rate(config.optimizer, rate, scale, config.size)
                                        for scale in config.scales]
    return dataclasses.replace(problems[-1], scale_plan=plan)


def scale_problem(config: StyleConfig, scale: int) -> tuple[StyleConfig, Problem]:
    """The settings and the cached `Problem` of ``config`` at the scale of long side ``scale`` px."""
    scaled = dataclasses.replace(config, size=scale, scales=[])
    return scaled, prepare(scaled)


def upsample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The start image of the next scale: ``image`` resized bilinearly to ``height`` x ``width``.

    ``tf.image.resize`` (bilinear, half-pixel centres, no antialiasing), values clipped to [0, 255].

    Args:
        image: float32 (1, h, w, 3) or (h, w, 3), RGB in [0, 255].
        height, width: the size of the next scale's image in px.

    Returns:
        float32 of the same rank, (…, height, width, 3), values in [0, 255].
    """
    resized = tf.image.resize(tf.convert_to_tensor(image, tf.float32), (int(height), int(width)),
                              method="bilinear", antialias=False)
    return np.clip(resized.numpy(), 0.0, 255.0).astype(np.float32)


def carry_up(result: np.ndarray, coarse_start: np.ndarray, fine_start: np.ndarray, keep_detail: bool) -> np.ndarray:
    """The start image of the next scale: the coarser scale's ``result`` upsampled to ``fine_start``'s size
    (`upsample`), plus, with ``keep_detail``, the detail of the start image that the coarser scale could not
    hold: ``fine_start - upsample(coarse_start)``. From the photo that is ``photo + upsample(result - photo)``
    at the two sizes: the change the coarser scale made, on the photo's own fine detail (plain upsampling
    blurs it: measured in docs/performance.md, "Style at 512 px"). From noise there is no detail to keep.

    Args:
        result: float32 (1, h, w, 3) in [0, 255], the coarser scale's final image.
        coarse_start, fine_start: float32 (1, h, w, 3) and (1, H, W, 3): the start images of the two scales
            (the content photo at each size).
        keep_detail: add the start image's lost detail (the run starts from the photo).

    Returns:
        float32 (1, H, W, 3), values in [0, 255].
    """
    height, width = fine_start.shape[1:3]
    carried = upsample(result, height, width)
    if not keep_detail:
        return carried
    detail = fine_start.astype(np.float32) - upsample(coarse_start, height, width)
    return np.clip(carried + detail, 0.0, 255.0).astype(np.float32)


def initial_image(config: StyleConfig, problem: Problem) -> np.ndarray:
    """float32 (1, H, W, 3) in [0, 255]: the content photo or seeded uniform noise."""
    if config.init == "content":
        return problem.content_image[None].copy()
    rng = np.random.default_rng(config.seed)
    return rng.uniform(0.0, 255.0, (1, *problem.content_image.shape)).astype(np.float32)


def optimize(config, hparams, objective, image, record, progress) -> tuple[loop.LoopResult, float | None]:
    """Run the loop of ``config.optimizer``, logging rows; returns the result and the start loss.

    Coarse to fine (``config.scales``): one loop per scale (`_coarse_to_fine`, module docstring), the
    result's iterations, evaluations, seconds and trace seconds summed over the scales, ``image`` (the final
    size's variable) holding the last scale's result; the start loss is that of ``image`` as given (the start
    image at the final size, one uncounted forward pass), so it compares with the final loss.
    """
    budget = config.iterations if config.iterations is not None else config.evaluations
    bar = tqdm(total=budget, desc=config.optimizer, unit="it", disable=not progress, leave=False,
               dynamic_ncols=True)
    sizes = config.scale_sizes
    several = len(sizes) > 1
    start = {}
    offset = {"step": 0, "evaluations": 0, "seconds": 0.0}  # spent by the earlier scales
    current = {"image": image, "scale": config.size}

    def on_row(row):
        if several:
            row = {**row, "step": row["step"] + offset["step"],
                   "evaluations": row["evaluations"] + offset["evaluations"],
                   "seconds": row["seconds"] + offset["seconds"], "scale": current["scale"]}
        record.log(row)
        if row["step"] == 0 and not several:
            start["loss"] = row["loss"]
        bar.set_postfix(loss=f"{row['loss']:.4g}", evals=row["evaluations"], refresh=False)
        bar.update(row["step"] - bar.n)
        return row

    spent = {}  # iteration -> evaluations to reach it (first-order loops log row k after stepping to k + 1)
    within = {}  # budget -> the last iterate within it

    def on_iterate(iteration):
        iteration += offset["step"]
        picture = current["image"]
        if config.snapshot_every and iteration % config.snapshot_every == 0:
            images.save_image(picture.numpy()[0], record.artifacts / f"snapshot_{iteration:05d}.png")
        evaluations = spent.get(iteration, iteration - offset["step"] + offset["evaluations"])
        for budget in config.snapshot_evaluations:
            if evaluations <= budget:
                within[budget] = picture.numpy()[0].copy()

    def on_row_and_spent(row):
        row = on_row(row)
        spent[row["step"]] = row["evaluations"]

    try:
        if several:
            start["loss"] = float(objective(image)[0])  # the start image at the final size (not an evaluation)
            result = _coarse_to_fine(config, hparams, objective, image, record, offset, current,
                                     on_row_and_spent, on_iterate)
        else:
            result = _run_loop(config.optimizer, hparams, objective, image, config.iterations, config.evaluations,
                               on_row_and_spent, on_iterate)
        for budget in config.snapshot_evaluations:
            picture = within.get(budget, image.numpy()[0] if budget >= result.evaluations else None)
            if picture is not None:
                images.save_image(picture, record.artifacts / budget_image(budget))
        return result, start.get("loss")
    finally:
        bar.close()


def _run_loop(optimizer_name, hparams, objective, image, iterations, evaluations, on_row, on_iterate):
    """One optimization of ``image`` by a fresh optimizer within the given budgets (a driver or first-order)."""
    if optimizers.is_full_batch_driver(optimizer_name):
        optimizer = optimizers.build(optimizer_name, hparams | {"max_iterations": iterations,
                                                                "max_evaluations": evaluations})
        return loop.run_driver(objective, image, optimizer, on_row, on_iterate)
    optimizer = optimizers.build(optimizer_name, hparams)
    return loop.run_first_order(objective, image, optimizer, loop.step_budget(iterations, evaluations), on_row,
                                on_iterate)


def scale_hparams(config: StyleConfig, hparams: dict, scale: int) -> dict:
    """The optimizer hyperparameters at the scale of long side ``scale`` px: ``hparams`` (those of the final
    size) with the learning rate carried by `kerasopt.style.config.scale_learning_rate`."""
    rate = hparams.get("learning_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        return {**hparams, "learning_rate": scale_learning_rate(config.optimizer, rate, scale, config.size)}
    return dict(hparams)


def _coarse_to_fine(config, hparams, objective, image, record, offset, current, on_row, on_iterate):
    """The scales of ``config.scales`` in turn (see `optimize`); ``offset`` (what the earlier scales spent)
    and ``current`` (the variable and scale being optimized) are updated for the row and iterate callbacks.
    A scale that does not complete (diverged) ends the run: ``image`` then holds its last finite iterate
    carried to the final size (`carry_up`)."""
    sizes = config.scale_sizes
    keep_detail = config.init == "content"
    final_start = image.numpy()  # the start image at the final size (the photo, or noise)
    results = []
    variable = previous_start = None
    for index, scale in enumerate(sizes):
        final = index == len(sizes) - 1
        began = time.perf_counter()
        if final:
            scale_objective, own_start = objective, final_start
        else:
            scaled, problem = scale_problem(config, scale)
            scale_objective = Objective(problem.extractor, problem.targets, config.content_weight,
                                        config.style_weight, config.tv_weight)
            own_start = initial_image(scaled, problem)  # the photo (or noise) at this scale's size
        if index == 0:
            start_image = own_start
        else:
            start_image = carry_up(variable.numpy(), previous_start, own_start, keep_detail)
            offset["seconds"] += time.perf_counter() - began  # the upsampling counts as optimization time
        previous_start = own_start
        if final:
            image.assign(start_image)
            variable = image
        else:
            variable = tf.Variable(start_image, trainable=True, name=f"image_{scale}px")
        current["image"], current["scale"] = variable, scale
        iterations = scale_budget(config.iterations, offset["step"], index, len(sizes))
        evaluations = scale_budget(config.evaluations, offset["evaluations"], index, len(sizes))
        result = _run_loop(config.optimizer, scale_hparams(config, hparams, scale), scale_objective, variable,
                           iterations, evaluations, on_row, on_iterate)
        results.append(result)
        if final:
            return _combined(results, sizes, offset["seconds"] + result.seconds)
        images.save_image(variable.numpy()[0], record.artifacts / scale_image(scale))
        offset["step"] += result.iterations
        offset["evaluations"] += result.evaluations
        offset["seconds"] += result.seconds
        if result.status != "completed":
            image.assign(carry_up(variable.numpy(), previous_start, final_start, keep_detail))
            return _combined(results, sizes, offset["seconds"])
    raise AssertionError("unreachable: the last scale returns")


def scale_image(scale: int) -> str:
    """The artifact holding the result of a coarser scale (coarse to fine), at its own size."""
    return f"scale_{scale}px.png"


def _combined(results: list, sizes: list, seconds: float) -> loop.LoopResult:
    """One result for the scales' ``results``: counts summed, ``seconds`` (all scales', upsampling included),
    the last scale's loss, status and message (naming the scale)."""
    last = results[-1]
    summed = {name: sum(getattr(r, name) for r in results)
              for name in ("iterations", "evaluations", "trace_seconds", "gradient_evaluations",
                           "hessian_vector_products") if hasattr(last, name)}
    scale = sizes[len(results) - 1]
    return dataclasses.replace(last, **summed, seconds=seconds,
                               message=f"{last.message} (at scale {scale} px, {len(results)} of {len(sizes)})")


def budget_image(budget: int) -> str:
    """The artifact holding the image after ``budget`` evaluations (`StyleConfig.snapshot_evaluations`)."""
    return f"at_{budget}_evaluations.png"
