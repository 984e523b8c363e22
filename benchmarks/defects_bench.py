"""Overhead of kerasopt's defects input pipeline and callbacks against a bare ``model.fit``.

In one process, two identical U-Nets (same seed) train on the same synthetic
training split:

- **kerasopt**: ``make_dataset(..., training=True)`` (decode, resize, cache,
  seeded shuffle, flip/rot90 augmentation, batch, prefetch) with the run's
  per-epoch recorder and ``TerminateOnNaN``;
- **bare**: ``model.fit(x, y, batch_size, shuffle=True)`` on in-memory tensors.

Each model first trains one untimed epoch (tracing), then they alternate
``--repeats`` timed epochs; the ratio of the medians is printed (target <= 1.05).

    python benchmarks/defects_bench.py [--n 96 --size 64 --batch-size 8 --backbone resnet18 --repeats 3]
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
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras

    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.data import load_arrays, load_splits, make_dataset
    from kerasopt.defects.synth import generate
    from kerasopt.defects.train import EpochRecorder, build_model
    from kerasopt.records import RunRecord
    from kerasopt.seeding import set_seed

    work = Path(tempfile.mkdtemp(prefix="defects_bench_"))
    generate(work / "data", n=args.n, size=args.size, seed=0)
    splits = load_splits(work / "data")
    config = DefectsConfig(optimizer="adam", backbone=args.backbone, size=args.size, batch_size=args.batch_size)

    def fresh_model():
        set_seed(0)
        return build_model(config)

    pipeline_model, bare_model = fresh_model(), fresh_model()
    dataset = make_dataset(splits.train, args.size, args.batch_size, training=True, seed=0)
    images, masks = load_arrays(splits.train, args.size)
    images, masks = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(masks)

    with RunRecord(work / "run", config.to_dict()) as record:
        callbacks = [EpochRecorder(record), keras.callbacks.TerminateOnNaN()]

        def pipeline_epoch():
            pipeline_model.fit(dataset, epochs=1, callbacks=callbacks, shuffle=False, verbose=0)

        def bare_epoch():
            bare_model.fit(images, masks, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)

        pipeline_epoch(), bare_epoch()  # tracing, untimed
        times = {"kerasopt": [], "bare": []}
        for _ in range(args.repeats):
            for name, epoch in (("kerasopt", pipeline_epoch), ("bare", bare_epoch)):
                start = time.perf_counter()
                epoch()
                times[name].append(time.perf_counter() - start)
        record.finish("completed")
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{len(splits.train)} training images, {args.size} px, batch {args.batch_size}, {args.backbone}")
    for name, values in times.items():
        print(f"  {name:<9} epoch seconds: {', '.join(f'{v:.2f}' for v in values)} (median {medians[name]:.2f})")
    print(f"ratio kerasopt / bare = {medians['kerasopt'] / medians['bare']:.3f} (target <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
