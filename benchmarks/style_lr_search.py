"""Learning-rate search for the style-transfer defaults (``PIXEL_LEARNING_RATES``).

For every first-order optimizer of the registry: run the default style problem
(Tübingen + Starry Night, default loss weights, content init, seed 0) at a
small size for a fixed budget, over a decade grid of learning rates chosen per
optimizer family; extend the grid by one decade when the best rate lies on its
edge; then try the best rate times 10^(1/2) towards its better neighbour. The rate with the lowest final
total loss wins (diverged or failed runs count as +inf).

Usage (about 10 minutes on 2 idle CPU cores; 30 on busy ones)::

    python benchmarks/style_lr_search.py [--size 128] [--iterations 50] [--out runs/style_lr_search]
        [--optimizer adam,sgd]

Prints a Markdown table (copied into docs/style.md) and writes it to
``OUT/lr_search.md``; every run keeps its run record under ``OUT/<optimizer>/lr_<rate>/``
(an existing complete record is reused, so an interrupted search resumes).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from kerasopt.cli import quiet_tensorflow

FAMILY_GRIDS = {  # decade exponents searched first, by how the optimizer scales its step
    "gradient-scaled": range(1, 4),         # step = lr * gradient (pixel gradients ~1e-2): sgd, momentum, nesterov
    "accumulator": range(0, 3),             # step ~ lr * g / sqrt(accumulator): adagrad, adadelta, ftrl
    "normalized": range(-1, 2),             # step ~ lr pixels: adam family, rmsprop, lion, rprop
    "relative": range(-3, 0),               # step ~ lr * |image|: lamb, adafactor
}
FAMILY = {"sgd": "gradient-scaled", "momentum": "gradient-scaled", "nesterov": "gradient-scaled",
          "adagrad": "accumulator", "adadelta": "accumulator", "ftrl": "accumulator",
          "lamb": "relative", "adafactor": "relative"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="long side in px (default 128)")
    parser.add_argument("--iterations", type=int, default=50, help="budget per run (default 50)")
    parser.add_argument("--out", default="runs/style_lr_search", help="run records and lr_search.md")
    parser.add_argument("--optimizer", default="all", help="comma list or 'all' (first-order ones)")
    return parser.parse_args(argv)


def final_loss(config, run_dir: Path) -> float:
    """Final total loss of one run (resumed from its record when complete); inf unless completed."""
    from kerasopt.records import is_complete, read_summary
    from kerasopt.style import run

    summary = read_summary(run_dir) if is_complete(run_dir) else run(config, run_dir, progress=False)
    loss = summary["metrics"].get("loss") if summary["status"] == "completed" else None
    return float(loss) if loss is not None and math.isfinite(loss) else math.inf


def search_one(name: str, args) -> dict:
    """Grid, edge extension, half-decade refinement for one optimizer; returns its results."""
    from kerasopt.style import StyleConfig

    losses: dict[float, float] = {}

    def trial(rate: float) -> float:
        rate = float(f"{rate:.3g}")
        if rate not in losses:
            config = StyleConfig(optimizer=name, hparams={"learning_rate": rate}, size=args.size,
                                 iterations=args.iterations)
            losses[rate] = final_loss(config, Path(args.out) / name / f"lr_{rate:g}")
            print(f"  {name:<20} lr={rate:<8g} loss={losses[rate]:.5g}", flush=True)
        return losses[rate]

    exponents = list(FAMILY_GRIDS[FAMILY.get(name, "normalized")])
    for exponent in exponents:
        trial(10.0 ** exponent)
    best = min(losses, key=losses.get)
    if math.log10(best) in (exponents[0], exponents[-1]):  # on the edge: one more decade outwards
        trial(best * (10.0 if math.log10(best) == exponents[-1] else 0.1))
        best = min(losses, key=losses.get)
    above, below = losses.get(float(f"{best * 10:.3g}"), math.inf), losses.get(float(f"{best / 10:.3g}"), math.inf)
    trial(best * 10 ** (0.5 if above < below else -0.5))
    best = min(losses, key=losses.get)
    return {"optimizer": name, "best": best, "loss": losses[best], "losses": dict(sorted(losses.items()))}


def markdown(results: list[dict], args) -> str:
    lines = [f"Search: {args.size} px, {args.iterations} iterations, content init, seed 0, default loss weights.",
             "", "| optimizer | best learning_rate | final loss | all tried (lr: loss) |", "| --- | --- | --- | --- |"]
    for row in results:
        tried = ", ".join(f"{rate:g}: {loss:.4g}" for rate, loss in row["losses"].items())
        lines.append(f"| {row['optimizer']} | {row['best']:g} | {row['loss']:.4g} | {tried} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    quiet_tensorflow()
    from kerasopt import optimizers
    from kerasopt.cli import parse_optimizer_list

    args = parse_args(argv)
    names = [n for n in parse_optimizer_list(args.optimizer) if not optimizers.is_full_batch_driver(n)]
    results = [search_one(name, args) for name in names]
    table = markdown(results, args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "lr_search.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
