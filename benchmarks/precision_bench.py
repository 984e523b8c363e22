"""float32 vs mixed precision for the defects U-Net: seconds per training step and (optionally) test Dice.

Speed: in one process, U-Nets of the same seed are built under each ``--precisions``
policy and train on the same in-memory synthetic training split; after one untimed
epoch each (tracing), they alternate ``--repeats`` timed epochs, so machine load
hits all alike. Printed: median seconds per step and the ratio to float32.

Dice (``--runs``): one full `kerasopt.defects.run` per precision (default settings
apart from ``--size``, ``--epochs``, ``--n``), test Dice and training seconds per step
from each run record.

    python benchmarks/precision_bench.py [--size 64 --n 300 --batch-size 8 --repeats 3]
        [--precisions float32,mixed_bfloat16] [--runs --epochs 20 --out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kerasopt.cli import quiet_tensorflow


def main(argv=None) -> int:
    quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n", type=int, default=300, help="synthetic images (70 %% train)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--runs", action="store_true", help="also train full runs and report test Dice")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", help="existing synthetic data folder (default: generate into a temp folder)")
    parser.add_argument("--out", help="run directories for --runs (default: a temp folder)")
    args = parser.parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]

    import keras

    from kerasopt.defects import DefectsConfig, run
    from kerasopt.defects.data import load_arrays, load_splits
    from kerasopt.defects.synth import generate
    from kerasopt.defects.train import build_model
    from kerasopt.seeding import set_seed

    work = Path(tempfile.mkdtemp(prefix="precision_bench_"))
    data = Path(args.data) if args.data else work / "data"
    if not (data / "manifest.json").is_file():
        generate(data, n=args.n, size=args.size, seed=0)
    splits = load_splits(data)
    images, masks = load_arrays(splits.train, args.size)
    steps = -(-len(images) // args.batch_size)

    models = {}
    for precision in precisions:
        set_seed(0)
        models[precision] = build_model(DefectsConfig(optimizer="adam", backbone=args.backbone, size=args.size,
                                                      batch_size=args.batch_size, precision=precision))
    x, y = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(masks)

    def epoch(model):
        model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)

    for model in models.values():
        epoch(model)  # tracing, untimed
    times = {precision: [] for precision in precisions}
    for _ in range(args.repeats):
        for precision, model in models.items():
            start = time.perf_counter()
            epoch(model)
            times[precision].append((time.perf_counter() - start) / steps)
    print(f"{len(images)} training images, {args.size} px, batch {args.batch_size}, {args.backbone}, "
          f"{steps} steps per epoch, {args.repeats} interleaved timed epochs")
    base = statistics.median(times[precisions[0]])
    for precision, values in times.items():
        median = statistics.median(values)
        print(f"  {precision:<15} s/step: {', '.join(f'{v:.3f}' for v in values)} (median {median:.3f}, "
              f"{median / base:.2f}x {precisions[0]})")
    if args.runs:
        out = Path(args.out or work / "runs")
        for precision in precisions:
            config = DefectsConfig(optimizer="adam", data=str(data), size=args.size, epochs=args.epochs,
                                   batch_size=args.batch_size, backbone=args.backbone, precision=precision)
            summary = run(config, out / precision)
            metrics = summary["metrics"]
            print(f"  {precision:<15} run: {summary['status']}, test Dice {metrics.get('test_dice')}, "
                  f"best val Dice {metrics.get('val_dice')}, "
                  f"{metrics['train_seconds'] / max(1, metrics['steps']):.3f} s/step over {metrics['steps']} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
