"""``python -m kerasopt.defects``: train the U-Net under one or several optimizers.

Without ``--data`` the synthetic air-filter set is generated into
``data/synthetic`` first (as ``make train-defects`` does). Rerunning the same
command with the same ``--out`` after an interruption resumes each unfinished
run from its last completed epoch. ``python -m kerasopt.defects predict ...``
applies a saved model to images (see `kerasopt.defects.predict`).

Each optimizer's run goes to ``OUT/<optimizer>/`` (a run record), the
comparison (``comparison.md``, ``curves.png``) to ``OUT`` (default
``runs/defects/<YYYYmmdd-HHMMSS>``), updated after every run. All settings
and the whole data set are checked before the first run. Every optimizer
starts from the same initial weights and sees the same data order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasopt.cli import ArgumentParser, add_training_arguments, output_dir, parse_optimizer_list, positive_float, \
    positive_int, quiet_tensorflow, run_cli, run_comparison, seed_type, training_hparams, training_settings


def parse_args(argv=None) -> argparse.Namespace:
    from kerasopt.defects.config import PRECISIONS, DefectsConfig

    defaults = DefectsConfig()
    parser = ArgumentParser(prog="python -m kerasopt.defects", description="Train the U-Net of the defect-segmentation task under one or several optimizers.",
                            epilog="python -m kerasopt.defects predict --model RUN/artifacts/best.keras IMAGES... "
                                   "--out DIR: apply a saved model to images (predict --help)")
    parser.add_argument("--optimizer", default="adam",
                        help="registry name(s), comma-separated, or 'all' (every mini-batch optimizer; "
                             "no full-batch driver)")
    parser.add_argument("--lr", type=positive_float,
                        help="learning rate for every optimizer (default: registry)")
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs, help="training epochs")
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size, help="images per step")
    parser.add_argument("--backbone", default=defaults.backbone, help="U-Net encoder (a segmentation_models name)")
    parser.add_argument("--encoder-weights", default=None, help="none (default), imagenet, or an .h5 file")
    parser.add_argument("--size", type=positive_int, default=defaults.size, help="input px, multiple of 32")
    parser.add_argument("--data", default=None, help="images/+masks/ folder or MVTec category folder "
                        f"(default: the synthetic set in {defaults.data}, generated if missing)")
    parser.add_argument("--seed", type=seed_type, default=defaults.seed,
                        help="random seed (initial weights, data order, augmentation)")
    parser.add_argument("--out", help="output folder (default: runs/defects/<timestamp>); the same command again "
                                      "with the same --out resumes its interrupted runs")
    parser.add_argument("--overwrite", action="store_true", help="empty a non-empty --out first (otherwise refused)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="float32, mixed_float16 (GPUs) or mixed_bfloat16 (CPUs with AVX512-BF16)")
    parser.add_argument("--bn-recalibration", action=argparse.BooleanOptionalAction, default=defaults.bn_recalibration,
                        help="recompute BatchNorm statistics before each evaluation")
    parser.add_argument("--bn-batches", type=positive_int, default=defaults.bn_batches,
                        help="training batches of that pass")
    parser.add_argument("--jit", action="store_true", help="XLA compilation (slower on CPU)")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="mirrored: one run over all visible GPUs")
    add_training_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Entry point (also of ``kerasopt defects``): bad input prints one ``error:`` line, exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["predict"]:
        from kerasopt.defects.predict import main as predict_main

        return predict_main(argv[1:])
    return run_cli(_main, argv)


def _main(argv=None) -> int:
    quiet_tensorflow()
    args = parse_args(argv)
    from kerasopt.defects import TASK, synth
    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.data import load_splits
    from kerasopt.defects.model import check_memory

    synthetic = args.data is None
    data = DefectsConfig.data if synthetic else args.data
    configs = [DefectsConfig(
        optimizer=name, hparams=training_hparams(args), seed=args.seed, **training_settings(args),
        data=data, synthetic=synthetic, backbone=args.backbone, encoder_weights=args.encoder_weights,
        size=args.size, epochs=args.epochs, batch_size=args.batch_size,
        precision=args.precision, jit=args.jit,
        strategy=args.strategy, bn_recalibration=args.bn_recalibration,
        bn_batches=args.bn_batches).validate()
        for name in parse_optimizer_list(args.optimizer, TASK.supported)]
    check_memory(args.size, args.batch_size)
    if synthetic:
        ready = (Path(data) / synth.MANIFEST).is_file()
        first = configs[0]
        print(f"no --data given: using the synthetic air-filter set in {data}" + (
            "" if ready else f" (generating {first.synthetic_n} images of {first.synthetic_size} px now)"), flush=True)
    TASK.prepare(configs[0])  # synthetic data generated, encoder weights checked: before any output
    splits = load_splits(data)
    print(f"data {data} ({splits.layout}): " + ", ".join(f"{n} {len(splits[n])}" for n in ("train", "val", "test")))
    run_comparison(TASK, configs, output_dir(args.out, args.overwrite, configs, TASK.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
