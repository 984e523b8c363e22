"""Quality check of the fast style-transfer task: does a short CPU training run transfer the style?

Trains Johnson et al.'s transformation network with the default optimizer
(adam, registry defaults) at 128 px on the offline default photo corpus for at
most ``--minutes`` of wall-clock time (training is cut at that budget minus
the set-up and saving time), then compares, for every held-out validation photo,
the Gatys style loss (against the style image) of the stylized photo with that
of the photo itself. It prints the ratios and exits with 1 unless every ratio is
below ``--max-ratio``. Look at ``OUT/adam/artifacts/grid.png`` too.

    .venv/bin/python benchmarks/faststyle_train.py --out runs/faststyle_bench

Numbers measured with it are in docs/faststyle.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

SETUP_ALLOWANCE_SECONDS = 75.0
"""Wall seconds kept for start-up, tracing, validation and saving inside ``--minutes``."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of the whole run")
    parser.add_argument("--size", type=int, default=128, help="training crop side in px")
    parser.add_argument("--batch-size", type=int, default=2, help="photos per step")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier of the network")
    parser.add_argument("--style", default="starry-night", help="style image")
    parser.add_argument("--max-ratio", type=float, default=0.5,
                        help="largest accepted style loss of a stylized photo / style loss of the photo")
    parser.add_argument("--out", default="runs/faststyle_bench", help="output folder")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    import tensorflow as tf

    from kerasopt.faststyle import FastStyleConfig, run
    from kerasopt.faststyle.losses import PerceptualLoss
    from kerasopt.faststyle.model import load_transformer
    from kerasopt.faststyle.train import prepare

    budget = max(30.0, args.minutes * 60.0 - SETUP_ALLOWANCE_SECONDS)
    config = FastStyleConfig(optimizer="adam", size=args.size, batch_size=args.batch_size, width=args.width,
                             style=args.style, steps=100_000, max_seconds=budget, eval_every=50)
    run_dir = Path(args.out) / "adam"
    summary = run(config, run_dir, progress=True)
    wall = time.perf_counter() - start
    if summary["status"] != "completed":
        print(f"run {summary['status']}: {summary.get('error')}")
        return 1
    problem = prepare(config)
    loss = PerceptualLoss(problem.extractor, problem.grams, config.content_weight, config.style_weight,
                          config.tv_weight)
    model = load_transformer(run_dir / "artifacts" / "model.keras")
    photos = tf.constant(problem.val_photos)
    photo_style = loss.style_of(photos).numpy()
    stylized_style = loss.style_of(model(photos, training=False)).numpy()
    ratios = stylized_style / photo_style
    metrics = summary["metrics"]
    report = {"steps": metrics["steps"], "train_seconds": round(metrics["train_seconds"], 1),
              "wall_seconds": round(wall, 1), "seconds_per_step": round(metrics["train_seconds"] / metrics["steps"], 3),
              "val_loss": metrics["val_loss"], "initial_val_loss": metrics["initial_val_loss"],
              "val_content_loss": metrics["val_content_loss"],
              "style_ratio_per_photo": {Path(name).stem: round(float(r), 4)
                                        for name, r in zip(problem.split.val, ratios)},
              "grid": str(run_dir / "artifacts" / "grid.png")}
    print(json.dumps(report, indent=2))
    worst = float(ratios.max())
    verdict = "PASS" if worst < args.max_ratio else "FAIL"
    print(f"{verdict}: worst style-loss ratio {worst:.3f} (stylized / photo), limit {args.max_ratio}")
    return 0 if worst < args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
