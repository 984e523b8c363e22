"""``python -m kerasopt.defects``: train the U-Net under one or several optimizers.

Each optimizer's run goes to ``OUT/<optimizer>/`` (a run record), the
comparison (``comparison.md``, ``curves.png``) to ``OUT`` (default
``runs/defects/<YYYYmmdd-HHMMSS>``), updated after every run. All settings
and the whole data set are checked before the first run. Every optimizer
starts from the same initial weights and sees the same data order.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from kerasopt.cli import parse_optimizer_list, positive_float, positive_int, quiet_tensorflow, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    from kerasopt.defects.config import DefectsConfig

    defaults = DefectsConfig()
    parser = argparse.ArgumentParser(prog="python -m kerasopt.defects", description=__doc__.split("\n")[0])
    parser.add_argument("--optimizer", required=True,
                        help="registry name(s), comma-separated, or 'all' (every optimizer except lbfgs)")
    parser.add_argument("--lr", type=positive_float, help="learning rate for every optimizer (default: registry)")
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    parser.add_argument("--backbone", default=defaults.backbone, help=f"default {defaults.backbone}")
    parser.add_argument("--encoder-weights", default=None, help="none (default), imagenet, or an .h5 file")
    parser.add_argument("--size", type=positive_int, default=defaults.size, help="input px, multiple of 32")
    parser.add_argument("--data", default=defaults.data, help="images/+masks/ folder or MVTec category folder")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", help="output folder (default runs/defects/<timestamp>)")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16 (GPUs)")
    parser.add_argument("--jit", action="store_true", help="XLA compilation (slower on CPU)")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="mirrored: one run over all visible GPUs")
    parser.add_argument("--deterministic", action="store_true", help="TF op determinism (slower)")
    return parser.parse_args(argv)


def selected_optimizers(text: str) -> list[str]:
    """Names from ``--optimizer``; ``all`` means the optimizers this task supports (not lbfgs)."""
    from kerasopt.defects.config import supported_optimizers

    if text.strip().lower() == "all":
        return supported_optimizers()
    return parse_optimizer_list(text)


def main(argv=None) -> int:
    """Entry point (also of ``kerasopt defects``): bad input prints one ``error:`` line, exit code 2."""
    return run_cli(_main, argv)


def _main(argv=None) -> int:
    quiet_tensorflow()
    args = parse_args(argv)
    from kerasopt.defects import compare
    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.data import load_splits

    configs = [DefectsConfig(
        optimizer=name, hparams={} if args.lr is None else {"learning_rate": args.lr}, seed=args.seed,
        data=args.data, backbone=args.backbone, encoder_weights=args.encoder_weights, size=args.size,
        epochs=args.epochs, batch_size=args.batch_size, mixed_precision=args.mixed_precision, jit=args.jit,
        strategy=args.strategy, deterministic=args.deterministic).validate()
        for name in selected_optimizers(args.optimizer)]
    splits = load_splits(args.data)
    print(f"data {args.data} ({splits.layout}): " + ", ".join(f"{n} {len(splits[n])}" for n in ("train", "val", "test")))
    out = Path(args.out or Path("runs") / "defects" / _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    run_dirs = compare(configs, out, log=lambda line: print(line, flush=True))
    print_table(run_dirs)
    print(f"runs and comparison in {out} (comparison.md, curves.png)")
    return 0


def print_table(run_dirs: dict) -> None:
    """A short table of test metrics, one line per optimizer."""
    from kerasopt.defects.compare import load_runs

    columns = ("val_dice", "test_dice", "test_iou", "test_precision", "test_recall", "image_ap", "image_auroc")
    print(f"{'optimizer':<20} {'status':<10} " + " ".join(f"{c:>14}" for c in columns))
    for label, run in load_runs(run_dirs).items():
        metrics = run["summary"]["metrics"]
        cells = [metrics.get(c) for c in columns]
        print(f"{label:<20} {run['summary']['status']:<10} "
              + " ".join(f"{c:>14.3f}" if isinstance(c, float) else f"{'-':>14}" for c in cells))


if __name__ == "__main__":
    raise SystemExit(main())
