"""``python -m kerasopt.faststyle train|stylize``: fast style-transfer networks under each optimizer.

``train`` writes one run record per optimizer into ``OUT/<optimizer>/``
(network: ``artifacts/model.keras``, stylized validation photos:
``artifacts/grid.png``); with several optimizers, ``OUT`` also gets
comparison.md and curves.png. Every optimizer starts from the same initial
weights and sees the same batches. ``stylize`` applies a trained network to
images and prints the images/second.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kerasopt.cli import (ArgumentParser, add_loss_weight_arguments, add_training_arguments, output_dir,
                          parse_optimizer_list, positive_float, positive_int, quiet_tensorflow, run_cli,
                          run_comparison, seed_type, training_hparams, training_settings)

PROG = "python -m kerasopt.faststyle"


def build_parser() -> ArgumentParser:
    from kerasopt.faststyle.config import NETWORKS, FastStyleConfig

    d = FastStyleConfig()
    parser = ArgumentParser(prog=PROG, description="Fast style-transfer networks (Johnson et al.) trained under each "
                                                     "optimizer, and stylizing images with one.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,stylize}")
    train = commands.add_parser("train", help="train a transformation network per optimizer",
                                description="Train Johnson et al.'s transformation network under each optimizer.")
    train.add_argument("--optimizer", default=d.optimizer,
                       help="registry name, comma list, or 'all' (every mini-batch optimizer; no full-batch driver)")
    train.add_argument("--style", default=d.style, help="'starry-night' (bundled), 'pattern' (generated) or a path")
    train.add_argument("--size", type=positive_int, default=d.size, help="training crop side in px (multiple of 4)")
    train.add_argument("--steps", type=positive_int, default=d.steps, help="optimizer steps (mini-batches)")
    train.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="photos per step")
    train.add_argument("--data", default=None,
                       help="photo folder (recursive jpg/png, e.g. COCO train2014); (default: the offline corpus)")
    train.add_argument("--seed", type=seed_type, default=d.seed, help="random seed (weights and crops)")
    train.add_argument("--lr", type=positive_float, default=None,
                       help="learning rate of every optimizer (default: the registry's per optimizer)")
    train.add_argument("--width", type=positive_float, default=d.width, help="channel multiplier of the network")
    train.add_argument("--eval-every", type=positive_int, default=d.eval_every, help="validation every K steps")
    add_loss_weight_arguments(train, d)
    train.add_argument("--network", choices=NETWORKS, default=d.network, help="feature network of the loss")
    add_training_arguments(train)
    train.add_argument("--out", default=None, help="output folder (default: runs/faststyle/<timestamp>); the "
                       "same command again with the same --out resumes its interrupted runs")
    train.add_argument("--overwrite", action="store_true", help="empty a non-empty --out first (otherwise refused)")
    stylize = commands.add_parser("stylize", help="stylize images with a trained network",
                                  description="Stylize images with a trained network and print images/second.")
    stylize.add_argument("--model", required=True, help="RUN/artifacts/model.keras written by 'train'")
    stylize.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and/or folders")
    stylize.add_argument("--size", type=positive_int, default=None,
                         help="resize each image to this long side in px first (default: keep its size)")
    stylize.add_argument("--out", required=True, help="output folder")
    return parser


def configs_from_args(args) -> list:
    """One validated `FastStyleConfig` per requested optimizer (ValueError on bad input, e.g. a full-batch driver)."""
    from kerasopt.faststyle import TASK
    from kerasopt.faststyle.config import FastStyleConfig

    return [FastStyleConfig(
        optimizer=name, hparams=training_hparams(args), seed=args.seed, **training_settings(args),
        style=args.style, size=args.size, steps=args.steps, batch_size=args.batch_size, data=args.data,
        eval_every=args.eval_every, width=args.width, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, network=args.network).validate()
        for name in parse_optimizer_list(args.optimizer, TASK.supported)]


def train(args) -> int:
    """Run every requested optimizer and print the comparison table."""
    configs = configs_from_args(args)
    from kerasopt.faststyle import TASK
    from kerasopt.faststyle.train import MODEL_FILE

    split = TASK.prepare(configs[0]).split  # bad photos, style or weights fail here, before any output
    print(f"photos {split.root}: {len(split.train)} training, {len(split.val)} held out", flush=True)
    run_dirs = run_comparison(TASK, configs, output_dir(args.out, args.overwrite, configs, TASK.name))
    print(f"networks: {', '.join(str(run_dir / 'artifacts' / MODEL_FILE) for run_dir in run_dirs.values())}")
    return 0


def stylize(args) -> int:
    """Stylize the inputs and print where they went and the images/second."""
    from kerasopt.faststyle.stylize import stylize_files

    written, speed = stylize_files(args.model, args.inputs, args.out, args.size)
    size = f"long side {args.size} px" if args.size else "original sizes"
    print(f"stylized {speed.images} image(s) ({size}) into {args.out}: {speed.images_per_second:.2f} images/s, "
          f"{speed.pixels / speed.seconds / 1e6:.3f} Mpx/s (warm-up call excluded)")
    return 0


def _main(argv=None) -> int:
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    return stylize(args)


def main(argv=None) -> int:
    """Entry point: bad input prints one ``error: ...`` line and exits with code 2."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
