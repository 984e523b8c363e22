"""Where a defect run's time goes: one run profiled end to end, its phases in seconds (issue 43).

Runs one defect-segmentation run (the published study's settings by default: 128 px, resnet18, batch 8,
6 epochs, 4 BatchNorm-recalibration batches, no overlays) under cProfile in this process and prints, per
phase, the cumulative seconds of the functions that make it up, beside the run's own record (setup,
wall, training and tracing seconds, the non-training share). Imports and process start are measured
from the process's start (they are paid once per worker, not per run).

    .venv/bin/python benchmarks/defects_overhead.py [--epochs 6] [--bn-batches 4] [--seed 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

PROCESS_START = time.perf_counter()

PHASES = (  # (phase, (file suffix, function name) of the functions whose cumulative time it is)
    ("data: synthetic generation and checks", (("defects/train.py", "prepare_data"),)),
    ("data: read and split the images", (("defects/data.py", "load_splits"),)),
    ("model: build and compile", (("defects/train.py", "build_model"),)),
    ("fit (training, validation, callbacks)", (("keras/src/backend/tensorflow/trainer.py", "fit"),)),
    ("  validation passes (inside fit)", (("keras/src/backend/tensorflow/trainer.py", "evaluate"),)),
    ("  BatchNorm recalibration (inside fit)", (("defects/bn.py", "on_test_begin"),)),
    ("  best checkpoint saves (inside fit)", (("optimizers/evaluation.py", "_save_model"),
                                              ("keras/src/callbacks/model_checkpoint.py", "_save_model"))),
    ("  backup for resume (inside fit)", (("keras/src/callbacks/backup_and_restore.py", "on_epoch_end"),)),
    ("  TensorBoard (inside fit)", (("keras/src/callbacks/tensorboard.py", "on_epoch_end"),
                                    ("keras/src/callbacks/tensorboard.py", "on_train_batch_end"))),
    ("  history rows (inside fit)", (("defects/train.py", "on_epoch_end"),)),
    ("reload the best checkpoint", (("keras/src/models/model.py", "load_weights"),)),
    ("predict validation and test", (("defects/train.py", "predict"),)),
    ("metrics and per-image counts", (("defects/metrics.py", "evaluate_predictions"),
                                      ("defects/metrics.py", "per_image_counts"),
                                      ("defects/metrics.py", "pixel_metrics"))),
    ("pictures (panel, overlays)", (("defects/train.py", "save_prediction_panel"),
                                    ("defects/train.py", "save_overlays"))),
)


def cumulative(stats: pstats.Stats, functions) -> float:
    """Summed cumulative seconds of the profiled functions ``(file suffix, name)`` (0 when never called)."""
    total = 0.0
    for (path, _, name), (_, _, _, cum, _) in stats.stats.items():
        if any(path.endswith(suffix) and name == wanted for suffix, wanted in functions):
            total += cum
    return total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--bn-batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--data", default="data/defects_cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = parser.parse_args(argv)

    from kerasopt.defects import run  # noqa: E402 - imports are part of what is measured

    imported = time.perf_counter() - PROCESS_START
    settings = {"optimizer": args.optimizer, "seed": args.seed, "data": args.data, "synthetic": True,
                "size": 128, "epochs": args.epochs, "batch_size": 8, "bn_batches": args.bn_batches,
                "overlays": 0, "threads": args.threads}
    run_dir = Path(args.out or tempfile.mkdtemp(prefix="defects_overhead_"))
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    summary = run(settings, run_dir)
    profile.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profile)
    print(f"| phase | seconds | share of the run |\n|---|---|---|")
    print(f"| process start and imports (once per worker) | {imported:.1f} | — |")
    for phase, functions in PHASES:
        seconds = cumulative(stats, functions)
        print(f"| {phase} | {seconds:.1f} | {seconds / total:.1%} |")
    print(f"| **the run** (run() called to returned) | {total:.1f} | 100% |")
    record = {key: summary.get(key) for key in ("status", "setup_seconds", "wall_seconds", "train_seconds",
                                                "trace_seconds", "non_training_share")}
    record["test_dice"] = summary["metrics"].get("test_dice")
    record["wall_over_training"] = (total / summary["train_seconds"]) if summary.get("train_seconds") else None
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
