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

``--sizing EPOCHS``: instead, one full ``kerasopt.defects.run`` (adam, BN
recalibration on) that also measures the TEST Dice after every epoch (with the
recalibrated statistics of that epoch's validation), to size studies: seconds per
epoch (training only, and wall including validation and recalibration) and the
first epoch whose test Dice reaches ``--target`` (default 0.7).

    python benchmarks/defects_bench.py --sizing 40 --n 300 --size 64 [--data DIR --out DIR]

``--curves PNG RUN...``: plot validation Dice and training loss per epoch of finished
run directories (e.g. the same run with and without ``--no-bn-recalibration``).
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
    parser.add_argument("--sizing", type=int, metavar="EPOCHS", help="sizing run of this many epochs (see above)")
    parser.add_argument("--target", type=float, default=0.7)
    parser.add_argument("--data", help="--sizing: existing synthetic folder (default: generate --n images)")
    parser.add_argument("--out", help="--sizing: run directory (default: a temp folder)")
    parser.add_argument("--curves", nargs="+", metavar=("PNG", "RUN"), help="plot runs' curves into PNG")
    args = parser.parse_args(argv)
    if args.curves:
        return curves(args.curves[0], args.curves[1:])
    if args.sizing:
        return sizing(args)

    import keras

    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.data import load_arrays, load_splits, make_dataset
    from kerasopt.defects.synth import generate
    from kerasopt.defects.train import HISTORY_COLUMNS, build_model
    from kerasopt.harness import EpochRecorder
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
        callbacks = [EpochRecorder(record, "val_dice", HISTORY_COLUMNS), keras.callbacks.TerminateOnNaN()]

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


def curves(png: str, run_dirs: list[str]) -> int:
    """Validation Dice and training loss against epoch, one line per run (label: folder names)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasopt.records import read_config, read_history

    figure, (dice_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run_dir in run_dirs:
        history = read_history(run_dir)
        settings = read_config(run_dir)["settings"]
        label = f"{settings['optimizer']}, BN recalibration {'on' if settings.get('bn_recalibration') else 'off'}"
        epochs = [row["epoch"] for row in history]
        dice_ax.plot(epochs, [row["val_dice"] for row in history], marker="o", markersize=3, label=label)
        loss_ax.plot(epochs, [row["loss"] for row in history], marker="o", markersize=3, label=label)
        print(label, "val_dice:", " ".join(f"{row['val_dice']:.3f}" for row in history))
    dice_ax.set(xlabel="epoch", ylabel="validation Dice (threshold 0.5)", ylim=(0, 1))
    loss_ax.set(xlabel="epoch", ylabel="training loss", yscale="log")
    for ax in (dice_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png, dpi=90)
    plt.close(figure)
    print(f"wrote {png}")
    return 0


def sizing(args) -> int:
    """One adam run of ``args.sizing`` epochs with the test Dice measured after every epoch."""
    import keras
    import numpy as np

    from kerasopt.defects import DefectsConfig
    from kerasopt.defects.data import load_splits, make_dataset
    from kerasopt.defects.metrics import pixel_metrics
    from kerasopt.defects.run import run
    from kerasopt.defects.synth import generate
    from kerasopt.records import read_history

    work = Path(tempfile.mkdtemp(prefix="defects_sizing_"))
    data = Path(args.data) if args.data else work / "data"
    if not (data / "manifest.json").is_file():
        generate(data, n=args.n, size=args.size, seed=0)
    test = make_dataset(load_splits(data).test, args.size, args.batch_size)
    rows = []

    class TestDice(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            probabilities = np.concatenate([np.asarray(self.model(x, training=False)) for x, _ in test])
            masks = np.concatenate([y.numpy() for _, y in test])
            rows.append((epoch + 1, pixel_metrics(probabilities, masks)["dice"], time.perf_counter() - self.start))

    config = DefectsConfig(optimizer="adam", data=str(data), size=args.size, epochs=args.sizing,
                           batch_size=args.batch_size, backbone=args.backbone, overlays=0)
    out = Path(args.out or work / "run")
    start = time.perf_counter()
    summary = run(config, out, progress=True, callbacks=[TestDice()])
    wall = time.perf_counter() - start
    history = read_history(out)
    train_seconds = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + history, history)]
    reached = next((epoch for epoch, dice, _ in rows if dice >= args.target), None)
    print("epoch  test_dice  val_dice  train_s  epoch_wall_s")
    for (epoch, dice, seconds), row, train in zip(rows, history, train_seconds):
        print(f"{epoch:5d}  {dice:9.3f}  {row['val_dice']:8.3f}  {train:7.1f}  {seconds:12.1f}")
    print(f"{args.n} images ({args.size} px), batch {args.batch_size}, {args.backbone}: status {summary['status']}, "
          f"final test Dice {summary['metrics'].get('test_dice')}, run wall {wall:.0f} s "
          f"(trace {summary['trace_seconds']:.0f} s); median epoch: {np.median(train_seconds):.1f} s training, "
          f"{np.median([r[2] for r in rows]):.1f} s wall; test Dice >= {args.target} first at epoch {reached}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
