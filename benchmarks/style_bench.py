"""Speed and quality of kerasopt's style-transfer optimizers against bare TensorFlow steps.

In ONE process, per image size, with interleaved rounds (each round times every
method once, so machine load hits all alike):

(a) kerasopt's first-order step (``kerasopt.style.loop.run_first_order``, Adam) vs a bare
    ``tf.function`` value-and-gradient + apply + clip step of the same loss;
(b) seconds per evaluation of scipy ``LBFGS`` and ``TFLBFGS`` vs the bare step (after their first
    iteration, as the bare step is timed after its first call: `per_evaluation`);
(c) Hessian-free: seconds per gradient evaluation and per Hv product (their ratio is the
    ``hvp_cost`` of ``HessianFree``);
(d) time to reach a loss target (the loss the best of Adam at learning rates 3, 10, 30 has after
    ``--target-evals`` steps) for that Adam, scipy L-BFGS-B, the on-device L-BFGS-B, Hessian-free:
    evaluations to the target (independent of machine load), *modelled seconds* = one-off seconds
    (tracing and first-call graph optimisation) + evaluations x seconds per evaluation, both from the
    interleaved rounds of (a)/(b) (so load hits every method alike), and the raw wall seconds of the
    target run itself (reliable only on an idle machine);
(e) ``jit_compile=True`` vs not, for the bare step and the on-device L-BFGS-B;
(f) the 2% check: TFLBFGS vs scipy LBFGS final loss at the same evaluations, content and
    noise init (sizes <= 256); the parity table of issue 20 is `benchmarks/lbfgs_parity.py`.

    python benchmarks/style_bench.py [--sizes 128 256 384] [--rounds 3] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasopt.optimizers.hessian_free import HessianFree, _Compiled  # noqa: E402
from kerasopt.optimizers.lbfgs import LBFGS  # noqa: E402
from kerasopt.optimizers.full_batch import FlatProblem  # noqa: E402
from kerasopt.optimizers.tf_lbfgs import TFLBFGS  # noqa: E402
from kerasopt.style import loop  # noqa: E402
from kerasopt.style.config import StyleConfig  # noqa: E402
from kerasopt.style.losses import Objective  # noqa: E402
from kerasopt.style.workload import initial_image, prepare  # noqa: E402

BOUNDS = (0.0, 255.0)
ADAM_RATES = (3.0, 10.0, 30.0)  # first Adam learning rates of the target; extended past an edge (`bracketed_adam`)
ADAM_EXTENSIONS = 3


def setup(size: int, init: str = "content", seed: int = 0, content: str = "tubingen", style: str = "starry-night"):
    """(objective, start image float32 (1, H, W, 3)) of the Gatys problem at ``size`` px (default: the bundled pair)."""
    config = StyleConfig(optimizer="adam", size=size, init=init, seed=seed, content=content, style=style)
    problem = prepare(config)
    objective = Objective(problem.extractor, problem.targets, config.content_weight, config.style_weight,
                          config.tv_weight)
    return objective, initial_image(config, problem)


def bare_step_seconds(objective, start, steps: int, jit: bool = False) -> float:
    """Seconds per step of a bare compiled Adam(10) step + clip (after one untimed traced call)."""
    image = tf.Variable(start)
    optimizer = keras.optimizers.Adam(10.0)
    optimizer.build([image])

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = objective(image)[0]
        optimizer.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 255.0))
        return loss

    float(step())
    begin = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss)
    return (time.perf_counter() - begin) / steps


def kerasopt_step_seconds(objective, start, steps: int) -> tuple[float, float]:
    """(seconds per step, one-off seconds) of ``loop.run_first_order`` with Adam(10), from its history.

    One-off: tracing plus what the first step costs beyond a later one (graph optimisation).
    """
    rows = []
    image = tf.Variable(start)
    result = loop.run_first_order(objective, image, keras.optimizers.Adam(10.0), steps + 1, rows.append)
    per_step = (rows[-1]["seconds"] - rows[1]["seconds"]) / (len(rows) - 2)
    return per_step, result.trace_seconds + max(0.0, rows[1]["seconds"] - per_step)


def driver_run(driver, objective, start, target: float | None = None):
    """(result, rows of (evaluations, seconds, loss)) of a full-batch driver from ``start``.

    With ``target``, the run stops at the first iteration whose loss is <= target.
    """
    image = tf.Variable(start)
    rows = []

    def record(iteration, evaluations, seconds, loss):
        rows.append((evaluations, seconds, loss))
        return target is not None and loss <= target

    result = driver.minimize(lambda: objective(image)[0], [image], callback=record)
    return result, rows


def per_evaluation(result, rows) -> float:
    """Seconds per evaluation after the first iteration (rows from `driver_run`).

    The first call of a compiled function also runs TensorFlow's graph optimisation (and, with
    XLA, the compilation); like the untimed first call of `bare_step_seconds`, it is left out.
    Falls back to the whole run when it had fewer than two iterations.
    """
    if len(rows) < 2 or rows[-1][0] == rows[0][0]:
        return result.seconds / result.evaluations
    return (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])


def driver_costs(result, rows) -> tuple[float, float]:
    """(seconds per evaluation, one-off seconds) of a driver run: one-off = tracing plus what its first
    iteration cost beyond its evaluations at the later rate."""
    per_eval = per_evaluation(result, rows)
    first = max(0.0, rows[0][1] - rows[0][0] * per_eval) if rows else 0.0
    return per_eval, result.trace_seconds + first


def hf_costs(objective, start, repeats: int) -> tuple[float, float]:
    """(seconds per gradient evaluation, seconds per Hv product) of Hessian-free's compiled functions."""
    image = tf.Variable(start)
    compiled = _Compiled(FlatProblem(lambda: objective(image)[0], [image]), BOUNDS, 10, False)
    x = tf.reshape(tf.constant(start), [-1])
    v = tf.random.stateless_normal(x.shape, [0, 1])
    compiled.evaluate(x)[1].numpy(), compiled.hvp(x, v).numpy()
    begin = time.perf_counter()
    for _ in range(repeats):
        compiled.evaluate(x)[1].numpy()
    evaluation = (time.perf_counter() - begin) / repeats
    begin = time.perf_counter()
    for _ in range(repeats):
        compiled.hvp(x, v).numpy()
    return evaluation, (time.perf_counter() - begin) / repeats


class _Reached(Exception):
    """Raised by `adam_rows`' row callback to end a run at its target."""


def adam_rows(objective, start, rate: float, steps: int, target: float | None = None):
    """Rows (evaluations, seconds, loss) of projected Adam at ``rate`` for ``steps`` steps (or to ``target``)."""
    rows = []
    image = tf.Variable(start)

    def record(row):
        rows.append((row["evaluations"], row["seconds"], row["loss"]))
        if target is not None and row["loss"] <= target:
            raise _Reached

    try:
        loop.run_first_order(objective, image, keras.optimizers.Adam(rate), steps, record)
    except _Reached:
        pass
    return rows


def best_adam_rate(adam: dict) -> float:
    """The learning rate whose rows end at the lowest loss (a run without rows: never)."""
    return min(adam, key=lambda rate: adam[rate][-1][2] if adam[rate] else float("inf"))


def bracketed_adam(run, rates=ADAM_RATES, extensions: int = ADAM_EXTENSIONS) -> dict:
    """``{rate: rows}`` of Adam runs (``run(rate)`` -> rows) at ``rates``, extended past an edge the best lands
    on by the same factor (3x), at most ``extensions`` times, so the target's Adam is tuned, not an edge."""
    adam = {rate: run(rate) for rate in rates}
    factor = rates[-1] / rates[-2]
    for _ in range(extensions):
        best = best_adam_rate(adam)
        if best not in (min(adam), max(adam)):
            break
        new = best * factor if best == max(adam) else best / factor
        adam[new] = run(new)
    return dict(sorted(adam.items()))


def seconds_to(rows, target: float):
    """First seconds at which a row's loss is <= target (None if never)."""
    return next((sec for _, sec, loss in rows if loss <= target), None)


def evaluations_to(rows, target: float):
    """Evaluations of the first row whose loss is <= target (None if never)."""
    return next((ev for ev, _, loss in rows if loss <= target), None)


def modelled_seconds(evaluations, per_eval: float, one_off: float):
    """one_off + evaluations x per_eval seconds (None when the target was never reached)."""
    return None if evaluations is None else one_off + evaluations * per_eval


def loss_at(rows, evaluations: int) -> float:
    """Loss of the last row with at most ``evaluations`` evaluations."""
    return [loss for ev, _, loss in rows if ev <= evaluations][-1]


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt(value, digits=3):
    return "n/a" if value is None or value != value else f"{value:.{digits}g}"


def benchmark_size(size: int, rounds: int, steps: int, evaluations: int, target_evals: int, log,
                   xla: bool = True, hf: bool = True, init: str = "content") -> dict:
    objective, start = setup(size, init)
    keys = ("bare", "bare_jit", "kerasopt", "scipy", "tf", "tf_jit", "hf_eval", "hf_hvp")
    timing = {key: [] for key in keys if (xla or not key.endswith("_jit")) and (hf or not key.startswith("hf_"))}
    one_off = {key: [] for key in ("kerasopt", "scipy", "tf")}

    def timed(key, costs):
        timing[key].append(costs[0])
        one_off[key].append(costs[1])

    for r in range(rounds):
        timing["bare"].append(bare_step_seconds(objective, start, steps))
        timed("kerasopt", kerasopt_step_seconds(objective, start, steps))
        timed("scipy", driver_costs(*driver_run(LBFGS(max_evaluations=evaluations, bounds=BOUNDS), objective, start)))
        timed("tf", driver_costs(*driver_run(TFLBFGS(max_evaluations=evaluations, bounds=BOUNDS), objective, start)))
        if xla:
            timing["bare_jit"].append(bare_step_seconds(objective, start, steps, jit=True))
            timing["tf_jit"].append(per_evaluation(*driver_run(
                TFLBFGS(max_evaluations=evaluations, bounds=BOUNDS, jit_compile=True), objective, start)))
        if hf:
            hf_eval, hf_hvp = hf_costs(objective, start, max(2, steps // 4))
            timing["hf_eval"].append(hf_eval)
            timing["hf_hvp"].append(hf_hvp)
        log(f"{size}px round {r + 1}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in timing.items())
            + " | one-off " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in one_off.items()))
    out = {key: median(timing[key]) if key in timing else None for key in keys}
    out["one_off"] = {key: median(values) for key, values in one_off.items()}
    # (d) time to target: the loss the best of Adam at lr 3, 10, 30 has after target_evals steps (a target set by
    # the first-order method, not by one L-BFGS driver's stall); every other run stops once it reaches it.
    adam = bracketed_adam(lambda rate: adam_rows(objective, start, rate, target_evals))
    best_rate = best_adam_rate(adam)
    target = adam[best_rate][-1][2]
    _, scipy_rows = driver_run(LBFGS(max_evaluations=3 * target_evals, bounds=BOUNDS), objective, start, target)
    _, tf_rows = driver_run(TFLBFGS(max_evaluations=3 * target_evals, bounds=BOUNDS), objective, start, target)
    hf_run = driver_run(HessianFree(max_evaluations=6 * target_evals, bounds=BOUNDS, max_cg_iterations=10,
                                    initial_damping=0.1), objective, start, target) if hf else None
    hf_rows = hf_run[1] if hf else []
    # (rows, seconds per evaluation, one-off seconds) per method; Hessian-free's evaluations already charge
    # each Hv product at its hvp_cost, so its seconds per evaluation is that of a gradient evaluation.
    methods = {f"best Adam (lr {best_rate:g})": (adam[best_rate], out["kerasopt"], out["one_off"]["kerasopt"]),
               "scipy L-BFGS-B": (scipy_rows, out["scipy"], out["one_off"]["scipy"]),
               "on-device L-BFGS-B": (tf_rows, out["tf"], out["one_off"]["tf"]),
               "Hessian-free": (hf_rows, out["hf_eval"] or float("nan"), hf_run[0].trace_seconds if hf else 0.0)}
    out.update(target=target, to_target={
        name: {"evaluations": evaluations_to(rows, target), "wall": seconds_to(rows, target),
               "modelled": modelled_seconds(evaluations_to(rows, target), per_eval, fixed)}
        for name, (rows, per_eval, fixed) in methods.items()},
        adam_by_rate={rate: rows[-1][2] for rate, rows in adam.items()},
        hf_final=hf_rows[-1][2] if hf_rows else None)
    log(f"{size}px target {target:.4g}: {out['to_target']} adam final losses {out['adam_by_rate']}")
    return out


def two_percent_check(size: int, evaluations: int, noise_seeds: int, log) -> list[dict]:
    """Final losses of scipy and on-device L-BFGS-B after ``evaluations``: content init, noise seeds 0..noise_seeds-1."""
    rows = []
    for init, seed in [("content", 0)] + [("noise", seed) for seed in range(noise_seeds)]:
        objective, start = setup(size, init, seed)
        _, scipy_rows = driver_run(LBFGS(max_evaluations=evaluations, bounds=BOUNDS), objective, start)
        _, tf_rows = driver_run(TFLBFGS(max_evaluations=evaluations, bounds=BOUNDS), objective, start)
        a, b = loss_at(scipy_rows, evaluations), loss_at(tf_rows, evaluations)
        label = init if init == "content" else f"noise seed {seed}"
        rows.append({"size": size, "init": label, "scipy": a, "tf": b, "ratio": b / a})
        log(f"2% check {size}px {label}: scipy {a:.4g}, TF {b:.4g}, ratio {b / a:.4f}")
    return rows


def xla_cells(r: dict) -> str:
    """The two XLA cells of a ratio-table row ("not run" with ``--no-xla``)."""
    if r["bare_jit"] is None:
        return "not run | not run |"
    return (f"{r['bare_jit']:.4f} ({r['bare_jit'] / r['bare']:.2f}) | "
            f"{r['tf_jit']:.4f} ({r['tf_jit'] / r['tf']:.2f}) |")


def markdown(results: dict, checks: list[dict], args) -> str:
    lines = [f"Sizes {args.sizes}, start: {args.init} (seed 0), {args.rounds} interleaved round(s), medians; "
             f"{args.steps} steps / "
             f"{args.evaluations} evaluations per timing run.", "",
             "| px | bare step s | kerasopt step s (ratio) | scipy L-BFGS-B s/eval (ratio) | on-device L-BFGS-B s/eval (ratio) "
             "| HF s/grad eval | HF s/Hv (Hv cost) | bare XLA s (ratio) | on-device L-BFGS-B XLA s/eval (ratio) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, r in results.items():
        bare = r["bare"]
        lines.append(f"| {size} | {bare:.4f} | {r['kerasopt']:.4f} ({r['kerasopt'] / bare:.2f}) | "
                     f"{r['scipy']:.4f} ({r['scipy'] / bare:.2f}) | {r['tf']:.4f} ({r['tf'] / bare:.2f}) | "
                     + (f"{r['hf_eval']:.4f} | {r['hf_hvp']:.4f} ({r['hf_hvp'] / r['hf_eval']:.2f}) | "
                        if r["hf_eval"] is not None else "not run | not run | ")
                     + xla_cells(r))
    lines += ["", f"Time to reach the loss the best of Adam at lr {', '.join(map(str, ADAM_RATES))} (extended 3x past "
                  f"an edge the best lands on, up to {ADAM_EXTENSIONS} times) has after "
                  f"{args.target_evals} steps, per method: evaluations / modelled seconds (one-off + evaluations x "
                  "seconds per evaluation, from the interleaved rounds above) / raw wall seconds of the target run "
                  "(n/a: not reached within 3x (L-BFGS) or 6x (Hessian-free) the evaluations):", "",
              "| px | target | best Adam | scipy L-BFGS-B | on-device L-BFGS-B | Hessian-free | one-off s: Adam / "
              "scipy / on-device |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for size, r in results.items():
        cells = []
        for name, reached in r["to_target"].items():
            cell = f"{reached['evaluations'] if reached['evaluations'] is not None else 'n/a'} / {fmt(reached['modelled'])} / {fmt(reached['wall'])}"
            cells.append(f"{cell} (lr {name.split('lr ')[1].rstrip(')')})" if name.startswith("best Adam") else cell)
        fixed = " / ".join(f"{r['one_off'][key]:.2f}" for key in ("kerasopt", "scipy", "tf"))
        lines.append(f"| {size} | {r['target']:.4g} | " + " | ".join(cells) + f" | {fixed} |")
    if checks:
        lines += ["", f"2% check: loss after {args.evaluations_check} evaluations (ratio TF / scipy):", "",
                  "| px | init | scipy L-BFGS-B | on-device L-BFGS-B | ratio |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {c['size']} | {c['init']} | {c['scipy']:.4g} | {c['tf']:.4g} | {c['ratio']:.4f} |" for c in checks]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per first-order timing run")
    parser.add_argument("--evaluations", type=int, default=20, help="evaluations per L-BFGS timing run")
    parser.add_argument("--target-evals", type=int, default=60)
    parser.add_argument("--init", choices=("content", "noise"), default="content",
                        help="start image of the ratio and time-to-target runs (the published study: noise)")
    parser.add_argument("--evaluations-check", type=int, default=60)
    parser.add_argument("--check-sizes", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--check-seeds", type=int, default=1, help="noise seeds of the 2%% check")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=True,
                        help="also time jit_compile=True (compiling takes seconds per size)")
    parser.add_argument("--hf", action=argparse.BooleanOptionalAction, default=True,
                        help="also time Hessian-free (its seconds-to-target run uses 6x the evaluations)")
    parser.add_argument("--out", default=None, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log = lambda line: print(f"[{time.perf_counter() - started:7.1f} s] {line}", flush=True)  # noqa: E731
    results = {size: benchmark_size(size, args.rounds, args.steps, args.evaluations, args.target_evals, log,
                                    args.xla, args.hf, args.init) for size in args.sizes}
    checks = [row for size in args.check_sizes
              for row in two_percent_check(size, args.evaluations_check, args.check_seeds, log)]
    publish(markdown(results, checks, args), started, args.out)
    return 0


def publish(table: str, started: float, out: str | None) -> None:
    """Print the markdown ``table`` and the total seconds since ``started``; append it to ``out`` if given."""
    print(table)
    print(f"total {time.perf_counter() - started:.0f} s")
    if out:
        with open(out, "a") as handle:
            handle.write(table)


if __name__ == "__main__":
    raise SystemExit(main())
