"""float32 vs ``mixed_bfloat16`` for the style problem: seconds per step and the final loss.

The VGG feature network is rebuilt under Keras' ``mixed_bfloat16`` policy (convolutions in bfloat16,
weights in float32) and its features are cast back to float32 before the loss (Gram matrices, content
and TV terms in float32); the targets are the float32 network's. In one process:

- seconds per value-and-gradient + Adam step (a bare compiled step, as ``style_bench.py``) of each
  precision, ``--rounds`` interleaved rounds of ``--steps`` steps (medians);
- the final loss after ``--evaluations`` evaluations of L-BFGS-B (`lbfgs`) and of Adam (lr 10) from
  the given starts, optimized in each precision and always SCORED with the float32 objective.

    python benchmarks/style_precision.py [--sizes 128] [--seeds 1] [--evaluations 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from style_bench import BOUNDS, bare_step_seconds, setup  # noqa: E402

from kerasopt.optimizers.tf_lbfgs import TFLBFGS  # noqa: E402
from kerasopt.style import features  # noqa: E402
from kerasopt.style.losses import Objective  # noqa: E402


class CastFeatures:
    """A `FeatureExtractor` whose outputs are cast to float32."""

    def __init__(self, extractor):
        self.extractor = extractor

    def __call__(self, image):
        return {name: tf.cast(value, tf.float32) for name, value in self.extractor(image).items()}


def bfloat16_objective(objective: Objective) -> Objective:
    """The same objective (targets, weights) with the feature network computing in bfloat16."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        extractor = features.build_extractor.__wrapped__(objective.extractor.network, None)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    weights = objective.weights.numpy()
    return Objective(CastFeatures(extractor), objective.targets, *map(float, weights))


def final_losses(objective, scorer, start, evaluations: int) -> dict:
    """Float32 loss (``scorer``) of the image after ``evaluations`` of lbfgs and of Adam(10) under ``objective``."""
    image = tf.Variable(start)
    TFLBFGS(max_evaluations=evaluations, bounds=BOUNDS).minimize(lambda: objective(image)[0], [image])
    lbfgs = float(scorer(image)[0])
    image = tf.Variable(start)
    adam = keras.optimizers.Adam(10.0)
    adam.build([image])

    @tf.function
    def step():  # projected Adam, as kerasopt.style.loop.run_first_order
        with tf.GradientTape() as tape:
            loss = objective(image)[0]
        adam.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, *BOUNDS))

    for _ in range(evaluations):
        step()
    return {"lbfgs": lbfgs, "adam": float(scorer(image)[0])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="noise seeds of the final-loss runs")
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    lines = ["| px | float32 s/step | bfloat16 s/step (ratio) | start | lbfgs f32 | lbfgs bf16 (ratio) "
             "| adam f32 | adam bf16 (ratio) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size in args.sizes:
        objective, start = setup(size, "noise", args.seeds[0])
        low = bfloat16_objective(objective)
        times = {"f32": [], "bf16": []}
        for _ in range(args.rounds):
            times["f32"].append(bare_step_seconds(objective, start, args.steps))
            times["bf16"].append(bare_step_seconds(low, start, args.steps))
        f32, bf16 = statistics.median(times["f32"]), statistics.median(times["bf16"])
        print(f"[{time.perf_counter() - started:7.1f} s] {size}px s/step f32 {times['f32']} bf16 {times['bf16']}",
              flush=True)
        for seed in args.seeds:
            objective, start = setup(size, "noise", seed)
            low = bfloat16_objective(objective)
            a, b = final_losses(objective, objective, start, args.evaluations), final_losses(
                low, objective, start, args.evaluations)
            print(f"[{time.perf_counter() - started:7.1f} s] {size}px seed {seed}: f32 {a} bf16 {b}", flush=True)
            lines.append(f"| {size} | {f32:.4f} | {bf16:.4f} ({bf16 / f32:.2f}) | noise seed {seed} | "
                         f"{a['lbfgs']:.4g} | {b['lbfgs']:.4g} ({b['lbfgs'] / a['lbfgs']:.3f}) | {a['adam']:.4g} | "
                         f"{b['adam']:.4g} ({b['adam'] / a['adam']:.3f}) |")
    print(f"Loss after {args.evaluations} evaluations, optimized in each precision, scored in float32:\n")
    print("\n".join(lines))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
