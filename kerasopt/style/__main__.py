"""``python -m kerasopt.style --optimizer lbfgs``: stylize an image under one or more optimizers.

Each optimizer's run record goes to ``OUT/<optimizer>/`` (result image:
``OUT/<optimizer>/artifacts/result.png``); with several optimizers, all start
from the identical image and ``OUT`` also gets comparison.png, curves.png and
comparison.md. Default ``OUT``: ``runs/style/<YYYYmmdd-HHMMSS>``. An existing
non-empty ``OUT`` is refused unless ``--overwrite`` is given (then it is emptied
first), so one directory never mixes two runs.
"""

from __future__ import annotations

import argparse
import sys

from kerasopt.cli import (ArgumentParser, UsageError, add_determinism_argument, add_loss_weight_arguments, default_output_dir,
                          non_negative_int, parse_optimizer_list, positive_float, positive_int, prepare_output_dir,
                          quiet_tensorflow, run_cli, run_comparison, seed_type)


def build_parser() -> argparse.ArgumentParser:
    from kerasopt.style.config import INITS, StyleConfig
    from kerasopt.style.features import NETWORKS

    d = StyleConfig()
    parser = ArgumentParser(
        prog="python -m kerasopt.style",
        description="Gatys style transfer: optimize the pixels of an image under one or more optimizers.")
    parser.add_argument("--optimizer", default="lbfgs", help="registry name, comma list, or 'all' (every optimizer that applies to pixels: "
                             "all but muon)")
    parser.add_argument("--content", default=d.content, help="content image path, or the bundled 'tubingen'")
    parser.add_argument("--style", default=d.style, help="style image path, 'starry-night' (bundled) or 'pattern' (generated)")
    parser.add_argument("--size", type=positive_int, default=d.size, help="long side of the images in px")
    parser.add_argument("--scales", type=scale_list, default=[], metavar="PX,PX,...",
                        help="coarse to fine: long sides in px of the successive optimizations, increasing, the "
                             "last equal to --size (e.g. 256,512); each scale starts from the previous result "
                             "upsampled (from the photo: on the photo's own fine detail); the budget is the "
                             "total, split equally over the coarser scales with the rest at the last (default: "
                             "one scale at --size)")
    parser.add_argument("--iterations", type=positive_int, default=None,
                        help=f"iteration budget (default: {d.iterations}, or none when only --evaluations is given)")
    parser.add_argument("--evaluations", type=positive_int, default=None,
                        help="budget in loss-and-gradient evaluations; L-BFGS line-search evaluations count (default: none)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="learning rate of every first-order optimizer (default: the per-optimizer "
                             "pixel-scale table, see docs/style.md)")
    parser.add_argument("--init", choices=INITS, default=d.init, help="start image")
    parser.add_argument("--network", choices=NETWORKS, default=d.network,
                        help="feature network; vgg16-hed works offline, vgg19/vgg16 download ImageNet weights")
    parser.add_argument("--weights", default=None, help="local weights file for the network (default: the network's own)")
    add_loss_weight_arguments(parser, d)
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="TensorFlow intra- and inter-op threads (default: TensorFlow's choice)")
    add_determinism_argument(parser)
    parser.add_argument("--seed", type=seed_type, default=d.seed,
                        help="random seed, 0 to 2**32-1")
    parser.add_argument("--out", default=None,
                        help="output directory; must be new or empty unless --overwrite (default: runs/style/<timestamp>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="empty an existing --out before running, deleting the earlier run (default: refuse)")
    parser.add_argument("--snapshot-every", type=non_negative_int, default=0, metavar="K",
                        help="save a snapshot every K iterations (default: 0 = none)")
    return parser


def scale_list(text: str) -> list[int]:
    """argparse type of ``--scales``: comma-separated positive integers (``"256,512"`` -> [256, 512])."""
    try:
        values = [int(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated sizes in px such as 256,512, got {text}") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"must be positive sizes in px, got {text}")
    return values


def configs_from_args(args) -> list:
    """One validated `StyleConfig` per requested optimizer (UsageError/ValueError on bad input)."""
    from kerasopt import optimizers
    from kerasopt.style import TASK
    from kerasopt.style.config import StyleConfig

    names = parse_optimizer_list(args.optimizer, TASK.supported)
    if args.lr is not None and all(optimizers.is_full_batch_driver(n) for n in names):
        raise UsageError(f"--lr does not apply to {', '.join(names)} (no learning rate)")
    iterations = args.iterations if (args.iterations or args.evaluations) else StyleConfig().iterations
    return [StyleConfig(
        optimizer=name, seed=args.seed, content=args.content, style=args.style, size=args.size,
        iterations=iterations, evaluations=args.evaluations, init=args.init, network=args.network,
        weights=args.weights, content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, snapshot_every=args.snapshot_every, scales=args.scales, threads=args.threads,
        deterministic=args.deterministic,
        hparams={} if args.lr is None or optimizers.is_full_batch_driver(name) else {"learning_rate": args.lr},
    ) for name in names]


def stylize(argv=None) -> int:
    """Parse ``argv``, run every requested optimizer, write and print the comparison."""
    args = build_parser().parse_args(argv)
    configs = configs_from_args(args)
    from kerasopt.style import TASK
    from kerasopt.seeding import fix_threads
    from kerasopt.style.images import check_memory

    fix_threads(configs[0].threads)  # before TensorFlow runs anything (every config has the same threads)
    check_memory(configs[0].content, configs[0].style, configs[0].size, configs[0].network)
    TASK.prepare(configs[0])  # bad images or weights fail here, before any output
    out = prepare_output_dir(args.out or default_output_dir(TASK.name), overwrite=args.overwrite)
    run_comparison(TASK, configs, out)
    return 0


def main(argv=None) -> int:
    """CLI entry point: bad input -> one ``error: ...`` line and exit code 2."""
    quiet_tensorflow()
    return run_cli(stylize, argv)


if __name__ == "__main__":
    sys.exit(main())
